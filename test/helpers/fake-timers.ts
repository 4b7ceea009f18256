import type { Timers } from '../../daemon/timers.ts';

// A deterministic clock for code that takes injected Timers and `now`: time moves only when a
// test says so, and every timer still pending can be counted (a leak shows as a growing count).

export type FakeClock = {
  readonly timers: Timers;
  now(): number;
  /** Timers set and not yet fired or cleared. */
  pending(): number;
  /** Moves time forward, firing due timers in order; `between` runs after each (e.g. to flush I/O). */
  advance(ms: number, between?: () => Promise<void>): Promise<void>;
};

export function createFakeClock(start = 1_700_000_000_000): FakeClock {
  let t = start;
  let seq = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    set(delay, fn) {
      const id = ++seq;
      due.set(id, { at: t + Math.max(0, delay), fn });
      return id;
    },
    clear(h) {
      due.delete(h as number);
    },
  };
  return {
    timers,
    now: () => t,
    pending: () => due.size,
    async advance(ms, between) {
      const end = t + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const e of due) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
        if (!next) break;
        due.delete(next[0]);
        t = Math.max(t, next[1].at);
        next[1].fn();
        if (between) await between();
      }
      t = end;
    },
  };
}
