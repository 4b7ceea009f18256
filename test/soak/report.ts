import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { renderPlot } from './chart.ts';
import { fpsSummary, fpsTable } from './fps.ts';
import type { Sample } from './sample.ts';
import {
  fittedSpanHours,
  floorPerWindow,
  GROWING_PER_HOUR,
  HOST_WARM_UP_SEC,
  MIN_RISE,
  type Point,
  RESTART_WARM_UP_SEC,
  SHOWN,
  slopeFit,
  verdict,
  WARM_UP_SEC,
} from './trend.ts';

// The end of a soak: the table of slopes and verdicts, the raw samples kept as JSON, the plot.
// Also run alone on a kept JSON (`npm run soak -- --from <file>`) to redraw without a long run.

/** One laptop's output page over the run (absent with --no-pages and in older records). */
export type PageRecord = {
  laptop: number;
  /** Connections the page made in all (1 when it never lost its daemon). */
  connects: number;
  /** Seconds from each restart of its daemon to the page drawing from it again. */
  reconnectSec: number[];
  /** Restarts after which the page did not come back within the soak's bound. */
  lost: number;
};

export type SoakRecord = {
  opts: {
    durationSec: number;
    pullSec: number;
    killSec: number;
    everySec: number;
    out: string;
    pages?: boolean;
    /** plugins.renewal given to the daemons (0: the default); absent in older records. */
    renewAtMb?: number;
    renewAfterSec?: number;
  };
  events: string[];
  samples: Sample[];
  orphans: number;
  minutes: number;
  laptops: number;
  oscRate: number;
  pages?: PageRecord[];
};

/** The pages' lines: connections, reconnects after each restart, and any other reconnect. */
export function pageLines(pages: readonly PageRecord[]): string[] {
  return pages.map((p) => {
    const restarts = p.reconnectSec.length + p.lost;
    // Each restart that the page came back from is one connection more than the first.
    const other = p.connects - 1 - p.reconnectSec.length;
    return `laptop-${p.laptop + 1}'s page: ${p.connects} connections; ${restarts} daemon restart(s), reconnected after ${p.reconnectSec.map((x) => `${x.toFixed(1)} s`).join(', ') || '-'}${p.lost ? `, ${p.lost} not back` : ''}; ${Math.max(0, other)} other reconnect(s)`;
  });
}

/** Rates are fitted as sampled (a slowing loop is the symptom); the rest by their floor. */
const RAW = new Set(Object.keys(SHOWN));

/** The plugin host's metrics: a host has its own process lives inside its daemon's. */
const HOST_METRICS = new Set(['childRssMiB', 'childAnonMiB', 'childCpuPct']);

/**
 * Which process life a sample belongs to, for the fit: the daemon's, or for the plugin host's
 * metrics the host's own within it, so that a host renewed or restarted mid-life reads as a new
 * process starting low and not as memory given back (which would tilt the fit down and hide a
 * leak). Numbered in order of first appearance.
 */
function lives(): (metric: string, s: Sample) => number {
  const ids = new Map<string, number>();
  return (metric, s) => {
    const key =
      HOST_METRICS.has(metric) && s.childPid !== undefined ? `${s.life}:${s.childPid}` : `${s.life}`;
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
    }
    return id;
  };
}

export function table(r: SoakRecord): { lines: string[]; growing: number; unjudged: number } {
  const metrics = [...Object.keys(GROWING_PER_HOUR), ...Object.keys(SHOWN)] as (keyof Sample)[];
  const lines = [
    '| laptop | metric | first | last | slope per hour ± 2 standard errors | grows above (and by at least) | verdict |',
    '|---|---|---|---|---|---|---|',
  ];
  const fmt = (x: number | undefined) => (x === undefined ? '-' : Number(x.toFixed(2)).toString());
  let growing = 0;
  let unjudged = 0;
  const lifeOf = lives();
  for (let i = 0; i < r.laptops; i++) {
    const mine = r.samples.filter((s) => s.laptop === i);
    for (const m of metrics) {
      // A metric added after a record was kept is absent from it: not a row at all.
      if (mine.every((s) => s[m] === undefined)) continue;
      // A sample may lack one (a plugin host between renewals has no CPU reading): left out, not zero.
      const restarted = new Set<number>();
      const points: Point[] = mine
        .filter((s) => s[m] !== undefined)
        .map((s) => {
          const life = lifeOf(m, s);
          if (s.life > 0) restarted.add(life);
          return { tSec: s.tSec, value: s[m] as number, life };
        });
      const warm = HOST_METRICS.has(m)
        ? HOST_WARM_UP_SEC
        : (life: number) => (restarted.has(life) ? RESTART_WARM_UP_SEC : WARM_UP_SEC);
      const fit = slopeFit(RAW.has(m) ? points : floorPerWindow(points), warm);
      const slope = fit.perHour;
      const span = fittedSpanHours(points, warm);
      const shown = SHOWN[m];
      // Nothing left after warm-up is no evidence of flatness: said so, never called flat.
      const v =
        shown !== undefined
          ? `shown, not judged: ${shown}`
          : span === 0
            ? 'too short'
            : verdict(m, slope, span, fit.sePerHour);
      if (v === 'growing') growing++;
      if (v === 'too short') unjudged++;
      lines.push(
        `| laptop-${i + 1} | ${m} | ${fmt(points[0]?.value)} | ${fmt(points.at(-1)?.value)} | ${slope.toFixed(2)} ± ${(2 * fit.sePerHour).toFixed(2)} | ${shown !== undefined ? '-' : `${GROWING_PER_HOUR[m]}/h (${MIN_RISE[m]})`} | ${v} |`,
      );
    }
  }
  return { lines, growing, unjudged };
}

