import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SoakRecord, table } from './report.ts';
import type { Sample } from './sample.ts';
import { floorPerWindow, slopeFit, WARM_UP_SEC } from './trend.ts';

// The soak's table: which rows are judged. Memory and handles are; the event-loop delay and the
// CPU share follow the machine's load, and are fitted and printed but never fail a run.

const base = (tSec: number, extra: Partial<Sample>): Sample => ({
  tSec,
  laptop: 0,
  life: 0,
  pid: 1,
  rssMiB: 150,
  childRssMiB: 100,
  fds: 30,
  handles: 20,
  timers: 8,
  heapMiB: 40,
  loopP99Ms: 50,
  linked: 2,
  ...extra,
});

/** 30 minutes (or `minutes`) every 10 s, the loop delay climbing with the machine's load. */
const run = (cpu: (tSec: number) => number | undefined, minutes = 30): SoakRecord => ({
  opts: { durationSec: minutes * 60, pullSec: 300, killSec: 600, everySec: 10, out: '/dev/null' },
  events: [],
  orphans: 0,
  minutes,
  laptops: 1,
  oscRate: 200,
  samples: Array.from({ length: minutes * 6 + 1 }, (_, k) => {
    const tSec = k * 10;
    const c = cpu(tSec);
    return base(tSec, { loopP99Ms: 60 + tSec / 10, ...(c !== undefined && { cpuPct: c }) });
  }),
});

const row = (lines: string[], metric: string) => lines.find((l) => l.includes(`| ${metric} |`));

