import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { disposeSandboxes, frameInput, loadSandbox } from './harness.ts';

// The long-show soak found the plugin host's RSS climbing about 1 GiB an hour with the bundled
// examples. The cause: isolated-vm hands a string result of 1 KiB or more to the host as an
// external string, whose bytes only a major GC frees, and nothing prompts one (sandbox.ts `ask`).
// These tests run a plugin whose answers are well over 1 KiB through the real sandbox for a
// counted number of frames, and read the host's memory outside its heap; nothing here is timed.

after(disposeSandboxes);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
const external = () => process.memoryUsage().external;

/** About 8 KiB of display list a frame: 100 rects, changing with the frame index. */
const WIDE = `var plugin = { frame(f) {
  const out = [];
  for (let i = 0; i < 100; i++) out.push({ op: 'rect', x: (f.index + i) % 640, y: i, w: 10.5, h: 20.25, color: '#ff8800ff', fill: true });
  return out;
} };`;

describe('sandbox: frame answers and host memory', () => {
  it('an answer over 1 KiB leaves nothing outside the host heap for a later GC to free', async () => {
    const s = await loadSandbox(WIDE, { limits: { memoryMb: 16, cpuMsPerFrame: 50 } });
    let bytes = 0;
    let index = 0;
    const run = async (n: number): Promise<number> => {
      // The rises of external memory across each frame call: a GC in between only lowers it,
      // so what the answers leave behind adds up here whenever the GC runs.
      let rose = 0;
      for (let k = 0; k < n; k++) {
        const before = external();
        const o = await s.frame(frameInput(index++));
        const after = external();
        if (!o.ok) assert.fail(`${o.code}: ${o.error}`);
        bytes += o.json.length;
        if (after > before) rose += after - before;
      }
      return rose;
    };
    await run(200); // V8 compiles and optimizes the plugin
    bytes = 0;
    const rose = await run(5000);
    assert.ok(
      bytes / 5000 > 4096,
      `each answer was ${Math.round(bytes / 5000)} bytes; the test needs > 1 KiB`,
    );
    // Before the fix each frame's answer (≈ 8 KiB) went outside the heap: ≈ 40 MiB here.
    assert.ok(
      rose < 2 * MiB,
      `external memory rose by ${(rose / MiB).toFixed(1)} MiB over 5000 frames of ${(bytes / MiB).toFixed(1)} MiB of answers`,
    );
  });

  it('heap and external memory after a full GC do not grow with the number of frames', async () => {
    const s = await loadSandbox(
      WIDE,
      { limits: { memoryMb: 16, cpuMsPerFrame: 50 } },
      {},
      'com.example.flat',
    );
    let index = 0;
    const run = async (n: number): Promise<void> => {
      for (let k = 0; k < n; k++) {
        const o = await s.frame(frameInput(index++));
        if (!o.ok) assert.fail(`${o.code}: ${o.error}`);
      }
    };
    const settled = () => {
      gc();
      gc();
      const m = process.memoryUsage();
      return { heap: m.heapUsed, external: m.external };
    };
    await run(1000);
    const at1k = settled();
    await run(4000);
    const at5k = settled();
    // Retaining as little as 1 KiB a frame would be 4 MiB here.
    const grew = (at5k.heap + at5k.external - at1k.heap - at1k.external) / MiB;
    assert.ok(grew < 2, `heap + external grew by ${grew.toFixed(2)} MiB from frame 1,000 to 5,000`);
  });
});
