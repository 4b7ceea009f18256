import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareStamps, type Stamp, ZERO_STAMP } from '../../../daemon/state/hlc.ts';
import { BUCKETS, bucketOf, createStateDigest, type StateDigest } from '../../../daemon/sync/digest.ts';
import { decodeSync, encodeSync } from '../../../daemon/sync/v1/codec.ts';
import { DEVICE_IDS } from './arbitraries.ts';

// The anti-entropy digest: the same winners give the same digest whatever order the writes came
// in (the XOR of the old pair really comes out), a changed path shows in exactly its bucket, and
// never-written defaults count for nothing.

type Write = { path: string; stamp: Stamp };

const arbWrite: fc.Arbitrary<Write> = fc.record({
  path: fc.oneof(
    fc.constantFrom('/tempo', '/layer/1/opacity', '/layer/2/hue', '/scene', '/ü/🎛️'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).map((s) => `/${s}`),
  ),
  stamp: fc.record({
    t: fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_050 }),
    c: fc.integer({ min: 0, max: 3 }),
    node: fc.constantFrom(...DEVICE_IDS),
  }),
});

/** What a store does: a write replaces the path's winner only if its stamp is higher. */
function applyLww(digest: StateDigest, winners: Map<string, Stamp>, w: Write): void {
  const current = winners.get(w.path) ?? ZERO_STAMP;
  if (compareStamps(w.stamp, current) <= 0) return;
  winners.set(w.path, w.stamp);
  digest.update(w.path, w.stamp);
}

function digestOf(writes: readonly Write[]): { digest: StateDigest; winners: Map<string, Stamp> } {
  const digest = createStateDigest();
  const winners = new Map<string, Stamp>();
  for (const w of writes) applyLww(digest, winners, w);
  return { digest, winners };
}

const stamp = (t: number, c = 0, node = DEVICE_IDS[0]!): Stamp => ({ t, c, node });

describe('state digest', () => {
  it('any permutation of the same writes gives the same digest, equal to one of the winners alone', () => {
    fc.assert(
      fc.property(
        fc
          .array(arbWrite, { minLength: 1, maxLength: 60 })
          .chain((writes) =>
            fc.tuple(fc.constant(writes), fc.shuffledSubarray(writes, { minLength: writes.length })),
          ),
        ([writes, shuffled]) => {
          const a = digestOf(writes);
          const b = digestOf(shuffled);
          assert.deepStrictEqual(b.digest.snapshot(), a.digest.snapshot());
          // Folding only the final winners gives the same: every replaced pair was XORed out.
          const fresh = createStateDigest();
          for (const [path, s] of a.winners) fresh.update(path, s);
          assert.deepStrictEqual(fresh.snapshot(), a.digest.snapshot());
          assert.deepEqual(a.digest.differing(b.digest.snapshot().buckets), []);
          assert.equal(a.digest.snapshot().count, a.winners.size);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a snapshot has one entry per bucket, whole count and hash the sum and XOR of them, and encodes', () => {
    const { digest } = digestOf([
      { path: '/a', stamp: stamp(1) },
      { path: '/b', stamp: stamp(2) },
      { path: '/c', stamp: stamp(3) },
    ]);
    const s = digest.snapshot();
    assert.equal(s.buckets.length, BUCKETS);
    assert.equal(
      s.count,
      s.buckets.reduce((n, b) => n + b.count, 0),
    );
    assert.equal(
      s.hash,
      s.buckets.reduce((h, b) => h ^ b.hash, 0n),
    );
    assert.equal(s.count, 3);
    const bytes = encodeSync({ kind: 'digest', count: s.count, hash: s.hash, buckets: s.buckets });
    assert.deepStrictEqual(decodeSync(bytes), { ok: true, msg: { kind: 'digest', ...s } });
  });

  it('differing names exactly the buckets of the paths that changed', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(arbWrite, { minLength: 1, maxLength: 80, selector: (w) => w.path }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (writes, picks) => {
          const a = digestOf(writes).digest;
          const b = digestOf(writes).digest;
          const changed = new Set<string>();
          for (const p of picks) {
            const w = writes[p % writes.length]!;
            b.update(w.path, { ...w.stamp, c: w.stamp.c + 10 });
            changed.add(w.path);
          }
          const expected = [...new Set([...changed].map(bucketOf))].sort((x, y) => x - y);
          assert.deepEqual(a.differing(b.snapshot().buckets), expected);
          assert.deepEqual(b.differing(a.snapshot().buckets), expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a path only one side holds shows as its bucket differing', () => {
    const a = createStateDigest();
    const b = createStateDigest();
    a.update('/x', stamp(5));
    assert.deepEqual(b.differing(a.snapshot().buckets), [bucketOf('/x')]);
    b.update('/x', stamp(5));
    assert.deepEqual(b.differing(a.snapshot().buckets), []);
  });

  it('a peer digest with missing buckets differs in every bucket it left out', () => {
    const a = createStateDigest();
    const short = a.snapshot().buckets.slice(0, 10);
    assert.deepEqual(
      a.differing(short),
      Array.from({ length: BUCKETS - 10 }, (_, i) => i + 10),
    );
    assert.equal(a.differing([]).length, BUCKETS);
  });

  it('entries at their declared default stamp are left out', () => {
    const empty = createStateDigest().snapshot();
    assert.deepStrictEqual(empty, {
      count: 0,
      hash: 0n,
      buckets: Array.from({ length: BUCKETS }, () => ({ count: 0, hash: 0n })),
    });
    const d = createStateDigest();
    for (const p of ['/a', '/b', '/c', '/tempo']) d.update(p, ZERO_STAMP);
    assert.deepStrictEqual(d.snapshot(), empty, 'defaults count for nothing');
    // A daemon that declares more (unwritten) paths agrees with one that declares fewer.
    const other = createStateDigest();
    other.update('/a', ZERO_STAMP);
    assert.deepEqual(d.differing(other.snapshot().buckets), []);
    // Once written, the path counts; the default it replaced is not XORed out (it was never in).
    d.update('/a', stamp(7));
    other.update('/a', stamp(7));
    assert.equal(d.snapshot().count, 1);
    assert.deepStrictEqual(d.snapshot(), other.snapshot());
    const direct = createStateDigest();
    direct.update('/a', stamp(7));
    assert.deepStrictEqual(d.snapshot(), direct.snapshot());
  });

  it('a stamp that differs only in writer, counter or time changes the hash', () => {
    const base = createStateDigest();
    base.update('/p', stamp(10, 0, DEVICE_IDS[0]));
    for (const s of [stamp(10, 0, DEVICE_IDS[1]), stamp(10, 1), stamp(11)]) {
      const d = createStateDigest();
      d.update('/p', s);
      assert.deepEqual(d.differing(base.snapshot().buckets), [bucketOf('/p')]);
      assert.notEqual(d.snapshot().hash, base.snapshot().hash);
    }
  });
});
