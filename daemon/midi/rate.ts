// Per-key coalescing: the first value for a key goes out at once, later ones within the
// interval replace each other and the latest goes out when the interval ends. One fader's
// storm therefore costs one write per interval and never delays another fader's key.

import { withGetters } from '../fast-object.ts';
import { realTimers, type Timers } from '../timers.ts';

export { realTimers, type Timers } from '../timers.ts';

export type Coalescer<T> = {
  push(key: string, value: T): void;
  /** Pending values waiting for their interval (for status). */
  readonly pending: number;
  close(): void;
};

export function createCoalescer<T>(
  intervalMs: number,
  emit: (key: string, value: T) => void,
  now: () => number = () => performance.now(),
  timers: Timers = realTimers,
): Coalescer<T> {
  const last = new Map<string, number>();
  const waiting = new Map<string, { value: T; timer: unknown }>();

  function flush(key: string): void {
    const w = waiting.get(key);
    if (!w) return;
    waiting.delete(key);
    last.set(key, now());
    emit(key, w.value);
  }

  return withGetters(
    {
      push(key, value) {
        const w = waiting.get(key);
        if (w) {
          w.value = value;
          return;
        }
        const t = now();
        const since = t - (last.get(key) ?? Number.NEGATIVE_INFINITY);
        if (since >= intervalMs) {
          last.set(key, t);
          emit(key, value);
          return;
        }
        waiting.set(key, { value, timer: timers.set(intervalMs - since, () => flush(key)) });
      },
      close() {
        for (const w of waiting.values()) timers.clear(w.timer);
        waiting.clear();
      },
    } satisfies Omit<Coalescer<T>, 'pending'>,
    { pending: () => waiting.size },
  );
}
