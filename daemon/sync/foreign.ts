import { compareStamps } from '../state/hlc.ts';
import type { SyncEntry } from './v1/entries.ts';

// Entries for paths this daemon does not declare. They are not applied (nothing here knows
// their type or range) and not dropped either: they are kept, shown to the operator, counted in
// the digest so two daemons that disagree only on declarations stop re-requesting them, and
// passed on to peers that do declare the path. Bounded: past `max` paths, new ones are refused
// and counted, never growing memory.

export type ForeignEntry = SyncEntry & { from: string; at: number };

export type ForeignTable = {
  /** Keeps the entry if its path is new (room permitting) or its stamp newer. Returns whether it changed. */
  offer(
    entry: SyncEntry,
    from: string,
    at: number,
  ): { changed: boolean; previous?: SyncEntry; full?: boolean };
  get(path: string): ForeignEntry | undefined;
  entries(): IterableIterator<ForeignEntry>;
  readonly size: number;
};

export function createForeignTable(max: number): ForeignTable {
  const table = new Map<string, ForeignEntry>();
  return {
    offer(entry, from, at) {
      const previous = table.get(entry.path);
      if (!previous && table.size >= max) return { changed: false, full: true };
      if (previous && compareStamps(entry.stamp, previous.stamp) <= 0) return { changed: false };
      table.set(entry.path, { path: entry.path, value: entry.value, stamp: entry.stamp, from, at });
      return { changed: true, previous };
    },
    get: (path) => table.get(path),
    entries: () => table.values(),
    get size() {
      return table.size;
    },
  };
}
