import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createKeyDirectory } from '../../../daemon/sync/keys.ts';
import { createSigner } from '../../../daemon/sync/signer.ts';
import {
  type Batch,
  decodeSync,
  encodeEntryList,
  entryListSize,
  entrySize,
  MAX_ENTRY_LIST_BYTES,
  MAX_SYNC_BYTES,
  type OpenBatch,
  type SyncEntry,
  snapshotPartSize,
} from '../../../daemon/sync/v2/codec.ts';
import {
  groupEntries,
  packSnapshot,
  packUpdates,
  type SyncUpdate,
  signBatch,
} from '../../../daemon/sync/v2/pack.ts';
import { createIdentity } from '../../../trust-store/identity.ts';
import { arbBatch, arbEntry, arbEntryOf } from './arbitraries.ts';

// Packing writes into signed batches and batches into datagrams: groupEntries fills each entry
// list greedily without splitting an entry, packUpdates signs one batch per datagram with real
// keys, and packSnapshot fills parts with whole batches, in order, each part within 1,200 bytes,
// including a full batch relayed with its 64-byte origin spelled out.

const [me, other] = await Promise.all([createIdentity(), createIdentity()]);
const signer = createSigner(() => me);
const keys = createKeyDirectory();
assert.ok(keys.learn(me.certDer).ok);
const SELF = me.deviceId;
const OTHER = other.deviceId;

const arbOwnEntry = arbEntryOf(SELF);
const sizeOf = (e: SyncEntry) => entrySize(e).total;
const listBytes = (g: readonly SyncEntry[]) =>
  entryListSize(
    g.length,
    g.reduce((n, e) => n + sizeOf(e), 0),
  );

/** Whether an entry can be encoded at all, and fits a list of `max` bytes alone. */
function fitsAlone(e: SyncEntry, max: number): boolean {
  try {
    return entryListSize(1, sizeOf(e)) <= max;
  } catch {
    return false;
  }
}

function decodeParts(id: number, parts: readonly Uint8Array[], sender = SELF): OpenBatch[] {
  const out: OpenBatch[] = [];
  parts.forEach((bytes, i) => {
    assert.ok(bytes.length <= MAX_SYNC_BYTES, `part ${i} is ${bytes.length} bytes`);
    const r = decodeSync(bytes, sender);
    assert.ok(r.ok, `part ${i} decodes`);
    const m = r.msg;
    assert.equal(m.kind, 'snapshot-part');
    if (m.kind !== 'snapshot-part') return;
    assert.equal(m.id, id);
    assert.equal(m.part, i);
    assert.equal(m.parts, parts.length);
    out.push(...m.batches);
  });
  return out;
}

const bare = (b: Batch) => ({ origin: b.origin, list: b.list, sig: b.sig });

