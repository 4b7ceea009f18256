import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type ClockReading, createSessionClock } from '../../../daemon/clock/session-clock.ts';
import type { Timeline } from '../../../daemon/clock/timeline.ts';
import {
  createTimelineReader,
  decodeTimeline,
  encodeTimeline,
  TIMELINE_PATH,
  timelineParam,
} from '../../../daemon/clock/timeline-register.ts';
import {
  reassertedTimeline,
  retimes,
  startTimelineWriter,
  TIMELINE_SOURCE,
} from '../../../daemon/clock/timeline-writer.ts';
import { DEFAULT_PARAMS, ParamMap } from '../../../daemon/config/params-schema.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { type Change, createStore } from '../../../daemon/state/store.ts';
import type { OffsetEstimate } from '../../../daemon/sync/clock.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { arbTempo, T0 } from './arbitraries.ts';

// The timeline writer against the real store, registry and HLC: which /tempo changes retime,
// that the beat stays continuous through a retime whoever led before, and that it never loops.

const SELF = 'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGG5DR-NRQW4ZK-PFSGE3T-MFWGYZI';
const PEER = 'PQRSTUV-BONSGYC-YLTMRWG-C43ENR5-QXGG5DR-NRQW4ZK-PFSGE3T-MFWGYZI';
const est = (offsetMs: number): OffsetEstimate => ({ offsetMs, errorMs: 0.1, samples: 8 });

function setup(opts: { params?: ParamMap; skew?: number } = {}) {
  let real = T0;
  const wall = () => real + (opts.skew ?? 0);
  const registry = createRegistry(opts.params ?? DEFAULT_PARAMS, { [TIMELINE_PATH]: timelineParam });
  const store = createStore({ registry: registry.stored, hlc: createHlc({ node: SELF, now: wall }) });
  const batches: (readonly Change[])[] = [];
  store.subscribe((c) => batches.push(c));
  const clock = createSessionClock({
    selfId: () => SELF,
    now: wall,
    timeline: createTimelineReader(store),
    tempo: () => 120,
  });
  const { log, lines } = captureLogger();
  const writer = startTimelineWriter({ store, clock: () => clock.read(), log, now: () => real });
  const timeline = (): Timeline | undefined => {
    const d = decodeTimeline(store.get(TIMELINE_PATH)!.value);
    return d.ok ? d.timeline : undefined;
  };
  const beat = () => {
    const r = clock.read();
    return r.beat;
  };
  return {
    store,
    clock,
    writer,
    lines,
    batches,
    timeline,
    beat,
    advance: (ms: number) => {
      real += ms;
    },
    /** A timeline written by PEER, arriving over sync. */
    fromPeer: (tl: Timeline, t = real) =>
      store.merge(TIMELINE_PATH, {
        value: encodeTimeline(tl),
        stamp: { t, c: 0, node: PEER },
        source: `peer:${PEER}`,
      }),
  };
}

