// Timers injected wherever time matters (MIDI coalescing, the plugin frame loop), so tests can
// drive them deterministically.

export type Timers = {
  set(delayMs: number, fn: () => void): unknown;
  clear(handle: unknown): void;
};

export const realTimers: Timers = {
  set: (delay, fn) => setTimeout(fn, delay),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Real timers that do not keep the process alive (background saves: shutdown flushes them). */
export const unrefTimers: Timers = {
  set: (delay, fn) => setTimeout(fn, delay).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};
