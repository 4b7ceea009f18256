// Plugins: the cost of the sandbox per frame against the same function called directly, how
// many copies of an example plugin keep 60 fps on one core, and what 8 running plugins cost the
// daemon's OSC ingest and event loop, each against its baseline in the same run.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { ParamMap } from '../../daemon/config/params-schema.ts';
import { createOscIngest } from '../../daemon/ingest/osc-ingest.ts';
import { createRejections } from '../../daemon/ingest/rejections.ts';
import { createSourceFilter } from '../../daemon/ingest/source-filter.ts';
import { createRateLimiter } from '../../daemon/ingest/token-bucket.ts';
import { securityLogger } from '../../daemon/log.ts';
import { createPluginService } from '../../daemon/plugins/service.ts';
import { createHlc } from '../../daemon/state/hlc.ts';
import { createRegistry } from '../../daemon/state/registry.ts';
import { createStore } from '../../daemon/state/store.ts';
import { validateDisplayList } from '../../plugins/display-list.ts';
import { type PluginManifest, parseManifest } from '../../plugins/manifest.ts';
import { createLocalClock } from '../../plugins/runtime/clock.ts';
import type { PluginSpec } from '../../plugins/runtime/engine.ts';
import { createSandbox, type FrameInput } from '../../plugins/sandbox/sandbox.ts';
import { openOscUdp } from '../../protocols/osc/udp.ts';
import { captureLogger } from '../helpers/log-capture.ts';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const GEOMETRY = join(ROOT, 'plugins', 'examples', 'geometry', 'plugin.json');
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;

async function example(manifestPath: string): Promise<PluginSpec> {
  const m = parseManifest(JSON.parse(await readFile(manifestPath, 'utf8')));
  if (!m.ok) throw new Error(m.error);
  const entrySource = await readFile(join(manifestPath, '..', m.manifest.entry), 'utf8');
  return { manifest: m.manifest, entrySource };
}

export function frameInput(i: number): FrameInput {
  return {
    index: i,
    time: i / 60,
    dt: 1 / 60,
    beat: i / 30,
    phase: (i / 30) % 1,
    tempo: 120,
    width: 1920,
    height: 1080,
    params: { '/layer/1/hue': 120, '/layer/1/opacity': 1, '/layer/1/color': '#ffffffff' },
    events: [],
  };
}

/** 1. The same frame function: in its isolate (one async apply, JSON both ways, validation) and direct. */
async function overhead(report: (line: string) => void, spec: PluginSpec): Promise<void> {
  const N = 3000;
  const hana = { set() {}, log() {} };
  const direct = new Function('hana', `${spec.entrySource}\nreturn plugin;`)(hana) as {
    frame(f: FrameInput): unknown;
  };
  for (let i = 0; i < 500; i++) direct.frame(frameInput(i));
  let t = performance.now();
  for (let i = 0; i < N; i++) direct.frame(frameInput(i));
  const directMs = (performance.now() - t) / N;
  t = performance.now();
  for (let i = 0; i < N; i++) validateDisplayList(JSON.parse(JSON.stringify(direct.frame(frameInput(i)))));
  const directCheckedMs = (performance.now() - t) / N;

  const loaded = await createSandbox({ ...spec, width: 1920, height: 1080 });
  if (!loaded.ok) throw new Error(loaded.error);
  const sandbox = loaded.sandbox;
  for (let i = 0; i < 500; i++) await sandbox.frame(frameInput(i));
  let cpu = 0;
  let lost = 0;
  t = performance.now();
  for (let i = 0; i < N; i++) {
    const o = await sandbox.frame(frameInput(i));
    cpu += o.cpuMs;
    if (!o.ok) lost++;
  }
  const isolateMs = (performance.now() - t) / N;
  sandbox.dispose();
  report(`per-frame cost of ${spec.manifest.id} (${N} frames, sequential)`);
  report(`  direct call                        ${us(directMs)}`);
  report(`  direct + JSON copy + validation    ${us(directCheckedMs)}`);
  report(
    `  in its isolate (sandbox.frame)     ${us(isolateMs)}   (${us(cpu / N)} of it on the isolate's CPU clock; ${lost} lost)`,
  );
  report(
    `  ratio isolate/direct               ${(isolateMs / directMs).toFixed(1)}×   overhead ${us(isolateMs - directMs)} per frame`,
  );
}

