import { utf8Bytes, varintLength } from './bytes.ts';
import { encodeSync } from './codec.ts';
import { entrySize, MAX_NODE_BYTES, MAX_NODES, type SyncEntry } from './entries.ts';
import { MAX_SYNC_BYTES } from './messages.ts';

// Splits entries into `snapshot-part` messages of at most maxBytes. Parts carry their index and
// the total so a receiver can tell how much it got; the receiver merges each part on its own
// (entries are independent registers), and anti-entropy repairs any part lost on the way.

/** Type, u32 id, u16 part, u16 parts, node count. */
const FIXED = 1 + 4 + 2 + 2 + 1;
export const MAX_PARTS = 0xffff;

export type PackedSnapshot = { parts: Uint8Array[]; skipped: Array<{ path: string; error: string }> };

export function packSnapshot(
  id: number,
  entries: readonly SyncEntry[],
  maxBytes = MAX_SYNC_BYTES,
): PackedSnapshot {
  const groups: SyncEntry[][] = [];
  const skipped: PackedSnapshot['skipped'] = [];
  let group: SyncEntry[] = [];
  let nodes = new Set<string>();
  let size = 0;
  const nodeCost = (node: string) =>
    nodes.has(node) ? 0 : 1 + utf8Bytes(node, MAX_NODE_BYTES, 'node').length;
  const fits = (n: number, add: number) => FIXED + varintLength(n) + size + add <= maxBytes;

  for (const e of entries) {
    let cost: number;
    try {
      cost = entrySize(e, null).total;
    } catch (err) {
      skipped.push({ path: e.path, error: (err as Error).message });
      continue;
    }
    let add = cost + nodeCost(e.stamp.node);
    const tooMany = !nodes.has(e.stamp.node) && nodes.size === MAX_NODES;
    if (group.length > 0 && (tooMany || !fits(group.length + 1, add))) {
      groups.push(group);
      group = [];
      nodes = new Set();
      size = 0;
      add = cost + nodeCost(e.stamp.node);
    }
    if (!fits(1, add)) {
      skipped.push({ path: e.path, error: `needs ${FIXED + 1 + add} bytes alone, more than ${maxBytes}` });
      continue;
    }
    group.push(e);
    nodes.add(e.stamp.node);
    size += add;
  }
  if (group.length > 0 || groups.length === 0) groups.push(group);
  if (groups.length > MAX_PARTS)
    throw new RangeError(`a snapshot of ${groups.length} parts exceeds ${MAX_PARTS}`);
  const parts = groups.map((g, part) =>
    encodeSync({ kind: 'snapshot-part', id, part, parts: groups.length, entries: g }),
  );
  return { parts, skipped };
}
