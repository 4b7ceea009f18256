import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { decodeSync, MAX_SYNC_BYTES, type SyncEntry } from '../../../daemon/sync/v1/codec.ts';
import { packSnapshot } from '../../../daemon/sync/v1/snapshot.ts';
import { arbEntry, DEVICE_IDS } from './arbitraries.ts';

// Snapshot packing: every part fits a datagram, the parts decode back to exactly the entries
// given (in order, none lost, none added), and an entry no datagram can hold is reported.

function unpack(id: number, parts: readonly Uint8Array[], maxBytes = MAX_SYNC_BYTES): SyncEntry[] {
  const out: SyncEntry[] = [];
  parts.forEach((bytes, i) => {
    assert.ok(bytes.length <= maxBytes, `part ${i} is ${bytes.length} bytes`);
    const r = decodeSync(bytes);
    assert.ok(r.ok, `part ${i} decodes`);
    const m = r.msg;
    assert.equal(m.kind, 'snapshot-part');
    if (m.kind !== 'snapshot-part') return;
    assert.equal(m.id, id);
    assert.equal(m.part, i);
    assert.equal(m.parts, parts.length);
    out.push(...m.entries);
  });
  return out;
}

const node = DEVICE_IDS[0]!;
const entry = (path: string, value: SyncEntry['value'], t = 1_700_000_000_000): SyncEntry => ({
  path,
  value,
  stamp: { t, c: 0, node },
});

describe('snapshot packing', () => {
  it('parts fit in 1,200 bytes and decode back to exactly the input entries, in order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.array(arbEntry, { maxLength: 300, size: 'medium' }),
        (id, entries) => {
          const { parts, skipped } = packSnapshot(id, entries);
          assert.ok(parts.length >= 1);
          const decoded = unpack(id, parts);
          const skippedPaths = skipped.map((s) => s.path);
          // arbEntry only makes entries that fit a datagram alone, so nothing is skipped...
          assert.deepEqual(skippedPaths, []);
          // ...and the parts carry every entry, unchanged, in the order given.
          assert.deepStrictEqual(decoded, entries);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('packs tightly: no part could have taken the next part’s first entry', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { minLength: 1, maxLength: 200, size: 'max' }), (entries) => {
        const { parts } = packSnapshot(7, entries);
        const sizes = parts.map((p) => {
          const r = decodeSync(p);
          assert.ok(r.ok && r.msg.kind === 'snapshot-part');
          return r.msg.entries.length;
        });
        // Re-pack each part plus the first entry of the next one: it must not fit one datagram.
        let start = 0;
        for (let i = 0; i + 1 < parts.length; i++) {
          const group = entries.slice(start, start + sizes[i]! + 1);
          assert.ok(packSnapshot(7, group).parts.length > 1, `part ${i} had room for one more`);
          start += sizes[i]!;
        }
      }),
      { numRuns: 50 },
    );
  });

  it('respects a smaller maxBytes: each entry is either in the parts, in order, or reported', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 100 }), (entries) => {
        const maxBytes = 120;
        const { parts, skipped } = packSnapshot(1, entries, maxBytes);
        const decoded = unpack(1, parts, maxBytes);
        assert.equal(decoded.length + skipped.length, entries.length);
        let di = 0;
        let si = 0;
        for (const e of entries) {
          if (di < decoded.length && isDeepStrictEqual(decoded[di], e)) di++;
          else {
            assert.equal(skipped[si]?.path, e.path, `${e.path} is neither sent nor reported`);
            si++;
          }
        }
        assert.equal(di, decoded.length);
        assert.equal(si, skipped.length);
      }),
      { numRuns: 200 },
    );
  });

  it('reports entries too large for any datagram in `skipped` and sends the rest', () => {
    const big = entry(`/${'p'.repeat(699)}`, 's'.repeat(1000));
    const overCap = entry('/over', 'x'.repeat(2000));
    const entries = [entry('/a', 1), big, entry('/b', 'two'), overCap, entry('/c', true)];
    const { parts, skipped } = packSnapshot(3, entries);
    assert.deepEqual(
      skipped.map((s) => s.path),
      [big.path, '/over'],
    );
    for (const s of skipped) assert.ok(s.error.length > 0);
    assert.match(skipped[0]!.error, /bytes/);
    assert.deepStrictEqual(unpack(3, parts), [entries[0], entries[2], entries[4]]);
  });

  it('an empty snapshot is one part with no entries, so the asker learns there is nothing', () => {
    const { parts, skipped } = packSnapshot(9, []);
    assert.equal(parts.length, 1);
    assert.deepEqual(skipped, []);
    assert.deepEqual(unpack(9, parts), []);
    const onlyBig = packSnapshot(9, [entry('/x', 'y'.repeat(5000))]);
    assert.equal(onlyBig.parts.length, 1);
    assert.equal(onlyBig.skipped.length, 1);
    assert.deepEqual(unpack(9, onlyBig.parts), []);
  });

  it('splits a large state into many parts, each numbered and complete', () => {
    const entries: SyncEntry[] = [];
    for (let i = 0; i < 2000; i++)
      entries.push(entry(`/layer/${i}/name`, `value ${i} ${'x'.repeat(i % 50)}`, 1.7e12 + i));
    const { parts, skipped } = packSnapshot(0xffffffff, entries);
    assert.deepEqual(skipped, []);
    assert.ok(parts.length > 20);
    assert.deepStrictEqual(unpack(0xffffffff, parts), entries);
  });

  it('gives each part its own table of writers when many daemons wrote', () => {
    // (255 writers, the table's limit, cannot fit in 1,200 bytes: each costs ≥ 13 bytes.)
    const entries = Array.from({ length: 600 }, (_, i) => ({
      path: '/p',
      value: null,
      stamp: { t: 1, c: i, node: `${i}` },
    }));
    const { parts } = packSnapshot(1, entries, MAX_SYNC_BYTES);
    for (const p of parts) {
      const r = decodeSync(p);
      assert.ok(r.ok && r.msg.kind === 'snapshot-part');
      if (r.ok && r.msg.kind === 'snapshot-part') {
        assert.ok(new Set(r.msg.entries.map((e) => e.stamp.node)).size <= 255);
      }
    }
    assert.deepStrictEqual(unpack(1, parts), entries);
  });
});
