import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SoakRecord, table } from './report.ts';
import type { Sample } from './sample.ts';

// The soak's table: which rows are judged. Loop delay is wall time and follows the machine's
// load; when the samples carry the daemon's CPU, that is judged instead and the delay is shown.

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

/** 30 minutes every 10 s, the loop delay climbing with the machine's load (60 → 240 ms). */
const run = (cpu: (tSec: number) => number | undefined): SoakRecord => ({
  opts: { durationSec: 1800, pullSec: 300, killSec: 600, everySec: 10, out: '/dev/null' },
  events: [],
  orphans: 0,
  minutes: 30,
  laptops: 1,
  oscRate: 200,
  samples: Array.from({ length: 181 }, (_, k) => {
    const tSec = k * 10;
    const c = cpu(tSec);
    return base(tSec, { loopP99Ms: 60 + tSec / 10, ...(c !== undefined && { cpuPct: c }) });
  }),
});

const row = (lines: string[], metric: string) => lines.find((l) => l.includes(`| ${metric} |`));

describe('soak report', () => {
  it('judges the loop delay when there is no CPU figure (an older record)', () => {
    const t = table(run(() => undefined));
    assert.match(row(t.lines, 'loopP99Ms') ?? '', /\| growing \|$/);
    assert.equal(t.growing, 1);
    assert.equal(row(t.lines, 'cpuPct'), undefined);
  });

  it('shows the loop delay unjudged and judges the CPU when the samples have it', () => {
    const flat = table(run((t) => 12 + (t % 30 === 0 ? 0.4 : -0.4)));
    assert.match(row(flat.lines, 'loopP99Ms') ?? '', /not judged \(wall time; see cpuPct\) \|$/);
    assert.match(row(flat.lines, 'cpuPct') ?? '', /\| flat \|$/);
    assert.equal(flat.growing, 0);
    // Work piling up: 12 % of a core rising to 22 % over the run.
    const rising = table(run((t) => 12 + t / 180));
    assert.match(row(rising.lines, 'cpuPct') ?? '', /\| growing \|$/);
    assert.equal(rising.growing, 1);
  });

  it('leaves a sample without the figure out of that row, not as zero', () => {
    const gaps = table(run((t) => (t % 60 === 0 ? undefined : 12)));
    assert.match(row(gaps.lines, 'cpuPct') ?? '', /\| 0\.00 ± 0\.00 \| .*\| flat \|$/);
  });
});
