// Benchmark worker for plugins.bench.ts, run as its own process (pinned to one core with
// `taskset -c 0` by the caller): N copies of a plugin bundle in the real frame engine at 60 fps.
// Prints one JSON line: composed frames and the slowest copy's frames over the measured window.
//   node --no-node-snapshot plugin-frames.ts <plugin.json> <copies> <seconds>
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseManifest } from '../../plugins/manifest.ts';
import { createEngine } from '../../plugins/runtime/engine.ts';

const [manifestPath, copiesArg, secondsArg] = process.argv.slice(2);
const copies = Number(copiesArg);
const seconds = Number(secondsArg ?? 3);
const parsed = parseManifest(JSON.parse(await readFile(manifestPath!, 'utf8')));
if (!parsed.ok) throw new Error(parsed.error);
const base = parsed.manifest;
const entrySource = await readFile(join(dirname(manifestPath!), base.entry), 'utf8');

let frames = 0;
const engine = createEngine({
  frameRate: 60,
  width: 1920,
  height: 1080,
  clock: () => ({ timeMs: performance.now(), beat: performance.now() / 500, tempo: 120 }),
  onFrame: () => {
    frames++;
  },
  onWrites: () => {},
  onEvent: () => {},
  // A restart would hide a miss: count misses, never restart in this measurement.
  policy: { faultsToRestart: 1_000_000, faultWindowFrames: 1_000_000 },
});
engine.updateParams({ '/layer/1/hue': 120, '/layer/1/opacity': 1, '/layer/2/opacity': 1, '/speed': 1 });
engine.setPlugins(
  Array.from({ length: copies }, (_, i) => ({
    manifest: { ...base, id: `${base.id}.copy${i}` },
    entrySource,
  })),
);
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; i < 200 && !engine.stats().every((s) => s.state === 'running'); i++) await wait(25);
await wait(1000); // warm-up: compile and optimize
const f0 = frames;
const s0 = new Map(engine.stats().map((s) => [s.id, s]));
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await wait(seconds * 1000);
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const drawn = engine.stats().map((s) => s.frames - (s0.get(s.id)?.frames ?? 0));
const overruns = engine.stats().reduce((n, s) => n + s.overruns - (s0.get(s.id)?.overruns ?? 0), 0);
engine.close();
process.stdout.write(
  `${JSON.stringify({
    copies,
    fps: (frames - f0) / elapsed,
    slowestFps: Math.min(...drawn) / elapsed,
    meanFps: drawn.reduce((a, b) => a + b, 0) / drawn.length / elapsed,
    overruns,
    cpuPercent: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100,
  })}\n`,
);
process.exit(0);