/** Planned renewals of each laptop's plugin host, summed over its process lives. */
export function renewalLines(samples: readonly Sample[], laptops: number): string[] {
  const lines: string[] = [];
  for (let l = 0; l < laptops; l++) {
    const byLife = new Map<number, number>();
    for (const s of samples)
      if (s.laptop === l && s.hostRenewals !== undefined)
        byLife.set(s.life, Math.max(byLife.get(s.life) ?? 0, s.hostRenewals));
    if (byLife.size === 0) continue;
    const each = [...byLife.values()];
    lines.push(
      `laptop-${l + 1}'s plugin host: ${each.reduce((a, b) => a + b, 0)} planned renewal(s) (${each.join(' + ')} over ${each.length} daemon life/lives)`,
    );
  }
  return lines;
}

/** Prints the report, keeps the samples, draws the plot; returns the exit code (0 flat, 1 not). */
export async function report(r: SoakRecord, keep: boolean): Promise<number> {
  const { lines, growing, unjudged } = table(r);
  const lost = (r.pages ?? []).reduce((a, p) => a + p.lost, 0);
  const frames = fpsTable(fpsSummary(r.samples, r.laptops));
  const every = (sec: number) => (sec >= 60 ? `${Number((sec / 60).toFixed(2))} min` : `${sec} s`);
  process.stdout.write(
    `\nSoak of ${r.minutes.toFixed(1)} min, ${r.samples.length} samples, ${r.orphans} orphaned children\n${r.events.map((e) => `- ${e}`).join('\n')}\n\n${lines.join('\n')}\n`,
  );
  if (frames.length > 2)
    process.stdout.write(
      `\nPlugins, from hana status at each sample (fps over each ${r.opts.everySec} s interval with a page watching):\n${frames.join('\n')}\n`,
    );
  if (r.pages) process.stdout.write(`\n${pageLines(r.pages).join('\n')}\n`);
  const renewals = renewalLines(r.samples, r.laptops);
  if (renewals.length) {
    const at = r.opts.renewAtMb ? `${r.opts.renewAtMb} MiB` : '60 % of the ceiling';
    const after = r.opts.renewAfterSec ? every(r.opts.renewAfterSec) : '10 min';
    process.stdout.write(`\nRenewal at ${at}, after ${after}:\n${renewals.join('\n')}\n`);
  }
  if (keep) {
    const raw = join(tmpdir(), `hana-soak-${Date.now()}.json`);
    await writeFile(raw, JSON.stringify(r));
    process.stdout.write(`samples: ${raw}\n`);
  }
  const out = resolve(r.opts.out);
  await renderPlot(
    r.samples,
    r.laptops,
    `hana soak: ${r.minutes.toFixed(1)} min, ${r.laptops} laptops, OSC ${r.oscRate}/s each, cable pulled every ${every(r.opts.pullSec)}, SIGKILL every ${every(r.opts.killSec)}${r.pages ? ', an output page on each' : ''}; slopes of the per-minute floor after ${WARM_UP_SEC} s warm-up per life (${RESTART_WARM_UP_SEC} s for a restarted daemon, ${HOST_WARM_UP_SEC} s for the plugin host)`,
    out,
  );
  process.stdout.write(`plot: ${out}\n`);
  if (unjudged > 0 && growing === 0 && r.orphans === 0 && lost === 0) {
    process.stdout.write(
      `${unjudged} metric(s) had no samples after the warm-up of a process life (${WARM_UP_SEC} s, ${RESTART_WARM_UP_SEC} s for a restarted daemon, ${HOST_WARM_UP_SEC} s for the plugin host): too short to judge; run longer.\n`,
    );
    return 1;
  }
  if (growing > 0 || r.orphans > 0 || lost > 0) {
    process.stdout.write(
      `${growing} metric(s) growing, ${r.orphans} orphaned process(es), ${lost} page(s) not back after a restart: not flat.\n`,
    );
    return 1;
  }
  process.stdout.write('every metric flat.\n');
  return 0;
}
