import type { Sample } from './sample.ts';

// The soak's frame report (issue 16's "fps and overruns over a long run on a loaded laptop"):
// per laptop and plugin, from the counters `hana status` gives at each sample. A plugin's fps
// field is a one-second reading; the frames counter between two samples gives the rate over the
// whole interval (10 s by default), which is what "min fps over a 10 s sample" means here.
// Counters start at zero with each daemon process (they survive a plugin host crash, not a
// SIGKILL of the daemon), so totals add each life's last reading.

export type FpsRow = {
  laptop: number;
  plugin: string;
  /** Frames drawn per second over the intervals with a page watching at both ends. */
  meanFps: number | null;
  /** The lowest of those intervals' rates. */
  minFps: number | null;
  /** Intervals counted, and seconds left out because no page watched (drawing pauses then). */
  intervals: number;
  unwatchedSec: number;
  /** Over the run: frames drawn, overruns, frames lost to a loaded machine (starved). */
  frames: number;
  overruns: number;
  /** Overruns per 1,000 frames drawn. */
  per1000: number | null;
  starved: number;
  /** CPU per frame (ms), the mean of the samples that found it running. */
  cpuMs: number | null;
};

type Counters = { frames: number; overruns: number; starved: number };

export function fpsSummary(samples: readonly Sample[], laptops: number): FpsRow[] {
  const rows: FpsRow[] = [];
  for (let laptop = 0; laptop < laptops; laptop++) {
    const mine = samples.filter((s) => s.laptop === laptop && s.plugins).sort((a, b) => a.tSec - b.tSec);
    const ids = [...new Set(mine.flatMap((s) => s.plugins!.map((p) => p.id)))].sort();
    for (const id of ids) {
      let frames = 0;
      let seconds = 0;
      let minFps: number | null = null;
      let intervals = 0;
      let unwatchedSec = 0;
      const lastOfLife = new Map<number, Counters>();
      const cpu: number[] = [];
      let prev: { s: Sample; c: Counters } | undefined;
      for (const s of mine) {
        const p = s.plugins!.find((q) => q.id === id);
        if (!p) continue;
        lastOfLife.set(s.life, p);
        if (p.state === 'running' && p.cpuMs > 0) cpu.push(p.cpuMs);
        if (prev && prev.s.life === s.life) {
          const dt = s.tSec - prev.s.tSec;
          const drawn = p.frames - prev.c.frames;
          // A page at both ends: without one, drawing plugins are paused by design (idle work).
          const watched = (prev.s.pages ?? 1) > 0 && (s.pages ?? 1) > 0;
          if (dt > 0 && drawn >= 0 && watched) {
            frames += drawn;
            seconds += dt;
            intervals++;
            minFps = Math.min(minFps ?? Number.POSITIVE_INFINITY, drawn / dt);
          } else if (dt > 0 && !watched) unwatchedSec += dt;
        }
        prev = { s, c: p };
      }
      const total = { frames: 0, overruns: 0, starved: 0 };
      for (const c of lastOfLife.values()) {
        total.frames += c.frames;
        total.overruns += c.overruns;
        total.starved += c.starved;
      }
      rows.push({
        laptop,
        plugin: id,
        meanFps: seconds > 0 ? frames / seconds : null,
        minFps,
        intervals,
        unwatchedSec,
        ...total,
        per1000: total.frames > 0 ? (1000 * total.overruns) / total.frames : null,
        cpuMs: cpu.length ? cpu.reduce((a, b) => a + b, 0) / cpu.length : null,
      });
    }
  }
  return rows;
}

const fmt = (x: number | null, digits = 1) => (x === null ? '-' : x.toFixed(digits));

/** A markdown table of the rows, as docs/soak.md shows it. */
export function fpsTable(rows: readonly FpsRow[]): string[] {
  return [
    '| laptop | plugin | mean fps | min fps (one interval) | frames | overruns | per 1,000 frames | starved | CPU ms a frame | unwatched s |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| laptop-${r.laptop + 1} | ${r.plugin.replace(/^hana\.examples\./, '')} | ${fmt(r.meanFps)} | ${fmt(r.minFps)} | ${r.frames} | ${r.overruns} | ${fmt(r.per1000, 2)} | ${r.starved} | ${fmt(r.cpuMs, 2)} | ${r.unwatchedSec} |`,
    ),
  ];
}
