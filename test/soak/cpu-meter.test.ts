import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { createCpuMeter } from './cpu-meter.ts';

// The soak's CPU figure is what the kernel counted for the process, compared here with what the
// process itself counted (getrusage) over the same stretch: no wall-time threshold, so a loaded
// machine only makes both smaller together.

/** Spins until this process has used `ms` of CPU more (all its threads, as /proc counts). */
function burn(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const d = process.cpuUsage(start);
    if ((d.user + d.system) / 1000 >= ms) return;
  }
}

describe('soak CPU meter', () => {
  it('reads the CPU a process used between two reads, as a share of one core', async () => {
    const meter = createCpuMeter();
    await meter.percent(process.pid);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    // A second of CPU, so that being descheduled between the meter's reads and this test's own
    // (a loaded machine) moves the two figures apart by a small fraction, not a large one.
    burn(1_000);
    await new Promise((r) => setTimeout(r, 100));
    const pct = await meter.percent(process.pid);
    const used = process.cpuUsage(c0);
    const expected = (100 * (used.user + used.system)) / 1000 / (performance.now() - t0);
    // /proc counts in 10 ms ticks and /proc/uptime in 10 ms steps: a few points either way.
    assert.ok(
      pct !== undefined && Math.abs(pct - expected) < 12,
      `meter ${pct} %, getrusage ${expected.toFixed(1)} %`,
    );
  });

  it('counts a process it has not read before from its start, and a gone one as undefined', async () => {
    const meter = createCpuMeter();
    // A child that burns CPU and then waits to be read.
    const child = spawn(
      process.execPath,
      [
        '-e',
        'const s=process.cpuUsage();for(;;){const d=process.cpuUsage(s);if(d.user+d.system>=200000)break}console.log("done");setInterval(()=>{},1000)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await once(child.stdout!, 'data');
      const pct = await meter.percent(child.pid!);
      assert.ok(pct !== undefined && pct > 0, `a child that used 200 ms of CPU: ${pct} %`);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    assert.equal(await meter.percent(child.pid!), undefined);
  });
});
