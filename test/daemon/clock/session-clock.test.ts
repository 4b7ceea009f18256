import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type ClockReading, createSessionClock } from '../../../daemon/clock/session-clock.ts';
import type { Timeline } from '../../../daemon/clock/timeline.ts';
import {
  createTimelineReader,
  TIMELINE_PATH,
  type TimelineEntry,
  timelineParam,
} from '../../../daemon/clock/timeline-register.ts';
import { startTimelineWriter } from '../../../daemon/clock/timeline-writer.ts';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { DRIFT_PPM, type OffsetEstimate } from '../../../daemon/sync/clock.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { T0 } from './arbitraries.ts';

// The session clock with injected wall clocks and offset estimates: who leads, how a follower
// reads the leader's time, what it says when it cannot, and the attacks on the old rules (the
// smallest device ID led; the beat took a write's stamp as its origin).

// Device IDs as hana prints them; SMALL sorts before every other.
const SMALL = 'AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA';
const SELF = 'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGG5DR-NRQW4ZK-PFSGE3T-MFWGYZI';
const PERFORMER = 'PQRSTUV-BONSGYC-YLTMRWG-C43ENR5-QXGG5DR-NRQW4ZK-PFSGE3T-MFWGYZI';
const OLD_SELF = 'ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ';

const est = (offsetMs: number, errorMs = 0.2, samples = 8): OffsetEstimate => ({
  offsetMs,
  errorMs,
  samples,
});

/** One laptop: its wall clock runs `skew` ms ahead of real time, which the test moves. */
function laptop(opts: { skew?: number; tempo?: number; timeline?: TimelineEntry } = {}) {
  let real = T0;
  let entry = opts.timeline;
  const clock = createSessionClock({
    selfId: () => SELF,
    ownIds: () => [SELF, OLD_SELF],
    now: () => real + (opts.skew ?? 0),
    timeline: () => entry,
    tempo: () => opts.tempo ?? 120,
  });
  return {
    clock,
    advance: (ms: number) => {
      real += ms;
    },
    setTimeline: (e: TimelineEntry | undefined) => {
      entry = e;
    },
  };
}

function withBeat(r: ClockReading): Extract<ClockReading, { timeline: Timeline }> {
  if (r.timeline === null) assert.fail('expected a timeline in the reading');
  return r;
}

const TL: Timeline = { tempo: 120, beatOrigin: 0, timeOrigin: T0 };

describe('no timeline yet', () => {
  it('says so: no beat, no phase, no leader, tempo from /tempo, own clock', () => {
    const l = laptop({ tempo: 97 });
    l.clock.setPeer(SMALL, est(500));
    assert.deepEqual(l.clock.read(), {
      timeMs: T0,
      offsetMs: 0,
      basis: 'own-clock',
      errorMs: null,
      estimateAgeMs: null,
      tempo: 97,
      timeline: null,
      leader: null,
      leaderLinked: false,
      beat: null,
      phase: null,
    });
  });

  it('shows 120 bpm when /tempo holds nothing usable', () => {
    for (const bad of [Number.NaN, 0, -5, Number.POSITIVE_INFINITY]) {
      assert.equal(laptop({ tempo: bad }).clock.read().tempo, 120);
    }
  });
});

