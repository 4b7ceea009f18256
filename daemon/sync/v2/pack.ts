import { type Batch, MAX_ENTRY_LIST_BYTES } from './batch.ts';
import { encodeSync, snapshotPartSize } from './codec.ts';
import { encodeEntryList, entryListSize, entrySize, type SyncEntry } from './entries.ts';
import { MAX_SYNC_BYTES } from './messages.ts';

// Packing writes into signed batches and batches into datagrams. A batch is signed once for as
// many entries as one datagram holds, which keeps the signature's cost per update small.

/** An entry in an `updates` batch, numbered per link so the receiver can acknowledge it. */
export type SyncUpdate = SyncEntry & { readonly seq: number };

/** Signs this daemon's entry list; the same list signed twice may come from a cache. */
export type SignList = (list: Uint8Array) => Uint8Array;

export type Grouped<E extends SyncEntry> = { groups: E[][]; skipped: Array<{ entry: E; error: string }> };

/** Splits entries, in order, into the fewest runs whose entry lists fit `maxListBytes`. */
export function groupEntries<E extends SyncEntry>(
  entries: readonly E[],
  maxListBytes = MAX_ENTRY_LIST_BYTES,
): Grouped<E> {
  const groups: E[][] = [];
  const skipped: Grouped<E>['skipped'] = [];
  let group: E[] = [];
  let bytes = 0;
  for (const e of entries) {
    let size: number;
    try {
      size = entrySize(e).total;
    } catch (err) {
      skipped.push({ entry: e, error: (err as Error).message });
      continue;
    }
    if (entryListSize(1, size) > maxListBytes) {
      skipped.push({
        entry: e,
        error: `an update to ${e.path} needs ${entryListSize(1, size)} bytes alone, more than ${maxListBytes}`,
      });
      continue;
    }
    if (group.length > 0 && entryListSize(group.length + 1, bytes + size) > maxListBytes) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(e);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return { groups, skipped };
}

export function signBatch(origin: string, entries: readonly SyncEntry[], sign: SignList): Batch {
  const list = encodeEntryList(entries, MAX_ENTRY_LIST_BYTES);
  return { origin, list, sig: sign(list) };
}

/**
 * This daemon's updates as `updates` datagrams, one signed batch each. The updates must be
 * numbered consecutively (the outbox numbers each flush that way): a datagram says only its
 * first number. Throws RangeError for an entry that cannot fit a datagram alone.
 */
export function packUpdates(updates: readonly SyncUpdate[], self: string, sign: SignList): Uint8Array[] {
  const { groups, skipped } = groupEntries(updates);
  if (skipped.length > 0) throw new RangeError(skipped[0]!.error);
  return groups.map((g) => {
    g.forEach((u, i) => {
      if (u.seq !== g[0]!.seq + i)
        throw new RangeError('updates in one datagram must be numbered consecutively');
    });
    return encodeSync({ kind: 'updates', firstSeq: g[0]!.seq, batch: signBatch(self, g, sign) }, self);
  });
}

/** Fills `snapshot-part` messages with whole batches, in order. */
export function packSnapshot(
  id: number,
  batches: readonly Batch[],
  self: string,
  maxBytes = MAX_SYNC_BYTES,
): Uint8Array[] {
  const groups: Batch[][] = [];
  let group: Batch[] = [];
  for (const b of batches) {
    if (group.length > 0 && (group.length === 255 || snapshotPartSize([...group, b], self) > maxBytes)) {
      groups.push(group);
      group = [];
    }
    group.push(b);
  }
  if (group.length > 0 || groups.length === 0) groups.push(group);
  if (groups.length > 0xffff) throw new RangeError(`a snapshot of ${groups.length} parts exceeds 65535`);
  return groups.map((g, part) =>
    encodeSync({ kind: 'snapshot-part', id, part, parts: groups.length, batches: g }, self),
  );
}
