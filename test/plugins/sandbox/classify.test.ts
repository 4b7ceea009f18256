import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ivm from 'isolated-vm';
import { classifyFailure } from '../../../plugins/sandbox/classify.ts';
import * as src from '../../fixtures/plugins/sources.ts';
import { type BusyCores, busyCores } from '../busy-cores.ts';
import {
  disposeSandboxes,
  failedWith as failed,
  frameInput as frame,
  judged,
  loadSandbox as load,
} from './harness.ts';

// A fault is classified by its cause, never by wall time alone. These tests run the sandbox's
// adversaries while every core is kept busy (this is how the memory bomb came out as `overrun`
// on a loaded machine), and show a plugin starved of CPU is not blamed for it.

after(disposeSandboxes);

describe('fault classification with every core busy', () => {
  let load_: BusyCores;
  before(() => {
    load_ = busyCores();
  });
  after(() => load_.stop());

  it('a memory bomb is `memory`, every time, never `overrun`', async () => {
    for (let i = 0; i < 4; i++) {
      const s = await load(src.MEMORY_BOMB, { limits: { memoryMb: 8, cpuMsPerFrame: 50 } });
      const { outcome } = await judged(s);
      const bad = failed(outcome, 'memory');
      assert.equal(bad.fatal, true);
      assert.equal(s.disposed, true);
    }
  });

  it('giant output is `invalid-output` with the cap that refused it, never `overrun`', async () => {
    const cases: [string, string][] = [
      [src.TOO_MANY_COMMANDS, 'too-many-commands'],
      [src.HUGE_TEXT, 'too-large'],
      [src.TOO_MANY_BYTES, 'too-large'],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [source, detail] of cases) {
        const s = await load(source, { limits: { cpuMsPerFrame: 50 } });
        const { outcome } = await judged(s);
        assert.equal(
          outcome.ok ? 'ok' : outcome.code,
          'invalid-output',
          `${detail}: ${JSON.stringify(outcome)}`,
        );
        const bad = failed(outcome, 'invalid-output');
        assert.equal(bad.detail, detail, bad.error);
      }
    }
  });

  it('an endless loop is still `overrun` (it burns its CPU), and the isolate stays usable', async () => {
    const s = await load(`var plugin = { frame(f) { if (f.index === 0) for (;;) {} return []; } };`);
    const bad = failed((await judged(s, frame(0))).outcome, 'overrun');
    assert.equal(bad.fatal, false);
    assert.ok(bad.cpuMs > 8, `it used ${bad.cpuMs} ms of CPU`);
    assert.ok((await s.frame(frame(1))).ok);
  });

  it('a frame over its CPU budget is `overrun` by its own CPU clock', async () => {
    // Fixed work, not a wall-clock spin: a loaded machine gives a spin less CPU, not the same.
    // 200M xorshift steps took ≈ 300 ms of CPU on the 2-core test machine, three times the
    // 100 ms reserve a 2 ms budget gets; the wall time it takes under load does not matter.
    const slow = `var plugin = { frame() { let x = 1; for (let i = 0; i < 2e8; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; } return [{ op: 'rect', x: 0, y: 0, w: 1, h: 1, alpha: (x & 1) / 2 }]; } };`;
    const s = await load(slow, { limits: { cpuMsPerFrame: 2 } }, { warmupFrames: 0, timeoutMs: 30_000 });
    const bad = failed((await judged(s)).outcome, 'overrun');
    assert.ok(bad.cpuMs > 100, `charged ${bad.cpuMs} ms of CPU`);
  });
});

describe('classifying a stopped call (a real isolate)', () => {
  const timedOut = new Error('Script execution timed out.');
  const facts = { cpuMs: 1, cpuAllowedMs: 8, memoryLimitBytes: 8 * 1024 * 1024 };

  it('reads a timeout by the cause: over its memory, over its CPU, or starved', async () => {
    const isolate = new ivm.Isolate({ memoryLimit: 32 });
    try {
      assert.equal(classifyFailure(timedOut, isolate, facts).code, 'starved');
      assert.equal(classifyFailure(timedOut, isolate, { ...facts, cpuMs: 9 }).code, 'overrun');
      const ctx = await isolate.createContext();
      await ctx.eval(
        `globalThis.keep = []; for (let i = 0; i < 12; i++) keep.push(new Array(131072).fill(i + 0.5));`,
      );
      const c = classifyFailure(timedOut, isolate, facts);
      assert.equal(c.code, 'memory', c.error);
      assert.equal(c.fatal, true);
      assert.match(c.error, /its limit is 8 MB/);
    } finally {
      isolate.dispose();
    }
    assert.equal(classifyFailure(timedOut, isolate, facts).code, 'disposed');
  });

  it('takes isolated-vm’s memory-limit error as `memory`, and anything else as an exception clipped to 500 characters', () => {
    const isolate = new ivm.Isolate({ memoryLimit: 8 });
    try {
      const m = new Error('Isolate was disposed during execution due to memory limit');
      assert.equal(classifyFailure(m, isolate, facts).code, 'memory');
      const e = classifyFailure(new Error('z'.repeat(10_000)), isolate, facts);
      assert.equal(e.code, 'exception');
      assert.equal(e.error.length, 500);
    } finally {
      isolate.dispose();
    }
  });
});