describe('groupEntries', () => {
  it('keeps every entry whole and in order, each list within the limit, filled greedily (property)', () => {
    fc.assert(
      fc.property(
        fc.array(arbEntry, { maxLength: 300, size: 'max' }),
        fc.constantFrom(MAX_ENTRY_LIST_BYTES, 120, 40),
        (entries, max) => {
          const { groups, skipped } = groupEntries(entries, max);
          // Nothing lost, nothing added, nothing reordered: groups and skipped interleave back to the input.
          const kept = entries.filter((e) => fitsAlone(e, max));
          assert.deepStrictEqual(groups.flat(), kept);
          assert.deepStrictEqual(
            skipped.map((s) => s.entry),
            entries.filter((e) => !fitsAlone(e, max)),
          );
          for (const s of skipped) assert.match(s.error, /bytes/);
          groups.forEach((g, i) => {
            assert.ok(g.length > 0, `group ${i} is empty`);
            const bytes = encodeEntryList(g, MAX_ENTRY_LIST_BYTES);
            assert.equal(bytes.length, listBytes(g), 'the sizing matches the bytes written');
            assert.ok(bytes.length <= max, `group ${i}: ${bytes.length} > ${max}`);
            // Greedy: the next group's first entry would not have fitted here.
            const next = groups[i + 1]?.[0];
            if (next) assert.ok(listBytes([...g, next]) > max, `group ${i} was closed early`);
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('skips an entry that cannot be encoded, naming why, and keeps the rest', () => {
    const at = { t: 1, c: 0, node: SELF };
    const bad = { path: '/nan', value: Number.NaN, stamp: at };
    const huge = { path: '/huge', value: 'x'.repeat(1024), stamp: at };
    const { groups, skipped } = groupEntries([{ path: '/a', value: 1, stamp: at }, bad, huge], 200);
    assert.deepEqual(
      groups.map((g) => g.map((e) => e.path)),
      [['/a']],
    );
    assert.deepEqual(
      skipped.map((s) => s.entry.path),
      ['/nan', '/huge'],
    );
    assert.match(skipped[0]!.error, /finite/);
    assert.match(skipped[1]!.error, /\/huge needs \d+ bytes alone, more than 200/);
    assert.deepEqual(groupEntries([]), { groups: [], skipped: [] });
  });
});

describe('packUpdates', () => {
  it('signs one batch per datagram, within 1,200 bytes, numbering consecutive seqs and losing nothing (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.array(arbOwnEntry, { maxLength: 150, size: 'max' }),
        (start, entries) => {
          const updates: SyncUpdate[] = entries.map((e, i) => ({ ...e, seq: start + i }));
          const datagrams = packUpdates(updates, SELF, signer.sign);
          const out: SyncUpdate[] = [];
          for (const d of datagrams) {
            assert.ok(d.length <= MAX_SYNC_BYTES);
            const r = decodeSync(d, SELF);
            assert.ok(r.ok && r.msg.kind === 'updates');
            const { firstSeq, batch } = r.msg;
            assert.ok(batch.entries.length > 0);
            assert.equal(keys.verify(batch), 'ok', 'the batch verifies with the origin’s certificate');
            out.push(...batch.entries.map((e, i) => ({ ...e, seq: firstSeq + i })));
          }
          assert.deepStrictEqual(out, updates);
          assert.equal(datagrams.length, groupEntries(updates).groups.length);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses updates that are not numbered consecutively within a datagram', () => {
    const at = (c: number) => ({ t: 1_763_800_000_000, c, node: SELF });
    const gap: SyncUpdate[] = [
      { path: '/a', value: 1, stamp: at(0), seq: 1 },
      { path: '/b', value: 2, stamp: at(1), seq: 3 },
    ];
    assert.throws(() => packUpdates(gap, SELF, signer.sign), /consecutively/);
    const backwards = [gap[1]!, { ...gap[0]!, seq: 2 }];
    assert.throws(() => packUpdates(backwards, SELF, signer.sign), RangeError);
  });

  it('returns no datagram for no updates, and refuses an update that cannot fit alone', () => {
    assert.deepEqual(packUpdates([], SELF, signer.sign), []);
    const big: SyncUpdate = {
      path: `/${'p'.repeat(255)}`,
      value: 's'.repeat(1000),
      stamp: { t: 1, c: 0, node: SELF },
      seq: 1,
    };
    assert.throws(() => packUpdates([big], SELF, signer.sign), /needs \d+ bytes alone/);
  });
});

describe('packSnapshot', () => {
  const arbMixed = arbBatch(fc.constantFrom(SELF, OTHER, 'o'.repeat(64)), 40);

  it('parts fit in 1,200 bytes and decode back to exactly the input batches, in order (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.array(arbMixed, { maxLength: 40 }),
        (id, batches) => {
          const parts = packSnapshot(id, batches, SELF);
          assert.ok(parts.length >= 1);
          assert.deepStrictEqual(decodeParts(id, parts), batches);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('packs tightly: no part could have taken the next part’s first batch (property)', () => {
    fc.assert(
      fc.property(fc.array(arbMixed, { minLength: 1, maxLength: 40 }), (batches) => {
        const parts = packSnapshot(7, batches, SELF);
        let start = 0;
        for (let i = 0; i + 1 < parts.length; i++) {
          const r = decodeSync(parts[i]!, SELF);
          assert.ok(r.ok && r.msg.kind === 'snapshot-part');
          const n = r.msg.batches.length;
          assert.ok(
            snapshotPartSize(batches.slice(start, start + n + 1), SELF) > MAX_SYNC_BYTES,
            `part ${i} had room for one more`,
          );
          start += n;
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a full batch relayed with a 64-byte origin spelled out still fits a part', () => {
    // 1 count + (flags, path length, "/abc", u48 t, c, 2-byte string length, 1024 bytes) = 1040.
    const origin = 'o'.repeat(64);
    const full = signBatch(
      origin,
      [{ path: '/abc', value: 'v'.repeat(1024), stamp: { t: 1, c: 0, node: origin } }],
      () => new Uint8Array(64).fill(7),
    );
    assert.equal(full.list.length, MAX_ENTRY_LIST_BYTES);
    assert.ok(snapshotPartSize([full], SELF) <= MAX_SYNC_BYTES);
    const parts = packSnapshot(1, [full, full], SELF);
    assert.equal(parts.length, 2, 'one full batch per part');
    assert.deepStrictEqual(decodeParts(1, parts).map(bare), [full, full]);
    // A real device's full batch, passed on by a third daemon: it verifies at the far end.
    const mine = signBatch(
      SELF,
      [{ path: '/abc', value: 'w'.repeat(1024), stamp: { t: 2, c: 0, node: SELF } }],
      signer.sign,
    );
    const relayed = decodeParts(9, packSnapshot(9, [mine], OTHER), OTHER);
    assert.deepStrictEqual(relayed.map(bare), [mine]);
    assert.equal(keys.verify(relayed[0]!), 'ok');
  });

  it('an empty snapshot is one part with no batches, so the asker learns there is nothing', () => {
    const parts = packSnapshot(9, [], SELF);
    assert.equal(parts.length, 1);
    assert.deepEqual(decodeParts(9, parts), []);
  });

  it('splits a large state into many parts, each numbered and complete, every batch still verifying', () => {
    const entries: SyncEntry[] = [];
    for (let i = 0; i < 2000; i++)
      entries.push({
        path: `/layer/${i}/name`,
        value: `value ${i} ${'x'.repeat(i % 50)}`,
        stamp: { t: 1.7e12 + i, c: 0, node: SELF },
      });
    const { groups, skipped } = groupEntries(entries);
    assert.deepEqual(skipped, []);
    const batches = groups.map((g) => signBatch(SELF, g, signer.sign));
    const parts = packSnapshot(0xffffffff, batches, SELF);
    assert.ok(parts.length > 20);
    const decoded = decodeParts(0xffffffff, parts);
    assert.deepStrictEqual(
      decoded.flatMap((b) => b.entries),
      entries,
    );
    for (const b of decoded) assert.equal(keys.verify(b), 'ok');
  });
});
