import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { cpuShares } from '../../../plugins/runtime/cpu-share.ts';
import {
  createEngine,
  type EncodedFrame,
  type Engine,
  type RuntimeEvent,
} from '../../../plugins/runtime/engine.ts';
import type { LoadResult, SandboxInit } from '../../../plugins/sandbox/sandbox.ts';
import * as src from '../../fixtures/plugins/sources.ts';
import { waitFor } from '../../helpers/wait.ts';
import { drawn, fakeLoaded } from './fake-sandbox.ts';
import { manualTimers } from './manual-timers.ts';

// One CPU budget and one composed frame for all plugins, shared fairly. The engine runs with a
// manual clock and a loader whose plugins report a fixed CPU per frame (what a real isolate's
// clock would say), so the shares are exact; the composed frames are real.

let engines: Engine[] = [];
afterEach(() => {
  for (const e of engines) e.close();
  engines = [];
});

/** Plugins that draw `json` and say they used `cpuMs` of CPU each frame. */
function fakeLoad(plugins: Record<string, { cpuMs: number; json?: string }>) {
  return async (init: SandboxInit): Promise<LoadResult> => {
    const p = plugins[init.manifest.id]!;
    const answer = drawn(p.json ?? '[{"op":"clear"}]', p.cpuMs);
    return fakeLoaded(init, async () => answer);
  };
}

async function drive(
  plugins: Record<string, { cpuMs: number; json?: string }>,
  ticks: number,
  cpuMsPerSecond: number,
) {
  const timers = manualTimers();
  let t = 0;
  const frames: EncodedFrame[] = [];
  const events: RuntimeEvent[] = [];
  const engine = createEngine({
    frameRate: 60,
    width: 640,
    height: 360,
    clock: () => ({ timeMs: t, beat: 0, tempo: 120 }),
    now: () => t,
    timers,
    cpuMsPerSecond,
    load: fakeLoad(plugins),
    onFrame: (f) => frames.push(f),
    onWrites() {},
    onEvent: (e) => events.push(e),
  });
  engines.push(engine);
  engine.setPlugins(Object.keys(plugins).map((id) => src.spec(id, 'unused')));
  assert.ok(await waitFor(() => engine.stats().every((s) => s.state === 'running')));
  const inFrames = new Map<string, number>();
  for (let i = 0; i < ticks; i++) {
    t += 1000 / 60;
    const before = frames.length;
    assert.ok(timers.runNext());
    assert.ok(await waitFor(() => frames.length > before), 'each tick emits a frame');
    for (const l of (JSON.parse(frames.at(-1)!.json) as { layers: { id: string }[] }).layers)
      inFrames.set(l.id, (inFrames.get(l.id) ?? 0) + 1);
  }
  const stats = Object.fromEntries(engine.stats().map((s) => [s.id, s]));
  return { stats, events, inFrames };
}

describe('fair shares', () => {
  it('cpuShares: everyone fits → full rates; otherwise light plugins keep theirs and heavy ones split the rest', () => {
    assert.deepEqual(cpuShares([{ fps: 60, cpuMsPerFrame: 1 }], 1000), [60]);
    const r = cpuShares(
      [
        { fps: 60, cpuMsPerFrame: 40 },
        { fps: 60, cpuMsPerFrame: 1 },
        { fps: 30, cpuMsPerFrame: 40 },
      ],
      1000,
    );
    assert.equal(r[1], 60, 'the light plugin (60 ms/s) runs at its full rate');
    // The two heavy ones share 940 ms/s equally: 470 ms/s each.
    assert.ok(Math.abs(r[0]! * 40 - 470) < 1e-9 && Math.abs(r[2]! * 40 - 470) < 1e-9, JSON.stringify(r));
  });

  it('the attacker: heavy plugins within their own limits cannot slow a light one; they run at their share', async () => {
    const plugins: Record<string, { cpuMs: number }> = { 'com.example.light': { cpuMs: 1 } };
    for (let i = 0; i < 8; i++) plugins[`com.example.heavy${i}`] = { cpuMs: 40 };
    const { stats, events } = await drive(plugins, 240, 1000);
    assert.equal(stats['com.example.light']!.frames, 240, 'the light plugin ran every tick');
    assert.equal(stats['com.example.light']!.throttled, 0);
    // 8 heavy plugins share 940 ms/s: ≈ 2.9 fps each at 40 ms a frame, after their first frames.
    for (let i = 0; i < 8; i++) {
      const s = stats[`com.example.heavy${i}`]!;
      assert.ok(s.frames >= 8 && s.frames <= 20, `heavy${i} ran ${s.frames} of 240 ticks`);
      assert.ok(s.throttled > 200, `heavy${i} held back ${s.throttled} ticks`);
    }
    const said = events.filter((e) => e.kind === 'cpu-share');
    assert.equal(said.length, 8, 'one event per heavy plugin when it is slowed, not one per frame');
    assert.match(said[0]!.reason, /runs at \d+\.\d fps instead of 60/);
  });

  it('the attacker: eight layers that fill the composed frame cannot keep a ninth out, and the big ones are told', async () => {
    // Each big list just within the per-plugin cap (256 KiB); eight of them leave 4 KiB of the
    // 2 MiB frame, and the ninth's 10 KiB did not fit in layer order.
    const rect = '{"op":"rect","x":1,"y":2,"w":3,"h":4,"color":"#ffffff"}';
    const big = `[${Array(4670).fill(rect).join(',')}]`;
    assert.ok(big.length < 256 * 1024, `${big.length}`);
    const plugins: Record<string, { cpuMs: number; json?: string }> = {};
    for (let i = 0; i < 8; i++) plugins[`com.example.big${i}`] = { cpuMs: 0.1, json: big };
    plugins['com.example.ninth'] = { cpuMs: 0.1, json: `[${Array(180).fill(rect).join(',')}]` };
    const { stats, events, inFrames } = await drive(plugins, 60, 1000);
    // The ninth is in every frame from its first layer on (the first tick composes before any layer).
    assert.ok(
      (inFrames.get('com.example.ninth') ?? 0) >= 59,
      `ninth in ${inFrames.get('com.example.ninth')} frames`,
    );
    assert.equal(stats['com.example.ninth']!.leftOut, 0);
    for (let i = 0; i < 8; i++) {
      const n = inFrames.get(`com.example.big${i}`) ?? 0;
      assert.ok(n > 20 && n < 60, `big${i} in ${n} of 60 frames`);
      assert.ok(stats[`com.example.big${i}`]!.leftOut > 0);
    }
    const told = events.filter((e) => e.kind === 'over-share');
    assert.ok(told.length >= 8, 'each big layer is told once it is left out');
    assert.match(told[0]!.reason, /over its fair share of the composed frame/);
  });
});
