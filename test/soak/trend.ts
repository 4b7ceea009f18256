// The soak's verdict: least-squares slope per hour of each metric, fitted within each process
// life (one intercept per life, one shared slope), so a SIGKILLed daemon's fresh process reads as
// a restart and not as memory given back, and a leak in any one life still shows.

export type Point = { tSec: number; value: number; life: number };

/**
 * Seconds at the start of each process life left out of the fit: JIT, caches, the plugin host's
 * isolates and the first sync exchange fill up once, and that one-off climb would read as a leak
 * in a ten-minute run. Five minutes, measured: in three 14-30 minute soaks on 2026-12-06 the
 * daemon's V8 heap held reached its size within 2-4 minutes of a start (some starts give memory
 * back first and grow again), and its anonymous memory outside the heap settled within 4-12; at
 * 120 s that settling was judged a leak of 13-58 MiB/h on one laptop in each run
 * (docs/soak.md, "The verdict's warm-up"). A leak keeps growing after it: 24 MiB/h on top of a
 * measured settling is still judged growing (trend.test.ts). Not every start fits: in a fourth
 * run one daemon's native memory took 18 minutes to reach the others' level, and was judged
 * growing; no warm-up that leaves a ten-minute life anything to fit covers that.
 */
export const WARM_UP_SEC = 300;

/**
 * The plugin host's own warm-up, per host process: it fills for longer than its daemon. Its
 * anonymous memory, as the least value of each 2 minutes, in two 30-minute soaks on 2026-12-07
 * (docs/soak.md, "The plugin host's first quarter-hour"): 44-50 MiB at its start, 60 at 6
 * minutes, 64-66 from 14-16 minutes on; its probe splits the climb into V8's young generation
 * reaching its cap (+4 MiB at about 5 minutes), old space held growing with the heap (+3 by 15
 * minutes) and the frames' large strings until a major GC. Fitted from 5 minutes, every default
 * run called the host of its restarted laptop growing at 29-31 MiB/h. The cost: a 30-minute run
 * fits a host over 15 minutes at most, where a rise of 8 MiB needs 32 MiB/h; slower growth needs
 * a longer run (report.test.ts).
 */
export const HOST_WARM_UP_SEC = 900;

/**
 * A daemon restarted after a SIGKILL: its first quarter-hour is left out. Every daemon life
 * creeps on after its fifth minute, by 3-7 MiB until minute 12-16, to the level the others run
 * at (118-120 MiB of anonymous memory in the soak of 2026-12-07 12:35); restarted ones in the
 * morning's runs took up to 20 minutes. The longer the fit, the less the creep tilts it: in the
 * 12:35 run laptop-1's 25 minutes came out at 7.8 MiB/h, laptop-3's first life's 15 at 18.3
 * (a rise of 4.6 MiB, under the 8 that count), and laptop-2, its restarted life fitted from
 * its fifth minute too, at 29.1: growing. Two of that day's first four default runs called a restarted
 * daemon growing the same way. With this warm-up the 12:35 run is flat (with 900 s for every
 * life the first four were too; their samples are gone): docs/soak.md, "A restarted daemon's
 * warm-up". The cost: in a 30-minute run the laptop restarted at 20 minutes leaves its second
 * life nothing to fit and the one restarted at 10 leaves 5 minutes; their first lives and
 * laptop-1 are judged as before, and `--kill 20m` in a 60-minute run judges a restarted life
 * over 25 minutes.
 */
export const RESTART_WARM_UP_SEC = 900;

/** Seconds left out at the start of each life: one figure for all, or one per life id. */
export type WarmUp = number | ((life: number) => number);

const warmUpOf = (w: WarmUp): ((life: number) => number) => (typeof w === 'number' ? () => w : w);

/** Slope in units per hour after each life's warm-up; 0 when no life has two samples left. */
export function slopePerHour(points: readonly Point[], warmUpSec: WarmUp = WARM_UP_SEC): number {
  return slopeFit(points, warmUpSec).perHour;
}

/**
 * The fitted slope with its standard error, both per hour: the spread of the points about the
 * fitted lines says how far the slope itself can be trusted. A floor that wanders between 18 and
 * 22 handles with no trend, fitted over two five-minute spans, came out at 9.3/h with an error as
 * large; a leak's points sit on its line. The error is 0 where there are too few points to
 * measure any spread (two in a life), which leaves the verdict to the thresholds alone. The same
 * error keeps a one-off dip flat: V8 now and then gives back its young generation for a minute,
 * and that low point tilts a short fit as far as its own residual widens the error
 * (trend.test.ts).
 */
