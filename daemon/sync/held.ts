import { withGetters } from '../fast-object.ts';
import { compareStamps } from '../state/hlc.ts';
import { compareWrites } from '../state/write-order.ts';
import type { Batch } from './v2/batch.ts';
import type { SyncEntry } from './v2/entries.ts';

// Writes whose origin is not paired here yet, or whose certificate has not arrived: not
// applied, not lost. Like undeclared paths they wait aside, bounded; once the origin is
// trusted (or its key is known) they are judged again, oldest stamp first, as if they had just
// arrived. Per origin and path only the newest write is worth keeping.

export type HeldWrite = { entry: SyncEntry; batch: Batch; from: string };

export type HeldTable = {
  /** Keeps the write; false when the table is full and it was dropped. */
  offer(w: HeldWrite): boolean;
  /** Removes and returns, in stamp order, the writes of every origin `ready` accepts. */
  release(ready: (origin: string) => boolean): HeldWrite[];
  /** Forgets an origin's writes (blocked: nothing of it will ever apply). */
  drop(origin: string): number;
  origins(): string[];
  readonly size: number;
};

export function createHeldTable(max: number): HeldTable {
  const byOrigin = new Map<string, Map<string, HeldWrite>>();
  let size = 0;
  return withGetters(
    {
      offer(w) {
        const origin = w.entry.stamp.node;
        let paths = byOrigin.get(origin);
        const previous = paths?.get(w.entry.path);
        if (previous) {
          if (compareWrites(w.entry, previous.entry) > 0) paths!.set(w.entry.path, w);
          return true;
        }
        if (size >= max) return false;
        if (!paths) {
          paths = new Map();
          byOrigin.set(origin, paths);
        }
        paths.set(w.entry.path, w);
        size++;
        return true;
      },
      release(ready) {
        const out: HeldWrite[] = [];
        for (const [origin, paths] of byOrigin) {
          if (!ready(origin)) continue;
          out.push(...paths.values());
          size -= paths.size;
          byOrigin.delete(origin);
        }
        return out.sort((a, b) => compareStamps(a.entry.stamp, b.entry.stamp));
      },
      drop(origin) {
        const n = byOrigin.get(origin)?.size ?? 0;
        byOrigin.delete(origin);
        size -= n;
        return n;
      },
      origins: () => [...byOrigin.keys()],
    } satisfies Omit<HeldTable, 'size'>,
    { size: () => size },
  );
}
