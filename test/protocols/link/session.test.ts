import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_POINTS, MAX_TRIES, type Measured, startMeasurement } from '../../../protocols/link/measure.ts';
import {
  beatsAt,
  ghostAt,
  makeTimeline,
  phaseOf,
  proposeStartStop,
  proposeTempo,
  SESSION_EPSILON_US,
  shouldJoin,
  supersedes,
} from '../../../protocols/link/session.ts';
import { decodeMeasurement } from '../../../protocols/link/v1/measurement.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-timers.ts';
import { prng } from '../../helpers/prng.ts';

// Link's session rules and its measurement, on a fake clock.

describe('Link session rules', () => {
  it('a proposed tempo keeps the beat continuous and moves the beat origin past the current one', () => {
    const tl = makeTimeline(120, 3_000_000, 1_000_000);
    const now = 7_654_321;
    const next = proposeTempo(tl, 133, now);
    assert.equal(next.microsPerBeat, Math.round(60e6 / 133));
    assert.ok(Math.abs(beatsAt(next, now) - beatsAt(tl, now)) < 1e-5, 'the beat jumped');
    assert.ok(supersedes(next, tl), 'other peers would ignore it');
    // Proposed again at once: still past the previous origin.
    const again = proposeTempo(next, 90, now);
    assert.ok(supersedes(again, next));
    assert.ok(Math.abs(beatsAt(again, now) - beatsAt(tl, now)) < 1e-5);
  });

  it('two peers proposing a millisecond apart, within a beat of a change, get different origins: the later wins on both', () => {
    // The timeline changed at ghost time 10 s; laptop A proposes 1 ms later, laptop B 2 ms later
    // (B set the tempo, A saw it through hana's sync). With origins a whole beat past the
    // current one both proposals were equal, neither superseded the other, and the session kept
    // two timelines.
    const changed = makeTimeline(111, 57_000_000, 10_000_000);
    const a = proposeTempo(changed, 111, 10_001_000);
    const b = proposeTempo(changed, 111, 10_002_000);
    assert.notEqual(a.beatOrigin, b.beatOrigin);
    assert.ok(supersedes(b, a) && !supersedes(a, b), 'the later proposal wins wherever both arrive');
    assert.ok(supersedes(a, changed) && supersedes(b, changed));
    // Either keeps the beat where it was when proposed, as Link's updateSessionTimelineFromClient does.
    assert.ok(Math.abs(beatsAt(a, 10_001_000) - beatsAt(changed, 10_001_000)) < 1e-5);
    assert.ok(Math.abs(beatsAt(b, 10_002_000) - beatsAt(changed, 10_002_000)) < 1e-5);
  });

  it('ghostAt inverts beatsAt', () => {
    const tl = makeTimeline(97.5, -2_500_000, 123_456);
    for (const b of [-3, 0, 1.25, 1000]) assert.ok(Math.abs(beatsAt(tl, ghostAt(tl, b)) - b) < 1e-5);
  });

  it('joins the session whose ghost clock is ahead, or the smaller id when they are close', () => {
    const me = { sessionId: '5555555555555555', intercept: 0 };
    assert.ok(shouldJoin(0, me, { sessionId: 'ffffffffffffffff', intercept: SESSION_EPSILON_US + 1 }));
    assert.ok(!shouldJoin(0, me, { sessionId: '0000000000000000', intercept: -SESSION_EPSILON_US - 1 }));
    assert.ok(shouldJoin(0, me, { sessionId: '0000000000000001', intercept: 1000 }));
    assert.ok(!shouldJoin(0, me, { sessionId: 'ffffffffffffffff', intercept: 1000 }));
  });

  it('start/stop is stamped with the beat and time of the change', () => {
    const tl = makeTimeline(120, 0, 0);
    assert.deepEqual(proposeStartStop(tl, true, 1_000_000), {
      playing: true,
      beats: 2_000_000,
      timestamp: 1_000_000,
    });
    assert.equal(phaseOf(-0.5, 4), 3.5);
  });
});

