import type { Timers } from '../../../plugins/runtime/engine.ts';

/** Timers that fire only when the test says: runNext() runs the oldest one set (one frame tick). */
export function manualTimers(): Timers & { runNext(): boolean; pending(): number[] } {
  const queue: { fn: () => void; id: number; delay: number }[] = [];
  let n = 0;
  return {
    set(delay, fn) {
      const id = ++n;
      queue.push({ fn, id, delay });
      return id;
    },
    /** The delays (ms) of the timers set and not yet run, oldest first. */
    pending: () => queue.map((q) => q.delay),
    clear(h) {
      const i = queue.findIndex((q) => q.id === h);
      if (i >= 0) queue.splice(i, 1);
    },
    runNext() {
      const next = queue.shift();
      next?.fn();
      return next !== undefined;
    },
  };
}
