import { withGetters } from '../fast-object.ts';
import type { Change } from './store.ts';

// The change subscribers of the store and of the fade view. Most want every batch. A few care
// about one or two paths (the tempo, the timeline, the master) and, called for every OSC write,
// each cost a call and a loop for nothing (issue 18: subscribers that record nothing cost
// nothing). Those name their paths and are passed over, with no call, for a batch that touches
// none of them. Everyone is called in the order they subscribed, as before.

export type ChangeListener = (changes: readonly Change[]) => void;

export type SubscribeOptions = {
  /** Only batches with a change to one of these paths; the whole batch is passed, as to anyone. */
  readonly paths?: readonly string[];
};

export type Subscribers = {
  /** The same listener twice is one subscription (the first one's paths). */
  add(fn: ChangeListener, opts?: SubscribeOptions): () => void;
  /** A listener that throws goes to `onError`; the others are still called. */
  notify(changes: readonly Change[]): void;
  readonly size: number;
};

type Sub = { readonly fn: ChangeListener; readonly paths: ReadonlySet<string> | undefined };

export function createSubscribers(onError?: (err: unknown) => void): Subscribers {
  const subs = new Map<ChangeListener, Sub>();
  // How many path-bound subscribers name each path: one lookup a change tells a batch that
  // concerns none of them, the usual case, from one that concerns some.
  const watched = new Map<string, number>();

  const touches = (changes: readonly Change[], paths: ReadonlySet<string>) => {
    for (const c of changes) if (paths.has(c.path)) return true;
    return false;
  };

  return withGetters(
    {
      add(fn: ChangeListener, opts?: SubscribeOptions) {
        if (subs.has(fn)) return () => {};
        const sub: Sub = { fn, paths: opts?.paths ? new Set(opts.paths) : undefined };
        subs.set(fn, sub);
        for (const p of sub.paths ?? []) watched.set(p, (watched.get(p) ?? 0) + 1);
        return () => {
          if (subs.get(fn) !== sub) return;
          subs.delete(fn);
          for (const p of sub.paths ?? []) {
            const n = watched.get(p)! - 1;
            if (n > 0) watched.set(p, n);
            else watched.delete(p);
          }
        };
      },
      notify(changes: readonly Change[]) {
        let hit = false;
        if (watched.size > 0)
          for (const c of changes)
            if (watched.has(c.path)) {
              hit = true;
              break;
            }
        for (const s of subs.values()) {
          if (s.paths !== undefined && !(hit && touches(changes, s.paths))) continue;
          try {
            s.fn(changes);
          } catch (err) {
            onError?.(err);
          }
        }
      },
    },
    { size: () => subs.size },
  );
}
