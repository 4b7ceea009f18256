import { withGetters } from '../fast-object.ts';
import { compareWrites } from '../state/write-order.ts';
import type { Batch } from './v2/batch.ts';
import type { SyncEntry } from './v2/entries.ts';

// Entries for paths this daemon does not declare. They are not applied (nothing here knows
// their type or range) and not dropped either: they are kept with the origin's signed batch,
// shown to the operator, counted in the digest so two daemons that disagree only on
// declarations stop re-requesting them, and passed on (batch unchanged) to peers that do
// declare the path. Bounded: past `max` paths, new ones are refused and counted, never
// growing memory.

export type ForeignEntry = SyncEntry & { from: string; at: number; batch: Batch };

export type ForeignTable = {
  /** Keeps the entry if its path is new (room permitting) or it ranks higher. Returns whether it changed. */
  offer(
    entry: SyncEntry,
    batch: Batch,
    from: string,
    at: number,
  ): { changed: boolean; previous?: SyncEntry; full?: boolean };
  get(path: string): ForeignEntry | undefined;
  entries(): IterableIterator<ForeignEntry>;
  readonly size: number;
};

export function createForeignTable(max: number): ForeignTable {
  const table = new Map<string, ForeignEntry>();
  return withGetters(
    {
      offer(entry, batch, from, at) {
        const previous = table.get(entry.path);
        if (!previous && table.size >= max) return { changed: false, full: true };
        if (previous && compareWrites(entry, previous) <= 0) return { changed: false };
        // The person's mark is part of the entry's rank (write-order.ts): dropped, two daemons that
        // saw the same entries in another order would keep different ones, and swap them for good.
        table.set(
          entry.path,
          entry.human
            ? { path: entry.path, value: entry.value, stamp: entry.stamp, human: true, from, at, batch }
            : { path: entry.path, value: entry.value, stamp: entry.stamp, from, at, batch },
        );
        return { changed: true, ...(previous && { previous }) };
      },
      get: (path) => table.get(path),
      entries: () => table.values(),
    } satisfies Omit<ForeignTable, 'size'>,
    { size: () => table.size },
  );
}
