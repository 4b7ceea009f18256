import { readFile } from 'node:fs/promises';

// CPU a process used between two samples, as a share of one core: utime + stime from
// /proc/<pid>/stat (all its threads), so it counts what the process did and not how long the
// machine made it wait. Sampled beside the event-loop delay, and, like it, printed and plotted
// but not judged: on a crowded laptop it moved with the load too (docs/soak.md, "Loop delay and
// CPU").

const TICKS_PER_SEC = 100; // USER_HZ on Linux

type Reading = { ticks: number; startTicks: number };

async function read(pid: number): Promise<Reading | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  // Fields after the command name (which may hold spaces) start at ')'; utime is field 14.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ticks: Number(f[11]) + Number(f[12]), startTicks: Number(f[19]) };
}

async function uptimeSec(): Promise<number> {
  return Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
}

export type CpuMeter = {
  /**
   * Percent of one core `pid` used since this meter last read it, or since it started when
   * this is the first read (a plugin host renewed between two samples counts from its start).
   * Undefined for a process that is gone.
   */
  percent(pid: number): Promise<number | undefined>;
};

export function createCpuMeter(): CpuMeter {
  const last = new Map<number, { ticks: number; atSec: number; startTicks: number }>();
  return {
    async percent(pid) {
      const [r, now] = await Promise.all([read(pid), uptimeSec()]);
      if (!r) {
        last.delete(pid);
        return undefined;
      }
      const prev = last.get(pid);
      // A pid reused by a new process has another start time: read it as new.
      const same = prev && prev.startTicks === r.startTicks;
      const fromTicks = same ? prev.ticks : 0;
      const fromSec = same ? prev.atSec : r.startTicks / TICKS_PER_SEC;
      last.set(pid, { ticks: r.ticks, atSec: now, startTicks: r.startTicks });
      const sec = now - fromSec;
      if (sec <= 0) return undefined;
      return Math.round(((100 * (r.ticks - fromTicks)) / TICKS_PER_SEC / sec) * 10) / 10;
    },
  };
}
