import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  createEngine,
  DEFAULT_LANES,
  type EncodedFrame,
  type Engine,
} from '../../../plugins/runtime/engine.ts';
import type { FrameOutcome, LoadResult, SandboxInit } from '../../../plugins/sandbox/sandbox.ts';
import * as src from '../../fixtures/plugins/sources.ts';
import { waitFor } from '../../helpers/wait.ts';
import { drawn, fakeLoaded } from './fake-sandbox.ts';
import { manualTimers } from './manual-timers.ts';

// A tick's frame calls run at most `lanes` at a time (engine.ts: six isolates called side by side
// grew the host's native heap for as long as it ran). The loader's plugins answer only when the
// test says so, so what runs when, and beside what, is exact; the clock and timers are manual.

let engines: Engine[] = [];
afterEach(() => {
  for (const e of engines) e.close();
  engines = [];
});

type Call = { id: string; tick: number; answer: () => void };

function rig(ids: string[], lanes?: number) {
  const timers = manualTimers();
  let t = 0;
  let tick = 0;
  const open: Call[] = [];
  const started: Call[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const frames: EncodedFrame[] = [];
  const load = async (init: SandboxInit): Promise<LoadResult> =>
    fakeLoaded(init, () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<FrameOutcome>((resolve) => {
        const call: Call = {
          id: init.manifest.id,
          tick,
          answer: () => {
            open.splice(open.indexOf(call), 1);
            inFlight--;
            resolve(drawn('[{"op":"clear"}]', 0.1));
          },
        };
        open.push(call);
        started.push(call);
      });
    });
  const engine = createEngine({
    frameRate: 60,
    width: 640,
    height: 360,
    clock: () => ({ timeMs: t, beat: 0, tempo: 120 }),
    now: () => t,
    timers,
    ...(lanes !== undefined && { lanes }),
    load,
    onFrame: (f) => frames.push(f),
    onWrites() {},
    onEvent() {},
  });
  engines.push(engine);
  engine.setPlugins(ids.map((id) => src.spec(id, 'unused')));
  const stats = () => Object.fromEntries(engine.stats().map((s) => [s.id, s]));
  return {
    open,
    started,
    frames,
    stats,
    maxInFlight: () => maxInFlight,
    ready: () => waitFor(() => engine.stats().every((s) => s.state === 'running')),
    /** The next tick: the first one runs at once, the later ones a frame apart. */
    async next() {
      if (tick > 0) t += 1000 / 60;
      tick++;
      assert.ok(timers.runNext(), 'a tick is scheduled');
      await new Promise((r) => setImmediate(r));
    },
    /** Answers every call under way, and those the answers let start, until none is left. */
    async settle() {
      for (let i = 0; i < 100 && open.length > 0; i++) {
        open[0]!.answer();
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(open.length, 0, 'every call answered');
    },
    layers: (f: EncodedFrame) => (JSON.parse(f.json) as { layers: { id: string }[] }).layers.map((l) => l.id),
  };
}

const SIX = [
  'com.example.p1',
  'com.example.p2',
  'com.example.p3',
  'com.example.p4',
  'com.example.p5',
  'com.example.p6',
];

describe('frame lanes', () => {
  it(`runs a tick's calls ${DEFAULT_LANES} at a time by default, and every due plugin is in the frame`, async () => {
    const r = rig(SIX);
    assert.ok(await r.ready());
    for (let k = 0; k < 5; k++) {
      const before = r.frames.length;
      await r.next();
      assert.equal(r.open.length, DEFAULT_LANES, 'only as many calls start as there are lanes');
      await r.settle();
      assert.equal(r.frames.length, before + 1, 'the frame is emitted once all its calls settled');
      assert.deepEqual(r.layers(r.frames.at(-1)!), SIX, 'every plugin drew, in layer order');
    }
    assert.equal(r.maxInFlight(), DEFAULT_LANES);
    assert.equal(r.started.length, 5 * SIX.length);
    for (const s of Object.values(r.stats())) assert.equal(s.late, 0);
  });

  it('a plugin stuck past its tick holds no lane of the next, even with one lane: the others keep drawing', async () => {
    const r = rig(SIX, 1);
    assert.ok(await r.ready());
    await r.next();
    const stuck = r.open[0]!;
    // Everyone else answers; the stuck call never does during the next ticks.
    for (let i = 0; i < 50 && r.open.length > 1; i++) {
      r.open.find((c) => c !== stuck)!.answer();
      await new Promise((x) => setImmediate(x));
    }
    for (let k = 0; k < 4; k++) {
      const before = r.started.length;
      await r.next();
      for (let i = 0; i < 50 && r.open.some((c) => c !== stuck); i++) {
        r.open.find((c) => c !== stuck)!.answer();
        await new Promise((x) => setImmediate(x));
      }
      assert.equal(r.started.length - before, SIX.length - 1, 'the five others each ran this tick');
      assert.equal(r.open.length, 1, 'only the stuck call is left');
    }
    const layers = r.layers(r.frames.at(-1)!);
    assert.deepEqual(
      layers.filter((id) => id !== stuck.id),
      SIX.filter((id) => id !== stuck.id),
    );
    stuck.answer();
    await r.next();
    await r.settle();
    assert.deepEqual(r.layers(r.frames.at(-1)!), SIX, 'the stuck one is back once it answered');
  });

  it('the attacker: calls that fill every tick cannot starve a plugin; those left without a lane go first next tick', async () => {
    // One lane, and every call takes the whole tick: one plugin runs per tick, the others are
    // late. In a fixed order the first two would take turns and the third would never draw.
    const ids = SIX.slice(0, 3);
    const r = rig(ids, 1);
    assert.ok(await r.ready());
    const ran: string[] = [];
    for (let k = 1; k <= 12; k++) {
      await r.next();
      const now = r.open.filter((c) => c.tick === k);
      assert.equal(now.length, 1, 'one lane: one call of this tick');
      ran.push(now[0]!.id);
      // The last tick's call answers only now, after this tick started: a straggler.
      for (const c of r.open.filter((x) => x.tick < k)) c.answer();
      await new Promise((x) => setImmediate(x));
      assert.equal(r.open.length, 1, 'a straggler frees no lane of this tick');
    }
    const counts = ids.map((id) => ran.filter((x) => x === id).length);
    assert.deepEqual(counts, [4, 4, 4], `each plugin gets its turn: ${ran.join(' ')}`);
    const late = Object.values(r.stats()).reduce((n, s) => n + s.late, 0);
    assert.ok(late >= 12, `the calls left without a lane are counted as late: ${late}`);
  });
});
