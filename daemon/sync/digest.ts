import { withGetters } from '../fast-object.ts';
import type { Value } from '../state/coerce.ts';
import type { Stamp } from '../state/hlc.ts';
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
// The hash is two 32-bit lanes, not a cryptographic hash: a peer that wants to hide a difference
// from us can simply not answer a request, so a forgery-resistant digest would buy nothing.
//
// Every OSC write passes through here, so a write allocates nothing and hashes no text it has
// hashed before: a path's hashes and bucket are computed once and kept with the path's entry,
// a node ID's once and interned, and the stamp and value are mixed in as numbers (issue 18
// profiled the former string-building update at 1.06 µs, 35 % of ingest). Strings values are
// the one input hashed per write, over their characters only. Nobody reads the digest while no
// peer is linked, so it can be paused then (update returns at once) and rebuilt from the
// winners when the first link comes.

export const BUCKETS = MAX_BUCKETS;

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

const SEED_HI = 0x811c9dc5;
const SEED_LO = 0x3b9aca07;

// murmur3's 32-bit block mix and finaliser: each input word moves every output bit.
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Numbers are mixed in by their IEEE-754 bits, so 0 and −0 (which the store keeps apart) hash
// apart, through one shared scratch word pair rather than a fresh buffer per write.
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** The per-lane words of a value: a type tag and two data words (a string's: its two hashes). */
function mixValue(h: number, v: Value, lane: 0 | 1): number {
  if (v === null) return mix(h, 1);
  if (typeof v === 'boolean') return mix(mix(h, 2), v ? 1 : 0);
  if (typeof v === 'number') {
    f64[0] = v;
    return mix(mix(mix(h, 3), u32[0]!), u32[1]!);
  }
  return mix(mix(mix(h, 4), fnv(v, lane === 0 ? SEED_HI : SEED_LO)), v.length);
}

type Interned = { readonly hi: number; readonly lo: number };
/** Node IDs are device IDs, a handful per ensemble; the cap only bounds a pathological stream. */
const MAX_NODES = 4096;

type PathEntry = {
  readonly bucket: number;
  readonly pathHi: number;
  readonly pathLo: number;
  /** Whether the current winner is folded in (false while at its default), and its lanes. */
  counted: boolean;
  hi: number;
  lo: number;
};

export type DigestEntry = { readonly path: string; readonly stamp: Stamp; readonly value: Value };

export type StateDigest = {
  /** Records path's current winning write (the digest remembers the one it replaces). */
  update(path: string, next: Stamp, value: Value): void;
  snapshot(): { count: number; hash: bigint; buckets: BucketDigest[] };
  /** Buckets whose count or hash differ from the peer's. */
  differing(peer: readonly BucketDigest[]): number[];
  /** Stops tracking: update() does nothing until resume(). For while no peer reads the digest. */
  pause(): void;
  /** Starts tracking again from every current winner (what update() would have been told). */
  resume(winners: Iterable<DigestEntry>): void;
  readonly active: boolean;
};

const isDefault = (s: Stamp) => s.t === 0 && s.c === 0 && s.node === '';

export function createStateDigest(): StateDigest {
  const paths = new Map<string, PathEntry>();
  const nodes = new Map<string, Interned>();
  const counts = new Array<number>(BUCKETS).fill(0);
  const hi = new Array<number>(BUCKETS).fill(0);
  const lo = new Array<number>(BUCKETS).fill(0);
  let active = true;

  const pathEntry = (path: string): PathEntry => {
    let e = paths.get(path);
    if (!e) {
      e = {
        bucket: bucketOf(path),
        pathHi: fnv(path, SEED_HI),
        pathLo: fnv(path, SEED_LO),
        counted: false,
        hi: 0,
        lo: 0,
      };
      paths.set(path, e);
    }
    return e;
  };

  const node = (id: string): Interned => {
    let n = nodes.get(id);
    if (!n) {
      if (nodes.size >= MAX_NODES) nodes.clear();
      n = { hi: fnv(id, SEED_HI), lo: fnv(id, SEED_LO) };
      nodes.set(id, n);
    }
    return n;
  };

  function update(path: string, stamp: Stamp, value: Value): void {
    const e = pathEntry(path);
    const b = e.bucket;
    if (e.counted) {
      hi[b] = (hi[b]! ^ e.hi) >>> 0;
      lo[b] = (lo[b]! ^ e.lo) >>> 0;
      counts[b]!--;
      e.counted = false;
    }
    if (isDefault(stamp)) return;
    const n = node(stamp.node);
    f64[0] = stamp.t;
    const t0 = u32[0]!;
    const t1 = u32[1]!;
    e.hi = finish(mixValue(mix(mix(mix(mix(mix(SEED_HI, e.pathHi), t0), t1), stamp.c), n.hi), value, 0));
    e.lo = finish(mixValue(mix(mix(mix(mix(mix(SEED_LO, e.pathLo), t0), t1), stamp.c), n.lo), value, 1));
    e.counted = true;
    hi[b] = (hi[b]! ^ e.hi) >>> 0;
    lo[b] = (lo[b]! ^ e.lo) >>> 0;
    counts[b]!++;
  }

  const bucketHash = (b: number) => (BigInt(hi[b]!) << 32n) | BigInt(lo[b]!);

  return withGetters(
    {
      update(path, stamp, value) {
        if (active) update(path, stamp, value);
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
      pause() {
        active = false;
      },
      resume(winners) {
        // From nothing: whatever was folded in before the pause may have been replaced since.
        counts.fill(0);
        hi.fill(0);
        lo.fill(0);
        for (const e of paths.values()) e.counted = false;
        for (const w of winners) update(w.path, w.stamp, w.value);
        active = true;
      },
    } satisfies Omit<StateDigest, 'active'>,
    { active: () => active },
  );
}
