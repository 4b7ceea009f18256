import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_POINTS, MAX_TRIES, median, startMeasurement } from '../../../protocols/link/measure.ts';
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
import { createFakeClock } from '../../helpers/fake-timers.ts';
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
    // Proposed again at once: still past the previous origin, by at least one beat.
    const again = proposeTempo(next, 90, now);
    assert.ok(again.beatOrigin >= next.beatOrigin + 1_000_000);
    assert.ok(Math.abs(beatsAt(again, now) - beatsAt(tl, now)) < 1e-5);
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
  /**
   * Measures a fake peer whose ghost clock is `offset` µs from ours: it answers each ping
   * 500 µs each way, and its pong is read `lateMs(i)` later still (0 for a quiet laptop).
   */
  async function measurePeer(offset: number, lateMs: (i: number) => number) {
    const clock = createFakeClock(0);
    let result: number | null | undefined;
    const sent: Uint8Array[] = [];
    const m = startMeasurement({
      target: { address: '10.0.0.2', port: 9 },
      sessionId: 'aaaaaaaaaaaaaaaa',
      now: () => clock.now() * 1000,
      timers: clock.timers,
      send: (b) => sent.push(b),
      done: (r) => {
        result = r;
      },
    });
    for (let i = 0; result === undefined && i < 500; i++) {
      const ping = decodeMeasurement(sent.at(-1)!);
      assert.ok(ping.ok && ping.value.type === 'ping');
      await clock.advance(0.5);
      const gt = clock.now() * 1000 + offset;
      await clock.advance(0.5 + lateMs(i));
      m.onPong({
        sessionId: 'aaaaaaaaaaaaaaaa',
        ghostTime: gt,
        hostTime: ping.value.hostTime,
        prevGhostTime: ping.value.prevGhostTime,
      });
    }
    return { result, pings: sent.length, pending: clock.pending() };
  }

  it('takes the median offset of more than MAX_POINTS estimates from an answering peer', async () => {
    const offset = 1_234_567;
    const { result, pings, pending } = await measurePeer(offset, () => 0);
    assert.equal(result, offset);
    assert.ok(pings > MAX_POINTS / 2 && pings <= MAX_POINTS);
    assert.equal(pending, 0);
  });

  it('takes the fastest round trips: pongs read late by a busy event loop do not bias the offset', async () => {
    const offset = -987_654;
    // Three pongs in five are read 2-12 ms late (a seeded, varying delay), as on a laptop whose
    // event loop is busy rendering.
    const rand = prng(7);
    const { result } = await measurePeer(offset, (i) => (i % 5 < 3 ? 2 + 10 * rand() : 0));
    assert.ok(result !== undefined && result !== null);
    assert.ok(Math.abs(result - offset) <= 50, `off by ${result - offset} µs`);
  });

  it('fails after MAX_TRIES unanswered pings, or on a pong for another session', async () => {
    const clock = createFakeClock(0);
    let result: number | null | undefined;
    let pings = 0;
    startMeasurement({
      target: { address: '10.0.0.2', port: 9 },
      sessionId: 'aaaaaaaaaaaaaaaa',
      now: () => clock.now() * 1000,
      timers: clock.timers,
      send: () => pings++,
      done: (r) => {
        result = r;
      },
    });
    await clock.advance(1000);
    assert.equal(result, null);
    assert.equal(pings, 1 + MAX_TRIES);
    let other: number | null | undefined;
    const m = startMeasurement({
      target: { address: '10.0.0.2', port: 9 },
      sessionId: 'aaaaaaaaaaaaaaaa',
      now: () => clock.now() * 1000,
      timers: clock.timers,
      send: () => {},
      done: (r) => {
        other = r;
      },
    });
    m.onPong({ sessionId: 'bbbbbbbbbbbbbbbb', ghostTime: 1, hostTime: 1, prevGhostTime: null });
    assert.equal(other, null);
    assert.equal(clock.pending(), 0);
    assert.equal(median([3, 1, 2, 10]), 2.5);
  });
});
