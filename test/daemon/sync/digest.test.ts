import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Value } from '../../../daemon/state/coerce.ts';
import { type Stamp, ZERO_STAMP } from '../../../daemon/state/hlc.ts';
import { compareWrites } from '../../../daemon/state/write-order.ts';
import { BUCKETS, bucketOf, createStateDigest, type StateDigest } from '../../../daemon/sync/digest.ts';
import { decodeSync, encodeSync } from '../../../daemon/sync/v2/codec.ts';
import { DEVICE_IDS } from './arbitraries.ts';

// The anti-entropy digest: the same winners give the same digest whatever order the writes came
// in (the XOR of the old triple really comes out), a changed path shows in exactly its bucket,
// never-written defaults count for nothing, and two values under one stamp (an equivocating
// origin) never hide behind equal digests.

type Write = { path: string; stamp: Stamp; value: Value };

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
  // Few values, so equal stamps with different values (equivocation) come up often.
  value: fc.constantFrom<Value>(0, -0, 1, true, '1', null, 0.5),
});

/** What a store does: a write replaces the path's winner only if it ranks higher (write-order.ts). */
function applyLww(digest: StateDigest, winners: Map<string, Write>, w: Write): void {
  const current = winners.get(w.path) ?? { path: w.path, stamp: ZERO_STAMP, value: null };
  if (compareWrites(w, current) <= 0) return;
  winners.set(w.path, w);
  digest.update(w.path, w.stamp, w.value);
}

function digestOf(writes: readonly Write[]): { digest: StateDigest; winners: Map<string, Write> } {
  const digest = createStateDigest();
  const winners = new Map<string, Write>();
  for (const w of writes) applyLww(digest, winners, w);
  return { digest, winners };
}