/** 2. Copies of the plugin at 60 fps in a process pinned to one core; the most that all keep ≥ 57 fps. */
async function copies(report: (line: string) => void, manifestPath: string): Promise<void> {
  type Probe = { copies: number; fps: number; slowestFps: number; overruns: number; cpuPercent: number };
  const probe = async (n: number): Promise<Probe> => {
    const { stdout } = await exec(
      'taskset',
      [
        '-c',
        '0',
        process.execPath,
        '--no-node-snapshot',
        join(import.meta.dirname, 'plugin-frames.ts'),
        manifestPath,
        String(n),
        '3',
      ],
      { timeout: 120_000, maxBuffer: 1 << 20 },
    );
    return JSON.parse(stdout);
  };
  // This machine is shared: timers run late whatever the plugins do, so "keeps 60 fps" is judged
  // against one copy measured in the same run (≥ 95 % of its frame rate), not against 60.
  const seen: Probe[] = [await probe(1)];
  const floor = 0.95 * seen[0]!.slowestFps;
  const ok = (p: Probe) => p.slowestFps >= floor;
  let good = 1;
  let bad = 0;
  for (let n = 2; n <= 128; n *= 2) {
    const p = await probe(n);
    seen.push(p);
    if (ok(p)) good = n;
    else {
      bad = n;
      break;
    }
  }
  while (bad && bad - good > Math.max(1, Math.round(good / 8))) {
    const mid = Math.round((good + bad) / 2);
    const p = await probe(mid);
    seen.push(p);
    if (ok(p)) good = mid;
    else bad = mid;
  }
  report(
    `copies of ${manifestPath.split('/').at(-2)} at 60 fps in one process pinned to one core (taskset -c 0), 3 s each`,
  );
  for (const p of seen.sort((a, b) => a.copies - b.copies)) {
    report(
      `  ${String(p.copies).padStart(4)} copies: composed ${p.fps.toFixed(1)} fps, slowest copy ${p.slowestFps.toFixed(1)} fps, ${p.overruns} overruns, process CPU ${p.cpuPercent.toFixed(0)} %`,
    );
  }
  const last = seen.find((p) => p.copies === good)!;
  report(
    `  → ${good} copies keep ≥ 95 % of one copy's frame rate (${floor.toFixed(1)} fps)${bad ? `, ${bad} do not` : ', the most tried'}; at ${last.cpuPercent.toFixed(0)} % CPU that is ≈ ${Math.floor((good * 100) / last.cpuPercent)} copies per fully used core`,
  );
}

