// The CPU budget of the bundled examples (issue 16 part 5): the three JavaScript examples in the
// real plugin host at 1920 × 1080 and 60 fps, first on the machine as it is (the baseline), then
// with a busy loop on every core and one more, each for SECONDS. Per plugin: frames drawn a
// second, CPU a frame (its isolate's clock, averaged over about 10 frames, read at the end) and
// overruns per 1,000 frames; the loaded figures beside the baseline's.
// `npm run bench -- plugin-budget`.
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '../../plugins/manifest.ts';
import type { PluginSpec, PluginStats } from '../../plugins/runtime/engine.ts';
import { busyCores } from '../plugins/busy-cores.ts';
import { closeHosts, runHost } from '../plugins/runtime/host-harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SECONDS = 20;
const EXAMPLES = ['geometry', 'beat-strobe', 'lfo'];

async function example(name: string): Promise<PluginSpec> {
  const dir = join(ROOT, 'plugins', 'examples', name);
  const m = parseManifest(JSON.parse(await readFile(join(dir, 'plugin.json'), 'utf8')));
  if (!m.ok) throw new Error(m.error);
  return { manifest: m.manifest, entrySource: await readFile(join(dir, m.manifest.entry), 'utf8') };
}

async function runFor(specs: PluginSpec[]): Promise<PluginStats[]> {
  const r = runHost(specs, { width: 1920, height: 1080, policy: {} });
  r.host.updateParams(
    Object.entries({ '/layer/1/hue': 200, '/layer/1/opacity': 1, '/layer/2/opacity': 1 }).map(
      ([path, value]) => ({ path, value }),
    ),
  );
  await new Promise((res) => setTimeout(res, SECONDS * 1000));
  const stats = r.host.stats().plugins;
  await closeHosts();
  return stats;
}

export async function run(report: (line: string) => void): Promise<void> {
  const specs = await Promise.all(EXAMPLES.map(example));
  const line = (label: string, p: PluginStats, base?: PluginStats) => {
    const ran = p.frames + p.overruns;
    const per1000 = ran ? (1000 * p.overruns) / ran : 0;
    const ratio = (a: number, b: number | undefined) => (b ? ` (${(a / b).toFixed(2)}x)` : '');
    report(
      `  ${label} ${p.id}: ${(p.frames / SECONDS).toFixed(1)} frames/s${ratio(p.frames, base?.frames)}, ${p.cpuMs.toFixed(3)} ms CPU a frame${ratio(p.cpuMs, base?.cpuMs)}, ${p.overruns} overruns in ${ran} frames (${per1000.toFixed(2)} per 1,000)`,
    );
  };
  report(`load average before: ${loadavg()[0]!.toFixed(1)}`);
  const idle = await runFor(specs);
  for (const p of idle) line('as is ', p);
  const busy = busyCores();
  try {
    const loaded = await runFor(specs);
    for (const p of loaded)
      line(
        'loaded',
        p,
        idle.find((x) => x.id === p.id),
      );
  } finally {
    await busy.stop();
  }
  report(`load average after: ${loadavg()[0]!.toFixed(1)}`);
}
