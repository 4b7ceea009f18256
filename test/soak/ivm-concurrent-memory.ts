import { readFileSync } from 'node:fs';
import ivm from 'isolated-vm';

// The plugin host's RSS growth (docs/soak.md, "30 minutes with pages, after the CPU-clock fix")
// without hana: K isolates, each called N/K times with a frame-sized answer, the calls of one
// round either all at once (as the plugin engine launches a tick's frames) or one after another.
// Prints the process's anonymous RSS after a full GC at each sixth of the run, and beside it the
// heap that this process's own V8 isolate holds (heapTotal): its young generation grows with the
// allocation rate up to --max-semi-space-size, in doubling steps that read as native memory left
// behind unless the flag is the plugin host's (docs/soak.md, "Renewal").
//
//   npx node --expose-gc --no-node-snapshot [--max-semi-space-size=4] test/soak/ivm-concurrent-memory.ts K N concurrent|sequential|lanes2

const [kArg, nArg, mode] = process.argv.slice(2);
const K = Number(kArg);
const N = Number(nArg);
if (!(K >= 1 && N >= 6 && (mode === 'concurrent' || mode === 'sequential' || mode === 'lanes2'))) {
  console.error('usage: ivm-concurrent-memory.ts K N concurrent|sequential|lanes2');
  process.exit(2);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with --expose-gc');
  process.exit(2);
}
const fns: ivm.Reference<(x: string) => string>[] = [];
for (let k = 0; k < K; k++) {
  const isolate = new ivm.Isolate({ memoryLimit: 16 });
  const context = await isolate.createContext();
  fns.push(
    await context.evalClosure(
      `return function (x) { return JSON.stringify([{ op: 'clear' }, { op: 'rect', x: 1, y: 2, w: 3, h: 4, t: x }]); }`,
      [],
      { result: { reference: true } },
    ),
  );
}
// A timeout as the sandbox sets one (its timer is part of each call), long enough not to fire.
const opts = { timeout: 1000, result: { copy: true } } as const;
let failed = 0;
const call = (f: ivm.Reference<(x: string) => string>, i: number) =>
  f.apply(undefined, [`a${i}`], opts).catch(() => {
    failed++;
  });
const anonMiB = (): string =>
  (Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024).toFixed(1);
const heldMiB = (): string => (process.memoryUsage().heapTotal / 1024 / 1024).toFixed(1);
const sixths: string[] = [];
for (let part = 0; part < 6; part++) {
  for (let i = 0; i < N / K / 6; i++) {
    if (mode === 'concurrent') await Promise.all(fns.map((f) => call(f, i)));
    else if (mode === 'lanes2') {
      const half = Math.ceil(fns.length / 2);
      const lane = async (fs: typeof fns) => {
        for (const f of fs) await call(f, i);
      };
      await Promise.all([lane(fns.slice(0, half)), lane(fns.slice(half))]);
    } else for (const f of fns) await call(f, i);
  }
  gc();
  sixths.push(`${anonMiB()} (${heldMiB()})`);
}
console.log(
  `${K} isolates, ${N} calls ${mode}: anonymous RSS (and V8 heap held) in MiB after each sixth: ${sixths.join(' ')}; ${failed} calls failed`,
);