/** 3. OSC ingest (real UDP socket → decode → coerce → store) with 8 plugins reading the written path, vs none. */
async function ingest(report: (line: string) => void, spec: PluginSpec): Promise<void> {
  const { log } = captureLogger();
  log.level = 'warn';
  const registry = createRegistry(
    ParamMap.parse({
      '/bench/seq': { type: 'int', min: 0, max: 2147483647 },
      '/layer/1/hue': { type: 'float', min: 0, max: 360 },
      '/layer/1/opacity': { type: 'float', min: 0, max: 1, default: 1 },
    }),
  );
  const store = createStore({ registry, hlc: createHlc({ node: 'bench' }) });
  const rejections = createRejections({
    log,
    security: securityLogger(log),
    intervalMs: 10_000,
  });
  const pipeline = createOscIngest({
    registry,
    store,
    rejections,
    filter: createSourceFilter([]),
    limiter: createRateLimiter({ ratePerSecond: 1e9, burst: 1e9 }),
    limits: { maxBytes: 8192, maxDepth: 8, maxScheduled: 1024, maxScheduleAheadMs: 60_000 },
  });
  const udp = await openOscUdp({
    host: '127.0.0.1',
    port: 0,
    onDatagram: (b, from) => pipeline.handle(b, { transport: 'udp', ...from }),
    onError: () => {},
  });
  const copiesOf = (reads: string[]): PluginSpec[] =>
    Array.from({ length: 8 }, (_, i) => ({
      manifest: { ...spec.manifest, reads, id: `${spec.manifest.id}.copy${i}` } as PluginManifest,
      entrySource: spec.entrySource,
    }));
  let frames = 0;
  let plugins: PluginSpec[] = [];
  const service = createPluginService({
    registry,
    store,
    rejections,
    log,
    security: securityLogger(log),
    clock: createLocalClock(() => 120),
    frameRate: 60,
    width: 1920,
    height: 1080,
    loadPlugins: async () => plugins,
  });
  service.onFrame(() => {
    frames++;
  });
  await service.start();

  const sender = join(import.meta.dirname, 'osc-sender.ts');
  const blast = async () => {
    const w0 = pipeline.stats().writes;
    const { stdout } = await exec(process.execPath, [sender, String(udp.port), 'blast', '200000'], {
      timeout: 120_000,
    });
    await wait(300);
    const sent = JSON.parse(stdout) as { elapsedMs: number };
    return (pipeline.stats().writes - w0) / (sent.elapsedMs / 1000);
  };
  const loopDelay = async (ms: number) => {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    await wait(ms);
    h.disable();
    return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  };
  type Row = {
    label: string;
    rate: number;
    spread: [number, number];
    idle: { p50: number; p99: number; max: number };
    cpu: number;
    fps: number;
  };
  const measure = async (label: string, list: PluginSpec[]): Promise<Row> => {
    plugins = list;
    await service.reload();
    for (let i = 0; i < 200 && !service.status().plugins.every((p) => p.state === 'running'); i++)
      await wait(25);
    await wait(1000);
    const f0 = frames;
    const cpu0 = process.cpuUsage();
    const idle = await loopDelay(3000);
    const used = process.cpuUsage(cpu0);
    const fps = (frames - f0) / 3;
    // The median of three blasts: the machine is shared and one run can be off by a factor of 2.
    const rates = [await blast(), await blast(), await blast()].sort((a, b) => a - b);
    return {
      label,
      rate: rates[1]!,
      spread: [rates[0]!, rates[2]!],
      idle,
      cpu: (used.user + used.system) / 1e6 / 3,
      fps,
    };
  };
  try {
    await blast(); // warm-up
    const rows = [
      await measure('no plugins', []),
      await measure('8 plugins, not reading /bench/*', copiesOf(['/layer/1/*'])),
      await measure(
        '8 plugins reading /bench/* (every packet is a change they read)',
        copiesOf(['/bench/*', '/layer/1/*']),
      ),
    ];
    const base = rows[0]!.rate;
    const fmt = (d: Row['idle']) =>
      `p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, max ${d.max.toFixed(1)} ms`;
    report('daemon side (real UDP socket → decode → coerce → store, plugin service in the same process)');
    for (const r of rows) {
      report(`  ${r.label}`);
      report(
        `    OSC ingest, 200,000 packets from one sender: median of 3 ${Math.round(r.rate).toLocaleString('en')}/s (${(r.rate / base).toFixed(2)} of none; range ${r.spread.map((x) => Math.round(x).toLocaleString('en')).join('–')})`,
      );
      report(
        `    idle 3 s: event-loop delay ${fmt(r.idle)}; daemon CPU ${(r.cpu * 100).toFixed(1)} %; ${r.fps.toFixed(1)} frames/s received`,
      );
    }
  } finally {
    await service.close();
    pipeline.close();
    await udp.close();
  }
}

export async function run(report: (line: string) => void): Promise<void> {
  const geometry = await example(GEOMETRY);
  await overhead(report, geometry);
  await copies(report, GEOMETRY);
  await ingest(report, geometry);
}