export function slopeFit(
  points: readonly Point[],
  warmUpSec: WarmUp = WARM_UP_SEC,
): { perHour: number; sePerHour: number } {
  const warm = warmUpOf(warmUpSec);
  const starts = new Map<number, number>();
  for (const p of points) starts.set(p.life, Math.min(starts.get(p.life) ?? p.tSec, p.tSec));
  const lives = new Map<number, Point[]>();
  for (const p of points) {
    if (p.tSec - starts.get(p.life)! < warm(p.life)) continue;
    const life = lives.get(p.life);
    if (life) life.push(p);
    else lives.set(p.life, [p]);
  }
  let num = 0;
  let den = 0;
  const means = new Map<number, { mt: number; mv: number }>();
  for (const [id, life] of lives) {
    const mt = life.reduce((a, p) => a + p.tSec, 0) / life.length;
    const mv = life.reduce((a, p) => a + p.value, 0) / life.length;
    means.set(id, { mt, mv });
    for (const p of life) {
      num += (p.tSec - mt) * (p.value - mv);
      den += (p.tSec - mt) ** 2;
    }
  }
  if (den === 0) return { perHour: 0, sePerHour: 0 };
  const slope = num / den;
  // One intercept per life and the shared slope are the parameters fitted.
  let n = 0;
  let sse = 0;
  for (const [id, life] of lives) {
    const { mt, mv } = means.get(id)!;
    for (const p of life) sse += (p.value - (mv + slope * (p.tSec - mt))) ** 2;
    n += life.length;
  }
  const dof = n - lives.size - 1;
  const se = dof > 0 ? Math.sqrt(sse / dof / den) : 0;
  return { perHour: slope * 3600, sePerHour: se * 3600 };
}

/**
 * The floor of a metric: the least value in each window of `windowSec` within a life, placed at
 * the window's first sample. Heap and RSS climb in a sawtooth until a major GC, and handle counts
 * jump with requests in flight; a leak raises the floor, while the sawtooth and the spikes do not.
 */
export function floorPerWindow(points: readonly Point[], windowSec = 60): Point[] {
  const windows = new Map<string, Point>();
  for (const p of points) {
    const key = `${p.life}:${Math.floor(p.tSec / windowSec)}`;
    const w = windows.get(key);
    if (!w) windows.set(key, { ...p });
    else w.value = Math.min(w.value, p.value);
  }
  return [...windows.values()];
}

/**
 * Growth per hour above which a metric is called growing. A show runs for hours: 16 MiB an hour
 * of RSS or heap is 64 MiB over a four-hour show, past the noise of GC and JIT warm-up measured
 * in ten-minute runs (a few MiB either way); one fd or handle every ten minutes (6/h) is a leak of
 * a socket or timer per cable pull or restart.
 */
export const GROWING_PER_HOUR: Record<string, number> = {
  rssMiB: 16,
  childRssMiB: 16,
  anonMiB: 16,
  childAnonMiB: 16,
  fileMiB: 16,
  heapMiB: 16,
  heapTotalMiB: 16,
  newSpaceMiB: 16,
  externalMiB: 16,
  fds: 6,
  handles: 6,
  timers: 6,
};

/**
 * The least rise over the fitted span that counts as evidence: in a ten-minute run one handle
 * more on the floor is already 6/h, and a count moves in whole steps. Below this the slope is
 * within the metric's own resolution and the verdict is flat whatever the rate.
 */
export const MIN_RISE: Record<string, number> = {
  rssMiB: 8,
  childRssMiB: 8,
  anonMiB: 8,
  childAnonMiB: 8,
  fileMiB: 8,
  heapMiB: 8,
  heapTotalMiB: 8,
  newSpaceMiB: 8,
  externalMiB: 8,
  fds: 3,
  handles: 3,
  timers: 3,
};

/**
 * Sampled, fitted and printed with their slope, but not judged: what the issue asks to stay flat
 * is memory and handles, and these are rates that follow the machine. The event-loop delay is
 * wall time; in one run all three laptops' p99 went about 90 → 50 → 120 ms together as the load
 * average went 9.3 → 8.2 → 11.0. CPU time looked like a way round that, and was not: in another,
 * each daemon's share of a core went from about 15.4 % to 19 % as the load average fell from 18 to
 * 13 and its page's frame rate rose from 53-55 to 60 fps, the same show (docs/soak.md, "Loop
 * delay and CPU").
 */
export const SHOWN: Record<string, string> = {
  loopP99Ms: 'wall time, follows the load',
  cpuPct: 'follows the load',
  childCpuPct: 'follows the load',
};

export type Verdict = 'flat' | 'growing';

/**
 * `spanHours`: the time the fit covered (after warm-up); the rise is the slope times it.
 * `sePerHour`: the slope's standard error (slopeFit): growing also needs the slope to stand
 * clear of zero by two of it, so a wandering floor fitted over a short span is not called a leak.
 */
export function verdict(metric: string, perHour: number, spanHours = 1, sePerHour = 0): Verdict {
  const limit = GROWING_PER_HOUR[metric];
  const rise = MIN_RISE[metric];
  if (limit === undefined || rise === undefined) throw new Error(`no growth threshold for metric ${metric}`);
  return perHour > limit && perHour * spanHours >= rise && perHour - 2 * sePerHour > 0 ? 'growing' : 'flat';
}

/** Hours between the first and last point kept after warm-up, summed over lives. */
export function fittedSpanHours(points: readonly Point[], warmUpSec: WarmUp = WARM_UP_SEC): number {
  const warm = warmUpOf(warmUpSec);
  const lives = new Map<number, number[]>();
  for (const p of points) lives.set(p.life, [...(lives.get(p.life) ?? []), p.tSec]);
  let sec = 0;
  for (const [life, ts] of lives) {
    const start = Math.min(...ts);
    const kept = ts.filter((t) => t - start >= warm(life));
    if (kept.length > 1) sec += Math.max(...kept) - Math.min(...kept);
  }
  return sec / 3600;
}

/** "30m", "2h", "90s" → seconds; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
  return n > 0 ? n : undefined;
}