describe('soak report', () => {
  it('prints the loop delay and the CPU with their slopes, and judges neither', () => {
    // The delay climbing 360 ms an hour, the CPU 20 points: both printed, neither fails the run.
    const t = table(run((tSec) => 12 + tSec / 180));
    assert.match(
      row(t.lines, 'loopP99Ms') ?? '',
      /\| 360\.00 ± [\d.]+ \| - \| shown, not judged: wall time, follows the load \|$/,
    );
    assert.match(
      row(t.lines, 'cpuPct') ?? '',
      /\| 20\.00 ± [\d.]+ \| - \| shown, not judged: follows the load \|$/,
    );
    assert.equal(t.growing, 0);
  });

  it('still judges memory and handles', () => {
    const r = run(() => 12);
    // One handle more every two minutes: 30 an hour.
    r.samples = r.samples.map((s) => ({ ...s, handles: 20 + Math.floor(s.tSec / 120) }));
    const t = table(r);
    assert.match(row(t.lines, 'handles') ?? '', /\| growing \|$/);
    assert.match(row(t.lines, 'rssMiB') ?? '', /\| flat \|$/);
    assert.equal(t.growing, 1);
  });

  it('leaves a sample without the figure out of that row, not as zero', () => {
    const gaps = table(run((t) => (t % 60 === 0 ? undefined : 12)));
    assert.match(row(gaps.lines, 'cpuPct') ?? '', /\| 0\.00 ± 0\.00 \| - \|/);
  });

  it("fits the plugin host's memory within each host process, so renewals do not hide its growth", () => {
    // An hour of one daemon life; its plugin host renewed at 20 and 40 minutes, each host
    // growing 60 MiB an hour from 100 MiB: a sawtooth that a fit over the daemon's life reads as
    // nearly flat.
    const r = run(() => 12, 60);
    r.samples = r.samples.map((s) => {
      const host = Math.floor(s.tSec / 1200);
      return { ...s, childPid: 5000 + host, childRssMiB: 100 + (60 * (s.tSec - host * 1200)) / 3600 };
    });
    assert.match(
      row(table(r).lines, 'childRssMiB') ?? '',
      /\| 60\.00 ± [\d.]+ \| 16\/h \(8\) \| growing \|$/,
    );
    // The same samples without the host's pid (a record kept before it was sampled).
    const old = { ...r, samples: r.samples.map(({ childPid: _, ...s }) => s) };
    assert.match(row(table(old).lines, 'childRssMiB') ?? '', /\| flat \|$/);
  });

  it('gives the plugin host its quarter-hour to fill, and still calls a host that grows after it growing', () => {
    // The host of laptop-2 in the soak of 2026-12-07 02:48 UTC: its anonymous memory as the
    // least value of each 2 minutes, over a first daemon life of 10 minutes and a second of 20.
    const first = [49.4, 53.2, 55.5, 59.0, 61.9];
    const second = [44.4, 53.9, 56.3, 59.9, 62.4, 62.9, 63.7, 65.2, 65.6, 65.6];
    const floors = (tSec: number) =>
      tSec < 600 ? first[Math.floor(tSec / 120)]! : second[Math.min(9, Math.floor((tSec - 610) / 120))]!;
    const r = run(() => 12);
    r.samples = r.samples
      .filter((s) => s.tSec < 600 || s.tSec >= 610)
      .map((s) => ({
        ...s,
        life: s.tSec < 600 ? 0 : 1,
        childPid: s.tSec < 600 ? 31918 : 29388,
        childAnonMiB: floors(s.tSec),
      }));
    // Fitted from five minutes in, as the daemon is, this fill was called growing (29.2 MiB/h).
    const from5 = slopeFit(
      floorPerWindow(r.samples.map((s) => ({ tSec: s.tSec, value: s.childAnonMiB!, life: s.life }))),
      WARM_UP_SEC,
    );
    assert.ok(from5.perHour > 16, `fitted from 5 minutes: ${from5.perHour} MiB/h`);
    assert.match(row(table(r).lines, 'childAnonMiB') ?? '', /\| flat \|$/);
    // A host that goes on growing past its fill, 40 MiB an hour, over an hour-long life: growing.
    const leak = run(() => 12, 60);
    leak.samples = leak.samples.map((s) => ({
      ...s,
      childPid: 7000,
      childAnonMiB: Math.min(65, 45 + s.tSec / 45) + (40 * s.tSec) / 3600,
    }));
    assert.match(row(table(leak).lines, 'childAnonMiB') ?? '', /\| growing \|$/);
  });

  it('gives a restarted daemon a quarter-hour to fill, and still calls one that grows after it growing', () => {
    // A daemon SIGKILLed at 10 minutes and restarted into the running mesh, filling for 12
    // minutes as restarted daemons did in the soaks of 2026-12-07 (docs/soak.md, "A restarted
    // daemon's warm-up"), then level; its first life settled in 4.
    const fill = (sinceStart: number, minutes: number) => Math.min(sinceStart / 60, minutes) * 2.5;
    const withLife = (r: SoakRecord, rss: (s: Sample) => number) =>
      r.samples
        .filter((s) => s.tSec < 600 || s.tSec >= 610)
        .map((s) => {
          const life = s.tSec < 600 ? 0 : 1;
          return { ...s, life, rssMiB: rss({ ...s, life }) };
        });
    const filling = run(() => 12);
    filling.samples = withLife(filling, (s) =>
      s.life === 0 ? 120 + fill(s.tSec, 4) : 90 + fill(s.tSec - 610, 12),
    );
    // From 5 minutes into each life, as the first life is judged, the fill reads as a leak.
    const points = filling.samples.map((s) => ({ tSec: s.tSec, value: s.rssMiB, life: s.life }));
    const from5 = slopeFit(floorPerWindow(points), WARM_UP_SEC);
    assert.ok(from5.perHour > 16, `fitted from 5 minutes: ${from5.perHour} MiB/h`);
    assert.match(row(table(filling).lines, 'rssMiB') ?? '', /\| flat \|$/);
    // The same fill in a 45-minute run, then 40 MiB an hour more for the rest of that life.
    const leaking = run(() => 12, 45);
    leaking.samples = withLife(leaking, (s) =>
      s.life === 0 ? 120 + fill(s.tSec, 4) : 90 + fill(s.tSec - 610, 12) + (40 * (s.tSec - 610)) / 3600,
    );
    assert.match(row(table(leaking).lines, 'rssMiB') ?? '', /\| growing \|$/);
    // A first life is still fitted from its fifth minute: the same 12-minute fill in a daemon
    // that was never restarted reads as growth.
    const unrestarted = run(() => 12);
    unrestarted.samples = unrestarted.samples.map((s) => ({ ...s, rssMiB: 90 + fill(s.tSec, 12) }));
    assert.match(row(table(unrestarted).lines, 'rssMiB') ?? '', /\| growing \|$/);
  });

  it('has no CPU row for a record kept before the CPU was sampled', () => {
    const t = table(run(() => undefined));
    assert.equal(row(t.lines, 'cpuPct'), undefined);
    assert.ok(row(t.lines, 'loopP99Ms'));
  });
});
