import { readdir, readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import type { PluginStats } from '../../plugins/runtime/types.ts';
import { control, type TestDaemon } from '../helpers/daemon.ts';
import type { CpuMeter } from './cpu-meter.ts';

// One soak sample of one daemon: what the kernel says of its process (/proc: RSS, open fds,
// and the plugin host child's RSS) and what the daemon says of itself over the control socket
// (status.runtime: handles, timers, heap, event-loop delay; peers linked; each plugin's frame
// counters from status.plugins, and the output pages connected).

/** One plugin as `hana status` reports it: counters count from the daemon's start (this life). */
export type PluginSample = Pick<
  PluginStats,
  'id' | 'state' | 'fps' | 'cpuMs' | 'frames' | 'overruns' | 'starved' | 'throttled' | 'restarts'
>;

/** What the laptop's output page says of itself (renderer.js, hanaOutput.stats()). */
export type PageSample = { connected: boolean; connects: number; received: number; fps: number };

export type Sample = {
  tSec: number;
  laptop: number;
  /** Which process life of this laptop (0, then 1 after its first SIGKILL and restart…). */
  life: number;
  pid: number;
  /**
   * The plugin host drawing at the sample (status.plugins.host.pid): a host restarted or renewed
   * within one daemon life is a new process, whose memory starts low again. Absent in older records.
   */
  childPid?: number;
  rssMiB: number;
  childRssMiB: number;
  /**
   * RSS split by kind (/proc/<pid>/status): anonymous pages (heaps, malloc: where a leak lives)
   * and file-backed pages (the node binary, libraries and ICU data paged in as code paths first
   * run: shared with every other node process, clean, and given back under memory pressure).
   * Absent in older records.
   */
  anonMiB?: number;
  fileMiB?: number;
  childAnonMiB?: number;
  /** V8's heap as held from the system, its young generation, and JS-owned memory outside it (status.runtime); absent in older records. */
  heapTotalMiB?: number;
  newSpaceMiB?: number;
  externalMiB?: number;
  fds: number;
  handles: number;
  timers: number;
  heapMiB: number;
  loopP99Ms: number;
  /**
   * CPU used since the previous sample, in percent of one core (cpu-meter.ts): the daemon's,
   * and its plugin host's. Absent in older records.
   */
  cpuPct?: number;
  childCpuPct?: number;
  /** The machine's 1-minute load average at the sample; absent in older records. */
  load1?: number;
  linked: number;
  /** Output pages connected to the daemon (status.output.clients); absent in older records. */
  pages?: number;
  plugins?: PluginSample[];
  /** The lowest fps among running plugins (status), for the plot. */
  minFps?: number;
  /** Overruns of all plugins in this life, for the plot. */
  overruns?: number;
  /** Planned handovers of the plugin host in this life (status.plugins.host.renewals); absent in older records. */
  hostRenewals?: number;
  /** The page's own view, when the soak runs pages (run.ts adds it). */
  page?: PageSample;
};

const MiB = 1024 * 1024;

type Rss = { total: number; anon: number; file: number };

/** A process's RSS in KiB, all of it and by kind; zeros for a process that is gone. */
async function rssKiB(pid: number): Promise<Rss> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { total: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile') };
}

/** Direct children of pid (the plugin host): their RSS is the daemon's too when a show runs. */
export async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}

export async function sampleDaemon(
  d: TestDaemon,
  laptop: number,
  life: number,
  tSec: number,
  cpu: CpuMeter,
): Promise<Sample> {
  const pid = d.proc.pid!;
  const [rss, fdList, kids, status] = await Promise.all([
    rssKiB(pid),
    readdir(`/proc/${pid}/fd`),
    childPids(pid),
    control(d, 'status') as Promise<DaemonStatus>,
  ]);
  const plugins: PluginSample[] = (status.plugins?.plugins ?? []).map((p) => ({
    id: p.id,
    state: p.state,
    fps: p.fps,
    cpuMs: p.cpuMs,
    frames: p.frames,
    overruns: p.overruns,
    starved: p.starved,
    throttled: p.throttled,
    restarts: p.restarts,
  }));
  const running = plugins.filter((p) => p.state === 'running');
  let childKiB = 0;
  let childAnonKiB = 0;
  let childCpu: number | undefined;
  for (const k of kids) {
    const r = await rssKiB(k);
    childKiB += r.total;
    childAnonKiB += r.anon;
    const c = await cpu.percent(k);
    if (c !== undefined) childCpu = (childCpu ?? 0) + c;
  }
  const ownCpu = await cpu.percent(pid);
  return {
    tSec,
    laptop,
    life,
    pid,
    ...(status.plugins?.host?.pid != null && { childPid: status.plugins.host.pid }),
    rssMiB: rss.total / 1024,
    childRssMiB: childKiB / 1024,
    anonMiB: rss.anon / 1024,
    fileMiB: rss.file / 1024,
    childAnonMiB: childAnonKiB / 1024,
    fds: fdList.length,
    handles: status.runtime.activeResourcesTotal,
    timers: status.runtime.timers,
    heapMiB: status.runtime.heapUsedBytes / MiB,
    heapTotalMiB: status.runtime.heapTotalBytes / MiB,
    newSpaceMiB: status.runtime.newSpaceBytes / MiB,
    externalMiB: status.runtime.externalBytes / MiB,
    loopP99Ms: status.runtime.eventLoopDelayMs.p99,
    ...(ownCpu !== undefined && { cpuPct: ownCpu }),
    ...(childCpu !== undefined && { childCpuPct: Math.round(childCpu * 10) / 10 }),
    load1: Math.round(loadavg()[0]! * 100) / 100,
    linked: status.peers.linked,
    pages: status.output?.clients ?? 0,
    plugins,
    minFps: running.length ? Math.min(...running.map((p) => p.fps)) : 0,
    overruns: plugins.reduce((a, p) => a + p.overruns, 0),
    hostRenewals: status.plugins?.host?.renewals ?? 0,
  };
}
