// The plugin frame path, piece by piece: what one sandbox.frame() call costs (the isolate call,
// the answer check and the fault bookkeeping around it), what composing one frame of nine
// layers costs (with their fair shares of its bytes), and what the fair CPU shares of nine
// plugins cost a tick. Each figure is the median of five rounds, so one stall on this shared machine does
// not move it. `npm run bench -- plugin-frame-path`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseManifest } from '../../plugins/manifest.ts';
import { composeFrame } from '../../plugins/runtime/compose.ts';
import { cpuShares } from '../../plugins/runtime/cpu-share.ts';
import { createSandbox } from '../../plugins/sandbox/sandbox.ts';
import { frameInput } from './plugins.bench.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function rounds(n: number, fn: () => Promise<void> | void): Promise<number> {
  const out: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) await fn();
    out.push((performance.now() - t) / n);
  }
  return median(out);
}

export async function run(report: (line: string) => void): Promise<void> {
  const manifestPath = join(ROOT, 'plugins', 'examples', 'geometry', 'plugin.json');
  const m = parseManifest(JSON.parse(await readFile(manifestPath, 'utf8')));
  if (!m.ok) throw new Error(m.error);
  const entrySource = await readFile(join(manifestPath, '..', m.manifest.entry), 'utf8');
  const loaded = await createSandbox({ manifest: m.manifest, entrySource, width: 1920, height: 1080 });
  if (!loaded.ok) throw new Error(loaded.error);
  const sandbox = loaded.sandbox;
  let i = 0;
  let json = '[]';
  for (; i < 500; i++) {
    const o = await sandbox.frame(frameInput(i));
    if (o.ok) json = o.json;
  }
  const frameMs = await rounds(2000, async () => {
    await sandbox.frame(frameInput(i++));
  });
  sandbox.dispose();
  report(`sandbox.frame() of geometry, median of 5 × 2000 sequential calls: ${us(frameMs)} per call`);

  const layers = Array.from({ length: 9 }, (_, k) => ({ id: `com.example.layer${k}`, json }));
  const head = { index: 1, time: 1, beat: 2, tempo: 120, width: 1920, height: 1080 };
  const composeMs = await rounds(20_000, () => {
    composeFrame(head, layers);
  });
  report(`composeFrame() of 9 geometry layers (${json.length} bytes each): ${us(composeMs)} per frame`);

  // Nine plugins whose demand is over the budget, so the shares are really computed.
  const demands = Array.from({ length: 9 }, (_, k) => ({ fps: 60, cpuMsPerFrame: 1 + k * 3 }));
  const sharesMs = await rounds(100_000, () => {
    cpuShares(demands, 1000);
  });
  report(`cpuShares() of 9 plugins over the budget: ${us(sharesMs)} per tick`);
}