describe('startTimelineWriter', () => {
  it('starts the beat at 0 on the first local tempo, stamped, as its own source and origin', () => {
    const s = setup({ skew: 3 });
    assert.equal(s.beat(), null);
    s.store.apply([{ path: '/tempo', value: 128 }], 'cli');
    assert.deepEqual(s.timeline(), { tempo: 128, beatOrigin: 0, timeOrigin: T0 + 3 });
    const e = s.store.get(TIMELINE_PATH)!;
    assert.equal(e.source, TIMELINE_SOURCE);
    assert.equal(e.stamp.node, SELF);
    assert.equal(s.clock.read().leader, SELF);
    s.advance(1500);
    assert.equal(s.beat(), 3.2);
  });

  it('keeps the beat continuous through local tempo changes at random times', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: 0, max: 120_000, noNaN: true }), arbTempo), { maxLength: 20 }),
        (steps) => {
          const s = setup();
          s.store.apply([{ path: '/tempo', value: 120 }], 'cli');
          for (const [gap, bpm] of steps) {
            s.advance(gap);
            const before = s.beat()!;
            s.store.apply([{ path: '/tempo', value: bpm }], 'osc:udp:127.0.0.1:9000');
            assert.ok(Math.abs(s.beat()! - before) <= 1e-9, `beat ${before} became ${s.beat()}`);
            assert.equal(s.timeline()!.tempo, bpm);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it("anchors in its own clock when it takes over from a peer's timeline, so nobody's beat jumps", () => {
    // Our wall clock is 400 ms behind the peer's; we follow it with that offset.
    const s = setup({ skew: -400 });
    s.clock.setPeer(PEER, est(400));
    assert.ok(s.fromPeer({ tempo: 120, beatOrigin: 16, timeOrigin: T0 }));
    s.advance(2000);
    const before = s.clock.read();
    assert.equal(before.leader, PEER);
    assert.equal(before.beat, 20);
    s.store.apply([{ path: '/tempo', value: 90 }], 'midi:nanoKONTROL2');
    const after = s.clock.read();
    assert.equal(after.leader, SELF);
    assert.equal(after.basis, 'self');
    assert.ok(Math.abs(after.beat! - 20) < 1e-9, `beat jumped to ${after.beat}`);
    // The peer, whose wall clock reads 400 ms more than ours, now follows us with the
    // opposite offset and reads the same beat at the same instant.
    const peer = createSessionClock({
      selfId: () => PEER,
      now: () => after.timeMs - after.offsetMs + 400,
      timeline: createTimelineReader(s.store),
      tempo: () => 120,
    });
    peer.setPeer(SELF, est(-400));
    assert.equal(peer.read().leader, SELF);
    assert.ok(Math.abs(peer.read().beat! - 20) < 1e-9);
    assert.equal(s.timeline()!.timeOrigin, T0 + 2000 - 400, "anchored at our wall clock's now");
  });

  it('does not retime for a peer, a correction or its own write; never loops', () => {
    const s = setup();
    s.store.apply([{ path: '/tempo', value: 100 }], 'cli');
    const first = s.store.get(TIMELINE_PATH)!;
    s.store.merge('/tempo', { value: 150, stamp: { t: T0 + 1, c: 0, node: PEER }, source: `peer:${PEER}` });
    s.advance(1000);
    s.store.apply([{ path: '/tempo', value: 170 }], 'sync:correction');
    assert.equal(s.store.get(TIMELINE_PATH), first, 'the timeline is untouched');
    assert.equal(s.writer.stats().written, 1);
    const timelineWrites = s.batches.flat().filter((c) => c.path === TIMELINE_PATH);
    assert.equal(timelineWrites.length, 1, 'one write, no echo of our own');
  });

  it('sorts sources: local inputs retime; peers, corrections and itself do not', () => {
    for (const src of [
      'cli',
      'osc:udp:10.0.0.2:9000',
      'osc:tcp:127.0.0.1:5001',
      'midi:X',
      'scene:intro',
      'plugin:p',
    ]) {
      assert.equal(retimes(src), true, src);
    }
    for (const src of [`peer:${PEER}`, 'peer:', 'sync:correction', TIMELINE_SOURCE]) {
      assert.equal(retimes(src), false, src);
    }
  });

  it('leaves the timeline alone when the tempo is the one it already has', () => {
    const s = setup();
    s.store.apply([{ path: '/tempo', value: 120 }], 'cli');
    const first = s.store.get(TIMELINE_PATH)!;
    s.advance(500);
    s.store.apply([{ path: '/tempo', value: 120 }], 'cli');
    assert.equal(s.store.get(TIMELINE_PATH), first);
    assert.deepEqual(s.writer.stats(), { written: 1, unchanged: 1, refused: 0 });
  });

  it('takes the last local /tempo of a batch (a scene)', () => {
    const s = setup();
    s.store.apply(
      [
        { path: '/tempo', value: 80 },
        { path: '/tempo', value: 133 },
      ],
      'scene:drop',
    );
    assert.equal(s.timeline()!.tempo, 133);
    assert.equal(s.writer.stats().written, 1);
  });

  it('refuses a /tempo no timeline can hold (a config declaring it wider), logged, counted, spaced', () => {
    const params = ParamMap.parse({ '/tempo': { type: 'float', min: 1, max: 5000 } });
    const s = setup({ params });
    s.store.apply([{ path: '/tempo', value: 128 }], 'cli');
    const kept = s.timeline();
    s.store.apply([{ path: '/tempo', value: 4000 }], 'midi:X');
    s.store.apply([{ path: '/tempo', value: 5 }], 'midi:X');
    assert.deepEqual(s.timeline(), kept, 'the beat keeps its tempo');
    assert.deepEqual(s.writer.stats(), { written: 1, unchanged: 0, refused: 2 });
    const warned = s.lines.filter((l) => l.event === 'timeline.tempo-refused');
    assert.equal(warned.length, 1, 'the second within 10 s is not logged again');
    assert.equal(
      warned[0]!.msg,
      '/tempo 4000 cannot drive the shared beat, which runs at 20–999 bpm; the beat keeps its tempo',
    );
    s.advance(10_000);
    s.store.apply([{ path: '/tempo', value: 3 }], 'midi:X');
    const again = s.lines.filter((l) => l.event === 'timeline.tempo-refused');
    assert.equal(again.length, 2);
    assert.equal(again[1]!.suppressed, 1);
  });

  it('stops on close', () => {
    const s = setup();
    s.writer.close();
    s.store.apply([{ path: '/tempo', value: 128 }], 'cli');
    assert.equal(s.timeline(), undefined);
  });

  it('refuses to start on a store built without the timeline (registry instead of registry.stored)', () => {
    const registry = createRegistry(DEFAULT_PARAMS, { [TIMELINE_PATH]: timelineParam });
    const store = createStore({ registry, hlc: createHlc({ node: SELF }) });
    assert.throws(
      () =>
        startTimelineWriter({
          store,
          clock: () => ({}) as ClockReading,
          log: captureLogger().log,
        }),
      /does not hold \/hana\/timeline; create it with registry.stored/,
    );
  });
});

describe('reassertedTimeline', () => {
  it("re-expresses the peer's timeline in our clock: writing it leaves the beat where it was", () => {
    const s = setup({ skew: 250 });
    s.clock.setPeer(PEER, est(-250));
    s.fromPeer({ tempo: 100, beatOrigin: 4, timeOrigin: T0 });
    s.advance(6000);
    const before = s.clock.read();
    assert.equal(before.beat, 14);
    const value = reassertedTimeline(before)!;
    s.store.apply([{ path: TIMELINE_PATH, value }], 'sync:correction');
    const after = s.clock.read();
    assert.equal(after.leader, SELF);
    assert.ok(Math.abs(after.beat! - 14) < 1e-9);
  });

  it('is undefined while there is no timeline', () => {
    assert.equal(reassertedTimeline(setup().clock.read()), undefined);
  });
});
