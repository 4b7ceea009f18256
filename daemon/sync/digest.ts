import type { Value } from '../state/coerce.ts';
import type { Stamp } from '../state/hlc.ts';
import { valueKey } from '../state/write-order.ts';
import type { BucketDigest } from './v2/messages.ts';
import { MAX_BUCKETS } from './v2/messages.ts';

// Anti-entropy digest: the state's (path, stamp, value) triples folded into 64 buckets by path.
// A bucket's hash is the XOR of its entries' 64-bit hashes, so one write updates it in O(1)
// (XOR out the old triple, XOR in the new) and two daemons holding the same winners hold the
// same digest whatever order the writes came in. The value is hashed too: an origin that signs
// two values under one stamp (equivocation) would otherwise leave two daemons with equal
// digests and different values for good. Entries still at their declared default (never
// written) are left out: two daemons that never touched a path agree on it whether or not both
// declare it.
//
// The hash is two 32-bit FNV-1a lanes with different offsets, not a cryptographic hash: a
// peer that wants to hide a difference from us can simply not answer a request, so a forgery-
// resistant digest would buy nothing.

export const BUCKETS = MAX_BUCKETS;

type Lanes = { hi: number; lo: number };

function fnv(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function bucketOf(path: string): number {
  return fnv(path, 0x811c9dc5) % BUCKETS;
}

function entryLanes(path: string, stamp: Stamp, value: Value): Lanes {
  const text = `${path}\u0000${stamp.t}\u0000${stamp.c}\u0000${stamp.node}\u0000${valueKey(value)}`;
  return { hi: fnv(text, 0x811c9dc5), lo: fnv(text, 0x3b9aca07) };
}

const isDefault = (s: Stamp) => s.t === 0 && s.c === 0 && s.node === '';

export type StateDigest = {
  /** Records path's current winning write (the digest remembers the one it replaces). */
  update(path: string, next: Stamp, value: Value): void;
  snapshot(): { count: number; hash: bigint; buckets: BucketDigest[] };
  /** Buckets whose count or hash differ from the peer's. */
  differing(peer: readonly BucketDigest[]): number[];
};

export function createStateDigest(): StateDigest {
  const held = new Map<string, { stamp: Stamp; value: Value }>();
  const counts = new Array<number>(BUCKETS).fill(0);
  const hi = new Array<number>(BUCKETS).fill(0);
  const lo = new Array<number>(BUCKETS).fill(0);

  const fold = (path: string, w: { stamp: Stamp; value: Value }, sign: 1 | -1) => {
    const b = bucketOf(path);
    const l = entryLanes(path, w.stamp, w.value);
    hi[b] = (hi[b]! ^ l.hi) >>> 0;
    lo[b] = (lo[b]! ^ l.lo) >>> 0;
    counts[b]! += sign;
  };
  const bucketHash = (b: number) => (BigInt(hi[b]!) << 32n) | BigInt(lo[b]!);

  return {
    update(path, stamp, value) {
      const previous = held.get(path);
      if (previous && !isDefault(previous.stamp)) fold(path, previous, -1);
      const next = { stamp, value };
      held.set(path, next);
      if (!isDefault(stamp)) fold(path, next, 1);
    },
    snapshot() {
      const buckets: BucketDigest[] = [];
      let count = 0;
      let hash = 0n;
      for (let b = 0; b < BUCKETS; b++) {
        const h = bucketHash(b);
        buckets.push({ count: counts[b]!, hash: h });
        count += counts[b]!;
        hash ^= h;
      }
      return { count, hash, buckets };
    },
    differing(peer) {
      const out: number[] = [];
      for (let b = 0; b < BUCKETS; b++) {
        const p = peer[b];
        if (!p || p.count !== counts[b] || p.hash !== bucketHash(b)) out.push(b);
      }
      return out;
    },
  };
}
