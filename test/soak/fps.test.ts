import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fpsSummary, fpsTable } from './fps.ts';
import { pageLines, renewalLines } from './report.ts';
import type { PluginSample, Sample } from './sample.ts';

// The soak's frame report: rates from the frames counter between samples, totals across a
// daemon's restart (its counters start again at zero), and intervals without a page left out.

const plugin = (id: string, frames: number, overruns: number, extra: Partial<PluginSample> = {}) => ({
  id,
  state: 'running' as const,
  fps: 60,
  cpuMs: 2,
  frames,
  overruns,
  starved: 0,
  throttled: 0,
  restarts: 0,
  ...extra,
});

const sample = (tSec: number, life: number, plugins: PluginSample[], pages = 1, laptop = 0): Sample => ({
  tSec,
  laptop,
  life,
  pid: 100 + life,
  rssMiB: 150,
  childRssMiB: 110,
  fds: 30,
  handles: 20,
  timers: 9,
  heapMiB: 40,
  loopP99Ms: 20,
  linked: 2,
  pages,
  plugins,
});

describe('soak fps summary', () => {
  it('takes each interval’s rate from the frames counter and the mean over all of them', () => {
    const rows = fpsSummary(
      [
        sample(0, 0, [plugin('a', 0, 0)]),
        sample(10, 0, [plugin('a', 600, 1)]),
        sample(20, 0, [plugin('a', 1000, 3)]), // 40 fps in this interval
        sample(30, 0, [plugin('a', 1600, 3)]),
      ],
      1,
    );
    assert.equal(rows.length, 1);
    const r = rows[0]!;
    assert.equal(r.minFps, 40);
    assert.ok(Math.abs(r.meanFps! - 1600 / 30) < 1e-9);
    assert.equal(r.intervals, 3);
    assert.equal(r.frames, 1600);
    assert.equal(r.overruns, 3);
    assert.ok(Math.abs(r.per1000! - 3000 / 1600) < 1e-9);
    assert.equal(r.cpuMs, 2);
  });

  it('adds each life’s counters and never takes an interval across a restart', () => {
    const rows = fpsSummary(
      [
        sample(0, 0, [plugin('a', 100, 2)]),
        sample(10, 0, [plugin('a', 700, 5)]),
        // SIGKILL and restart: counters start again from zero, lower than before.
        sample(30, 1, [plugin('a', 50, 0)]),
        sample(40, 1, [plugin('a', 650, 1)]),
      ],
      1,
    );
    const r = rows[0]!;
    assert.equal(r.frames, 700 + 650);
    assert.equal(r.overruns, 5 + 1);
    assert.equal(r.intervals, 2, 'the interval across the restart is not one');
    assert.equal(r.minFps, 60);
    assert.equal(r.meanFps, 60);
  });

  it('leaves out intervals with no page watching, and counts their seconds', () => {
    const rows = fpsSummary(
      [
        sample(0, 0, [plugin('a', 0, 0)]),
        sample(10, 0, [plugin('a', 0, 0)], 0), // paused: no page
        sample(20, 0, [plugin('a', 0, 0)]),
        sample(30, 0, [plugin('a', 300, 0)]),
      ],
      1,
    );
    const r = rows[0]!;
    assert.equal(r.unwatchedSec, 20);
    assert.equal(r.intervals, 1);
    assert.equal(r.minFps, 30);
  });

  it('gives a row per laptop and plugin, and says "-" where nothing was measured', () => {
    const rows = fpsSummary(
      [
        sample(0, 0, [plugin('hana.examples.b', 0, 0), plugin('hana.examples.a', 0, 0)]),
        sample(10, 0, [plugin('hana.examples.b', 0, 0, { state: 'quarantined', cpuMs: 0 })]),
        sample(0, 0, [plugin('hana.examples.a', 7, 0, { cpuMs: 0 })], 1, 1),
      ],
      2,
    );
    assert.deepEqual(
      rows.map((r) => [r.laptop, r.plugin]),
      [
        [0, 'hana.examples.a'],
        [0, 'hana.examples.b'],
        [1, 'hana.examples.a'],
      ],
    );
    const lines = fpsTable(rows);
    assert.equal(lines.length, 2 + 3);
    assert.match(lines[2]!, /^\| laptop-1 \| a \| - \| - \| 0 \| 0 \| - \| 0 \| 2\.00 \| 0 \|$/);
    assert.match(lines[4]!, /^\| laptop-2 \| a \| - \| - \| 7 \| 0 \| 0\.00 \| 0 \| - \| 0 \|$/);
  });

  it('reads records without plugin samples (older soaks) as no rows', () => {
    const old = { ...sample(0, 0, []), plugins: undefined };
    assert.deepEqual(fpsSummary([old], 1), []);
  });

  it('tells restarts the page came back from apart from other reconnects', () => {
    assert.deepEqual(
      pageLines([
        { laptop: 0, connects: 1, reconnectSec: [], lost: 0 },
        { laptop: 1, connects: 3, reconnectSec: [2.34], lost: 0 },
        { laptop: 2, connects: 1, reconnectSec: [], lost: 1 },
      ]),
      [
        "laptop-1's page: 1 connections; 0 daemon restart(s), reconnected after -; 0 other reconnect(s)",
        "laptop-2's page: 3 connections; 1 daemon restart(s), reconnected after 2.3 s; 1 other reconnect(s)",
        "laptop-3's page: 1 connections; 1 daemon restart(s), reconnected after -, 1 not back; 0 other reconnect(s)",
      ],
    );
  });
});

describe('soak renewal report', () => {
  it("sums planned renewals over a laptop's lives (the counter starts again with each daemon) and skips old records", () => {
    const at = (tSec: number, life: number, hostRenewals: number | undefined, laptop = 0): Sample => ({
      ...sample(tSec, life, [], 1, laptop),
      ...(hostRenewals !== undefined && { hostRenewals }),
    });
    const samples = [
      at(10, 0, 0),
      at(20, 0, 1),
      at(30, 0, 2),
      at(40, 1, 0),
      at(50, 1, 1),
      at(10, 0, undefined, 1),
    ];
    assert.deepEqual(renewalLines(samples, 2), [
      "laptop-1's plugin host: 3 planned renewal(s) (2 + 1 over 2 daemon life/lives)",
    ]);
  });
});