const stamp = (t: number, c = 0, node = DEVICE_IDS[0]!): Stamp => ({ t, c, node });
const w = (path: string, s: Stamp, value: Value = 1): Write => ({ path, stamp: s, value });

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
          for (const [path, x] of a.winners) fresh.update(path, x.stamp, x.value);
          assert.deepStrictEqual(fresh.snapshot(), a.digest.snapshot());
          assert.deepEqual(a.digest.differing(b.digest.snapshot().buckets), []);
          assert.equal(a.digest.snapshot().count, a.winners.size);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a snapshot has one entry per bucket, whole count and hash the sum and XOR of them, and encodes', () => {
    const { digest } = digestOf([w('/a', stamp(1)), w('/b', stamp(2)), w('/c', stamp(3))]);
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
    const bytes = encodeSync({ kind: 'digest', count: s.count, hash: s.hash, buckets: s.buckets }, 'N');
    assert.deepStrictEqual(decodeSync(bytes, 'N'), { ok: true, msg: { kind: 'digest', ...s } });
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
            const x = writes[p % writes.length]!;
            b.update(x.path, { ...x.stamp, c: x.stamp.c + 10 }, x.value);
            changed.add(x.path);
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
    a.update('/x', stamp(5), 1);
    assert.deepEqual(b.differing(a.snapshot().buckets), [bucketOf('/x')]);
    b.update('/x', stamp(5), 1);
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
    for (const p of ['/a', '/b', '/c', '/tempo']) d.update(p, ZERO_STAMP, 0);
    assert.deepStrictEqual(d.snapshot(), empty, 'defaults count for nothing');
    // A daemon that declares more (unwritten) paths agrees with one that declares fewer.
    const other = createStateDigest();
    other.update('/a', ZERO_STAMP, 0);
    assert.deepEqual(d.differing(other.snapshot().buckets), []);
    // Once written, the path counts; the default it replaced is not XORed out (it was never in).
    d.update('/a', stamp(7), 1);
    other.update('/a', stamp(7), 1);
    assert.equal(d.snapshot().count, 1);
    assert.deepStrictEqual(d.snapshot(), other.snapshot());
    const direct = createStateDigest();
    direct.update('/a', stamp(7), 1);
    assert.deepStrictEqual(d.snapshot(), direct.snapshot());
  });

  it('a stamp that differs only in writer, counter or time changes the hash', () => {
    const base = createStateDigest();
    base.update('/p', stamp(10, 0, DEVICE_IDS[0]), 1);
    for (const s of [stamp(10, 0, DEVICE_IDS[1]), stamp(10, 1), stamp(11)]) {
      const d = createStateDigest();
      d.update('/p', s, 1);
      assert.deepEqual(d.differing(base.snapshot().buckets), [bucketOf('/p')]);
      assert.notEqual(d.snapshot().hash, base.snapshot().hash);
    }
  });

  it('two values under one stamp (equivocation) differ in their bucket: 1, true, "1", 0 and −0 all apart', () => {
    const s = stamp(10);
    const values: Value[] = [1, true, '1', 0, -0, null, '', 'n'];
    const hashes = values.map((v) => {
      const d = createStateDigest();
      d.update('/p', s, v);
      return d.snapshot().hash;
    });
    assert.equal(new Set(hashes).size, values.length, 'every value hashes apart');
    const a = createStateDigest();
    const b = createStateDigest();
    a.update('/p', s, 11);
    b.update('/p', s, 222);
    assert.deepEqual(a.differing(b.snapshot().buckets), [bucketOf('/p')]);
  });

  it('paused and rebuilt from the winners, it equals the digest kept up write by write', () => {
    // What the sync service does: no peer linked, no digest kept; the first link rebuilds it from
    // the store. Any interleaving of writes, pauses and rebuilds must land on the same digest.
    type Op = { kind: 'write'; write: Write } | { kind: 'pause' } | { kind: 'resume' };
    const arbOp: fc.Arbitrary<Op> = fc.oneof(
      { weight: 8, arbitrary: arbWrite.map((write) => ({ kind: 'write' as const, write })) },
      { weight: 1, arbitrary: fc.constant({ kind: 'pause' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'resume' as const }) },
    );
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 120 }), fc.boolean(), (ops, startPaused) => {
        const kept = createStateDigest();
        const skipping = createStateDigest();
        if (startPaused) skipping.pause();
        const winners = new Map<string, Write>();
        const resume = () => skipping.resume(winners.values());
        for (const op of ops) {
          if (op.kind === 'pause') skipping.pause();
          else if (op.kind === 'resume') {
            resume();
            assert.deepStrictEqual(skipping.snapshot(), kept.snapshot());
          } else {
            const current = winners.get(op.write.path) ?? {
              path: op.write.path,
              stamp: ZERO_STAMP,
              value: null,
            };
            if (compareWrites(op.write, current) <= 0) continue;
            winners.set(op.write.path, op.write);
            kept.update(op.write.path, op.write.stamp, op.write.value);
            skipping.update(op.write.path, op.write.stamp, op.write.value);
          }
        }
        if (!skipping.active) resume();
        assert.equal(skipping.active, true);
        assert.deepStrictEqual(skipping.snapshot(), kept.snapshot());
        assert.deepEqual(skipping.differing(kept.snapshot().buckets), []);
      }),
      { numRuns: 300 },
    );
  });

  it('a paused digest ignores writes; resuming with no winners is the empty digest', () => {
    const d = createStateDigest();
    d.update('/a', stamp(1), 1);
    d.pause();
    assert.equal(d.active, false);
    d.update('/b', stamp(2), 2);
    d.resume([]);
    assert.deepStrictEqual(d.snapshot(), createStateDigest().snapshot());
    d.update('/a', stamp(3), 3);
    const direct = createStateDigest();
    direct.update('/a', stamp(3), 3);
    assert.deepStrictEqual(d.snapshot(), direct.snapshot());
  });

  it('replacing a value under the same stamp XORs the old triple out', () => {
    // A daemon that first held the losing value of an equivocation, then the winner, must agree
    // with one that only ever held the winner.
    const d = createStateDigest();
    d.update('/p', stamp(10), 11);
    d.update('/p', stamp(10), 222);
    const direct = createStateDigest();
    direct.update('/p', stamp(10), 222);
    assert.deepStrictEqual(d.snapshot(), direct.snapshot());
  });
});