describe('the leader is the timeline origin', () => {
  it('follows the origin of the timeline, not the smallest linked device ID', () => {
    const l = laptop({ timeline: { timeline: TL, origin: PERFORMER } });
    l.clock.setPeer(SMALL, est(-9000));
    l.clock.setPeer(PERFORMER, est(250, 0.3));
    const r = withBeat(l.clock.read());
    assert.equal(r.leader, PERFORMER);
    assert.equal(r.basis, 'leader');
    assert.equal(r.leaderLinked, true);
    assert.equal(r.offsetMs, 250);
    assert.equal(r.timeMs, T0 + 250);
    assert.equal(r.beat, 0.5);
    assert.equal(r.phase, 0.5);
    assert.equal(r.errorMs, 0.3);
  });

  it('an observer that ground a tiny device ID never leads, linked or not', () => {
    // The observer's writes never become the timeline (the sync layer refuses them), so the
    // only thing it controls here is its ID and its clock estimate: neither counts.
    const l = laptop({ timeline: { timeline: TL, origin: PERFORMER } });
    l.clock.setPeer(SMALL, est(3_600_000));
    assert.equal(l.clock.read().leader, PERFORMER);
    l.clock.setPeer(PERFORMER, est(10));
    l.clock.removePeer(PERFORMER);
    l.clock.setPeer(SMALL, est(-3_600_000));
    const r = withBeat(l.clock.read());
    assert.equal(r.leader, PERFORMER);
    assert.equal(r.offsetMs, 10, "the observer's clock is never used");
  });

  it('leads itself when it wrote the timeline, under its current or an earlier device ID', () => {
    for (const origin of [SELF, OLD_SELF]) {
      const l = laptop({ skew: 40, timeline: { timeline: TL, origin } });
      l.clock.setPeer(SMALL, est(1));
      const r = withBeat(l.clock.read());
      assert.equal(r.basis, 'self');
      assert.equal(r.errorMs, 0);
      assert.equal(r.leaderLinked, true);
      assert.equal(r.timeMs, T0 + 40);
    }
  });

  it('ignores an estimate of fewer than MIN_SAMPLES exchanges, or one that is not a number', () => {
    const l = laptop({ timeline: { timeline: TL, origin: PERFORMER } });
    l.clock.setPeer(PERFORMER, est(300, 0.1, 3));
    assert.equal(l.clock.read().basis, 'own-clock');
    l.clock.setPeer(PERFORMER, est(Number.NaN));
    assert.equal(l.clock.read().basis, 'own-clock');
    l.clock.setPeer(PERFORMER, est(300, 0.1, 4));
    assert.equal(l.clock.read().basis, 'leader');
  });

  it('gives the same beat on laptops whose wall clocks disagree by seconds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -5000, max: 5000, noNaN: true }), { minLength: 2, maxLength: 6 }),
        fc.double({ min: 0, max: 600_000, noNaN: true }),
        (skews, later) => {
          // The leader's wall clock is real time; each follower's offset to it is exact.
          const beats = skews.map((skew) => {
            const l = laptop({ skew, timeline: { timeline: TL, origin: PERFORMER } });
            l.clock.setPeer(PERFORMER, est(-skew));
            l.advance(later);
            return withBeat(l.clock.read()).beat;
          });
          for (const b of beats) assert.ok(Math.abs(b - beats[0]!) < 1e-6, `${beats}`);
        },
      ),
    );
  });
});

describe('losing the leader', () => {
  it('keeps the last offset so time and beat stay continuous, and says the error grows', () => {
    const l = laptop({ skew: -700, timeline: { timeline: TL, origin: PERFORMER } });
    l.clock.setPeer(PERFORMER, est(700, 0.25));
    l.advance(1000);
    const before = withBeat(l.clock.read());
    l.clock.removePeer(PERFORMER);
    const at = withBeat(l.clock.read());
    assert.equal(at.basis, 'last-offset');
    assert.equal(at.leaderLinked, false);
    assert.equal(at.timeMs, before.timeMs);
    assert.equal(at.beat, before.beat);
    l.advance(60_000);
    const minuteLater = withBeat(l.clock.read());
    assert.equal(minuteLater.timeMs, before.timeMs + 60_000);
    assert.equal(minuteLater.estimateAgeMs, 61_000);
    // 61 s at DRIFT_PPM is 6.1 ms on top of the estimate's own 0.25 ms.
    assert.ok(Math.abs(minuteLater.errorMs! - (0.25 + 61_000 * DRIFT_PPM * 1e-6)) < 1e-9);
    // The link comes back: live estimate again.
    l.clock.setPeer(PERFORMER, est(701, 0.2));
    const back = withBeat(l.clock.read());
    assert.equal(back.basis, 'leader');
    assert.equal(back.errorMs, 0.2);
  });

  it('uses its own clock, error unknown, for a leader it never measured', () => {
    const l = laptop({ skew: 12, timeline: { timeline: TL, origin: PERFORMER } });
    l.clock.setPeer(SMALL, est(5));
    const r = withBeat(l.clock.read());
    assert.equal(r.basis, 'own-clock');
    assert.equal(r.errorMs, null);
    assert.equal(r.timeMs, T0 + 12);
    assert.equal(r.leaderLinked, false);
  });

  it('setPeer(id, undefined) is a removal that keeps the last offset', () => {
    const l = laptop({ timeline: { timeline: TL, origin: PERFORMER } });
    l.clock.setPeer(PERFORMER, est(30));
    l.clock.setPeer(PERFORMER, undefined);
    assert.equal(l.clock.read().basis, 'last-offset');
    assert.equal(l.clock.read().offsetMs, 30);
  });

  it('remembers a bounded number of devices (the oldest is forgotten first)', () => {
    const l = laptop({ timeline: { timeline: TL, origin: 'device-0' } });
    for (let i = 0; i <= 300; i++) {
      l.clock.setPeer(`device-${i}`, est(i));
      l.clock.removePeer(`device-${i}`);
    }
    assert.equal(l.clock.read().basis, 'own-clock', 'device-0 was forgotten');
    l.setTimeline({ timeline: TL, origin: 'device-300' });
    assert.equal(l.clock.read().basis, 'last-offset');
  });
});