describe('Link measurement', () => {
  const SESSION = 'aaaaaaaaaaaaaaaa';
  /** A measurement of one peer for SESSION on `clock` (µs from its ms), with what it sent and how it ended. */
  function measuring(clock: FakeClock) {
    const sent: Uint8Array[] = [];
    let result: Measured | null | undefined;
    const m = startMeasurement({
      target: { address: '10.0.0.2', port: 9 },
      sessionId: SESSION,
      now: () => clock.now() * 1000,
      timers: clock.timers,
      send: (b) => sent.push(b),
      done: (r) => {
        result = r;
      },
    });
    return {
      m,
      sent,
      get result() {
        return result;
      },
    };
  }

  /**
   * Measures a fake peer whose ghost clock is `offset` µs from ours: it answers each ping
   * `legs(i).out` ms after we send it (500 µs by default), and its pong is read `legs(i).back`
   * ms later (500 µs plus however late a busy laptop reads it).
   */
  async function measurePeer(offset: number, legs: (i: number) => { out?: number; back?: number }) {
    const clock = createFakeClock(0);
    const run = measuring(clock);
    for (let i = 0; run.result === undefined && i < 500; i++) {
      const ping = decodeMeasurement(run.sent.at(-1)!);
      assert.ok(ping.ok && ping.value.type === 'ping');
      const { out = 0.5, back = 0.5 } = legs(i);
      await clock.advance(out);
      const gt = clock.now() * 1000 + offset;
      await clock.advance(back);
      run.m.onPong({
        sessionId: SESSION,
        ghostTime: gt,
        hostTime: ping.value.hostTime,
        prevGhostTime: ping.value.prevGhostTime,
      });
    }
    return {
      result: run.result,
      pings: run.sent.length,
      pending: clock.pending(),
      spanUs: clock.now() * 1000,
    };
  }

  it('ends after more than MAX_POINTS estimates from an answering peer, with the offset and its bound', async () => {
    const offset = 1_234_567;
    const { result, pings, pending } = await measurePeer(offset, () => ({}));
    assert.ok(result);
    assert.equal(result.intercept, offset);
    // 500 µs each way: every estimate is ±500 µs, plus Link's whole-µs rounding.
    assert.ok(result.errorUs >= 500 && result.errorUs <= 503, String(result.errorUs));
    assert.ok(pings > MAX_POINTS / 2 && pings <= MAX_POINTS);
    assert.equal(pending, 0);
  });

  it('pongs read late by a busy event loop widen their own estimates, not the answer', async () => {
    const offset = -987_654;
    // Three pongs in five are read 2-12 ms late (a seeded, varying delay), as on a laptop whose
    // event loop is busy rendering.
    const rand = prng(7);
    const { result } = await measurePeer(offset, (i) => ({ back: 0.5 + (i % 5 < 3 ? 2 + 10 * rand() : 0) }));
    assert.ok(result);
    assert.ok(Math.abs(result.intercept - offset) <= 50, `off by ${result.intercept - offset} µs`);
    assert.ok(Math.abs(result.intercept - offset) <= result.errorUs);
  });

  it('for lopsided, varying paths the intercept is always within the bound it states, and the bound within the quickest round trip (and drift since)', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = prng(seed);
      const offset = Math.round((rand() - 0.5) * 2e9);
      // Each leg 0.02-0.5 ms, one in three held up 1-8 ms one way, and every pong read late on
      // a loaded laptop in half the runs.
      const loaded = seed % 2 === 0;
      let quickest = Number.POSITIVE_INFINITY;
      const { result, spanUs } = await measurePeer(offset, () => {
        const held = rand() < 1 / 3 ? 1 + 7 * rand() : 0;
        const outbound = rand() < 0.5;
        const out = 0.02 + 0.48 * rand() + (outbound ? held : 0);
        const back = 0.02 + 0.48 * rand() + (outbound ? 0 : held) + (loaded ? 0.5 + rand() : 0);
        quickest = Math.min(quickest, (out + back) * 1000);
        return { out, back };
      });
      assert.ok(result, `seed ${seed}`);
      assert.ok(
        Math.abs(result.intercept - offset) <= result.errorUs + 0.5,
        `seed ${seed}: off by ${result.intercept - offset} µs, bound ${result.errorUs}`,
      );
      // The quickest exchange's own bound, widened by the drift allowed since it was taken.
      const allowed = quickest / 2 + 3 + spanUs * 100e-6;
      assert.ok(result.errorUs <= allowed, `seed ${seed}: bound ${result.errorUs}, allowed ${allowed}`);
    }
  });

  it('a peer whose pongs measure nothing (host times echoed from the future, ghost times going back) ends the measurement with null, never a NaN intercept', async () => {
    // Link peers are not authenticated and define their session's ghost time, so a lying peer
    // can always choose what we measure; what it must not do is break the arithmetic or keep
    // us pinging.
    const clock = createFakeClock(0);
    const run = measuring(clock);
    let ghost = 5e9;
    for (let i = 0; run.result === undefined && i < 500; i++) {
      await clock.advance(1);
      ghost -= 1000;
      run.m.onPong({
        sessionId: SESSION,
        ghostTime: ghost,
        hostTime: clock.now() * 1000 + 1e9,
        prevGhostTime: ghost + 7,
      });
    }
    assert.equal(run.result, null, 'nothing measured: a failed measurement');
    assert.ok(run.sent.length <= MAX_POINTS + 2, `${run.sent.length} pings for a peer answering nonsense`);
    assert.equal(clock.pending(), 0);
  });

  it('fails after MAX_TRIES unanswered pings, or on a pong for another session', async () => {
    const clock = createFakeClock(0);
    const silent = measuring(clock);
    await clock.advance(1000);
    assert.equal(silent.result, null);
    assert.equal(silent.sent.length, 1 + MAX_TRIES);
    const other = measuring(clock);
    other.m.onPong({ sessionId: 'bbbbbbbbbbbbbbbb', ghostTime: 1, hostTime: 1, prevGhostTime: null });
    assert.equal(other.result, null);
    assert.equal(clock.pending(), 0);
  });
});
