import { createInterface } from 'node:readline';
import { createSandbox } from '../../../plugins/sandbox/sandbox.ts';
import * as src from '../../fixtures/plugins/sources.ts';
import { frameInput } from './harness.ts';

// Runs a cheap plugin in a sandbox, then, once the parent has starved this process of CPU (see
// starved-frames.test.ts), `FRAMES` frames; prints one JSON line per frame: its outcome code,
// the CPU the sandbox charged it and the wall time the call took.

const FRAMES = 24;
// A few ms a frame, well within its budget, so that a starved call is preempted in the middle
// and waits for a core while holding the isolate's lock (which is what `cpuTime` then counts).
// The margin is wide because the charge is an upper bound (cpu-clock.ts): beside this machine's
// other work at load 20, 3e6 steps were once charged 21.7 ms against the 20 ms a 10 ms budget
// allows a stopped call.
const WORK = `var plugin = { frame() { let x = 0; for (let i = 0; i < 1e6; i++) x += i % 7; globalThis.x = x; return [{ op: 'clear' }]; } };`;
const r = await createSandbox({
  manifest: src.manifest('com.example.starved', { limits: { cpuMsPerFrame: 16 } }),
  entrySource: WORK,
  width: 640,
  height: 360,
  warmupFrames: 10,
});
if (!r.ok) throw new Error(`${r.code}: ${r.error}`);
for (let i = 0; i < 20; i++) await r.sandbox.frame(frameInput(i));
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === 'go') break;
for (let i = 0; i < FRAMES; i++) {
  const t0 = performance.now();
  const o = await r.sandbox.frame(frameInput(20 + i));
  const wallMs = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ code: o.ok ? 'ok' : o.code, cpuMs: o.cpuMs, wallMs })}\n`);
}
r.sandbox.dispose();
process.exit(0);
