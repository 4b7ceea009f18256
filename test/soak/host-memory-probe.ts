import { appendFileSync, readFileSync } from 'node:fs';
import module, { createRequire } from 'node:module';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type ivmType from 'isolated-vm';

// Preloaded into the plugin host child by host-memory.ts (NODE_OPTIONS=--import): appends a
// memory sample to $HANA_MEM_PROBE_OUT every 10 s: process.memoryUsage(), /proc/self/status
// (anonymous vs file-backed RSS), V8's heap spaces, glibc's malloc arenas, and each isolate's
// heap. SIGUSR2 runs a full GC first and samples before and after it: live data or garbage?

type Isolate = InstanceType<typeof ivmType.Isolate>;

const out = process.env.HANA_MEM_PROBE_OUT;
if (out && process.send) {
  const require = createRequire(import.meta.url);
  const ivm = require('isolated-vm') as typeof ivmType;
  // Weakly held: a probe that kept disposed isolates alive would be a leak of its own.
  const isolates: WeakRef<Isolate>[] = [];
  // isolated-vm's exports and prototypes are frozen: sandbox.ts is handed a copy whose Isolate
  // is a subclass that records each instance (its import rewritten by a load hook).
  class Recorded extends ivm.Isolate {
    constructor(...a: ConstructorParameters<typeof ivm.Isolate>) {
      super(...a);
      isolates.push(new WeakRef(this));
    }
  }
  const copy: Record<string, unknown> = {};
  for (const k of Object.getOwnPropertyNames(ivm)) copy[k] = (ivm as unknown as Record<string, unknown>)[k];
  copy.Isolate = Recorded;
  (globalThis as Record<string, unknown>).__hanaProbeIvm = copy;
  module.registerHooks({
    load(url, context, next) {
      const r = next(url, context);
      if (!url.endsWith('/plugins/sandbox/sandbox.ts')) return r;
      const source = String(r.source).replace(
        "import ivm from 'isolated-vm';",
        "import ivm0 from 'isolated-vm'; const ivm = (globalThis as any).__hanaProbeIvm ?? ivm0;",
      );
      return { ...r, source };
    },
  });

  const t0 = Date.now();
  const mb = (x: number): number => Math.round((x / 1048576) * 100) / 100;
  const status = (): Record<string, number> => {
    const s = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
    return { rssAnon: mb(kb('RssAnon') * 1024), rssFile: mb(kb('RssFile') * 1024), threads: kb('Threads') };
  };
  // glibc's non-main arenas: a read-write anonymous mapping at a 64 MiB-aligned address
  // followed by its PROT_NONE remainder up to the next 64 MiB.
  const arenas = (): { arenas: number; arenaRss: number } => {
    type Region = { start: bigint; end: bigint; perm: string; anon: boolean; rssKb: number };
    const regions: Region[] = [];
    for (const l of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(l);
      if (m) {
        regions.push({
          start: BigInt(`0x${m[1]}`),
          end: BigInt(`0x${m[2]}`),
          perm: m[3]!,
          anon: m[4] === '0' && !m[5],
          rssKb: 0,
        });
      } else if (l.startsWith('Rss:') && regions.length > 0) {
        regions.at(-1)!.rssKb = Number(/(\d+)/.exec(l)![1]);
      }
    }
    const SIZE = 64n << 20n;
    let n = 0;
    let rssKb = 0;
    for (let i = 0; i + 1 < regions.length; i++) {
      const a = regions[i]!;
      const b = regions[i + 1]!;
      if (!a.anon || !a.perm.startsWith('rw') || a.start % SIZE !== 0n) continue;
      if (b.start !== a.end || !b.perm.startsWith('---') || b.end !== a.start + SIZE) continue;
      n++;
      rssKb += a.rssKb;
    }
    return { arenas: n, arenaRss: mb(rssKb * 1024) };
  };
  const sample = (tag?: string): void => {
    const mu = process.memoryUsage();
    const cpu = process.cpuUsage();
    const spaces: Record<string, [used: number, size: number]> = {};
    for (const sp of v8.getHeapSpaceStatistics())
      spaces[sp.space_name.replace('_space', '')] = [mb(sp.space_used_size), mb(sp.space_size)];
    const iso = isolates
      .map((r) => r.deref())
      .filter((i): i is Isolate => i !== undefined && !i.isDisposed)
      .map((i) => {
        const h = i.getHeapStatisticsSync();
        return {
          used: mb(h.used_heap_size),
          total: mb(h.total_heap_size),
          phys: mb(h.total_physical_size),
          ext: mb(h.externally_allocated_size),
          malloced: mb(h.malloced_memory),
        };
      });
    const row = {
      s: Math.round((Date.now() - t0) / 1000),
      pid: process.pid,
      ppid: process.ppid,
      ...(tag ? { tag } : {}),
      // CPU seconds so far: beside the frame count, what a frame costs with these settings.
      cpuSec: Math.round((cpu.user + cpu.system) / 1e4) / 100,
      rss: mb(mu.rss),
      heapUsed: mb(mu.heapUsed),
      heapTotal: mb(mu.heapTotal),
      external: mb(mu.external),
      arrayBuffers: mb(mu.arrayBuffers),
      ...status(),
      ...arenas(),
      spaces,
      isolatesAlive: iso.length,
      isolatesCreated: isolates.length,
      iso,
    };
    appendFileSync(out, `${JSON.stringify(row)}\n`);
  };
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  process.on('SIGUSR2', () => {
    sample('before-gc');
    gc();
    setTimeout(() => sample('after-gc'), 200);
  });
  setInterval(sample, 10_000).unref();
}