describe('a tempo change stamped in the future (the attack that froze the beat)', () => {
  it('leaves the beat continuous and moving on the writer and on a follower', () => {
    // Two real stores. Their clocks accept stamps up to 60 s ahead, as the attacked release did,
    // so the forged future stamp reaches the HLC exactly as it did then.
    let real = T0;
    const wallA = () => real;
    const wallB = () => real + 2500; // B's wall clock runs 2.5 s ahead of A's
    const registry = createRegistry(DEFAULT_PARAMS, { [TIMELINE_PATH]: timelineParam });
    const hlcA = createHlc({ node: SELF, now: wallA, maxDriftMs: 60_000 });
    const storeA = createStore({ registry: registry.stored, hlc: hlcA });
    const storeB = createStore({
      registry: registry.stored,
      hlc: createHlc({ node: PERFORMER, now: wallB, maxDriftMs: 60_000 }),
    });
    const clockA = createSessionClock({
      selfId: () => SELF,
      now: wallA,
      timeline: createTimelineReader(storeA),
      tempo: () => 120,
    });
    const clockB = createSessionClock({
      selfId: () => PERFORMER,
      now: wallB,
      timeline: createTimelineReader(storeB),
      tempo: () => 120,
    });
    clockB.setPeer(SELF, est(-2500));
    const { log } = captureLogger();
    const writer = startTimelineWriter({ store: storeA, clock: () => clockA.read(), log });
    const replicate = () => {
      const e = storeA.get(TIMELINE_PATH)!;
      assert.ok(storeB.merge(TIMELINE_PATH, { ...e, source: `peer:${SELF}` }), 'B took the timeline');
    };

    storeA.apply([{ path: '/tempo', value: 120 }], 'cli');
    replicate();
    real += 10_000;
    assert.equal(withBeat(clockA.read()).beat, 20);

    // An observer's refused write stamped 59.5 s ahead, observed by A's clock.
    assert.ok(hlcA.observe({ t: real + 59_500, c: 0, node: SMALL }));
    storeA.apply([{ path: '/tempo', value: 140 }], 'osc:udp:127.0.0.1:9000');
    replicate();
    assert.equal(writer.stats().written, 2);
    const stamp = storeA.get(TIMELINE_PATH)!.stamp;
    assert.ok(stamp.t >= real + 59_500, 'the timeline entry itself carries the future stamp');

    const a0 = withBeat(clockA.read());
    const b0 = withBeat(clockB.read());
    assert.ok(Math.abs(a0.beat - 20) < 1e-9, `beat jumped to ${a0.beat}`);
    assert.ok(Math.abs(b0.beat - 20) < 1e-6, `follower beat ${b0.beat}`);
    real += 3000;
    // 3 s at 140 bpm is 7 beats, on both laptops, not 0.00 for a minute.
    assert.ok(Math.abs(withBeat(clockA.read()).beat - 27) < 1e-9);
    assert.ok(Math.abs(withBeat(clockB.read()).beat - 27) < 1e-6);
    writer.close();
  });
});
