import { readFile } from 'node:fs/promises';
import module from 'node:module';
import { join } from 'node:path';
import { createLogger } from '../../daemon/log.ts';
import { parseManifest } from '../../plugins/manifest.ts';
import type { PluginSpec } from '../../plugins/runtime/types.ts';

// One plugin host (plugins/runtime/host.ts, the real fork of child.ts) with the three bundled
// examples (HANA_PROBE_PLUGINS below picks others) and 200 parameter changes a second, for the
// soak's open item: what grows in the child. The child samples itself every 10 s
// (host-memory-probe.ts) into OUT, one JSON line each; `kill -USR2 <child pid>` adds a sample
// before and after a full GC.
//
//   npx node --no-node-snapshot test/soak/host-memory.ts OUT.jsonl MINUTES
//
// MALLOC_ARENA_MAX in the environment reaches the child; HANA_PROBE_SEMI=<MiB> replaces the
// child's --max-semi-space-size, and HANA_PROBE_SEMI=<min>:<max> sets both (in this process's
// copy of fork-child.ts only).

const [outFile, minutesArg] = process.argv.slice(2);
if (!outFile || !minutesArg) {
  console.error('usage: host-memory.ts OUT.jsonl MINUTES');
  process.exit(2);
}
const ROOT = join(import.meta.dirname, '..', '..');
process.env.HANA_MEM_PROBE_OUT = outFile;
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${join(import.meta.dirname, 'host-memory-probe.ts')}`;
const semi = process.env.HANA_PROBE_SEMI;
if (semi) {
  module.registerHooks({
    load(url, context, next) {
      const r = next(url, context);
      if (!url.endsWith('/plugins/runtime/fork-child.ts')) return r;
      const [min, max] = semi.includes(':') ? semi.split(':') : [undefined, semi];
      const source = String(r.source)
        .replace(/'--min-semi-space-size=\d+',\s*/, '')
        .replace(
          /--max-semi-space-size=\d+/,
          min
            ? `--min-semi-space-size=${min}', '--max-semi-space-size=${max}`
            : `--max-semi-space-size=${max}`,
        );
      return { ...r, source };
    },
  });
}
// Imported after the hook, so the hook sees fork-child.ts load.
const { startPluginHost } = await import('../../plugins/runtime/host.ts');

async function example(name: string): Promise<PluginSpec> {
  const dir = join(ROOT, 'plugins', 'examples', name);
  const m = parseManifest(JSON.parse(await readFile(join(dir, 'plugin.json'), 'utf8')));
  if (!m.ok) throw new Error(m.error);
  return { manifest: m.manifest, entrySource: await readFile(join(dir, m.manifest.entry), 'utf8') };
}

// HANA_PROBE_PLUGINS=a,b,… picks the examples (default the three 2D ones; `all` for every one).
const ALL = ['geometry', 'beat-strobe', 'lfo', 'isf-plasma', 'isf-rings', 'isf-trails'];
const pick = process.env.HANA_PROBE_PLUGINS;
const names = !pick ? ALL.slice(0, 3) : pick === 'all' ? ALL : pick.split(',');
const unknown = names.filter((n) => !ALL.includes(n));
if (unknown.length > 0) {
  console.error(
    `HANA_PROBE_PLUGINS: no example ${unknown.join(', ')}; the examples are ${ALL.join(', ')} (or all)`,
  );
  process.exit(2);
}
const plugins = await Promise.all(names.map(example));
let frames = 0;
const events: Record<string, number> = {};
const host = startPluginHost({
  plugins,
  frameRate: 60,
  width: 1920,
  height: 1080,
  clock: () => ({ timeMs: performance.now(), beat: performance.now() / 500, tempo: 120 }),
  log: createLogger({ level: 'warn' }),
  onFrame: () => frames++,
  onWrites: () => {},
  onEvent: (e) => {
    events[e.kind] = (events[e.kind] ?? 0) + 1;
  },
});
await host.ready();
const paths = ['/layer/1/hue', '/layer/1/opacity', '/layer/2/opacity', '/layer/1/color', '/layer/2/color'];
let k = 0;
const value = (path: string): number | string => {
  if (path.endsWith('color')) return `#${(k % 256).toString(16).padStart(2, '0')}8800ff`;
  return ((k % 100) / 100) * (path.endsWith('hue') ? 360 : 1);
};
const feed = setInterval(() => {
  const changes: { path: string; value: number | string }[] = [];
  for (let i = 0; i < 2; i++, k++) {
    const path = paths[k % paths.length]!;
    changes.push({ path, value: value(path) });
  }
  host.updateParams(changes);
}, 10);
const tick = setInterval(() => {
  const s = host.stats();
  console.log(
    JSON.stringify({ frames, pid: s.host.pid, rssMb: s.host.rssMb, restarts: s.host.restarts, events }),
  );
}, 60_000);
setTimeout(async () => {
  clearInterval(feed);
  clearInterval(tick);
  await host.close();
  process.exit(0);
}, Number(minutesArg) * 60_000);
