import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Value } from '../../../daemon/state/coerce.ts';
import { compareStamps } from '../../../daemon/state/hlc.ts';
import { compareWrites } from '../../../daemon/state/write-order.ts';
import { createHeldTable, type HeldWrite } from '../../../daemon/sync/held.ts';
import { encodeEntryList, MAX_ENTRY_LIST_BYTES, type SyncEntry } from '../../../daemon/sync/v2/codec.ts';

// Writes held for origins not paired here (or whose certificate has not arrived): bounded
// whatever a peer floods it with, only the newest write per origin and path kept, released in
// stamp order across origins, and forgotten when an origin is blocked.

const ORIGINS = ['ORIGIN-A', 'ORIGIN-B', 'ORIGIN-C'];

/** A held write as the gate offers it: the entry, the batch that carries it, the link it came on. */
function held(origin: string, path: string, t: number, c = 0, value: Value = t, from = 'RELAY'): HeldWrite {
  const entry: SyncEntry = { path, value, stamp: { t, c, node: origin } };
  const batch = { origin, list: encodeEntryList([entry], MAX_ENTRY_LIST_BYTES), sig: new Uint8Array(64) };
  return { entry, batch, from };
}

const key = (w: HeldWrite) => `${w.entry.stamp.node} ${w.entry.path}`;

describe('held writes', () => {
  it('keeps only the newest write per origin and path, and counts each pair once', () => {
    const table = createHeldTable(10);
    const older = held('ORIGIN-A', '/a', 5);
    const newer = held('ORIGIN-A', '/a', 7);
    assert.equal(table.offer(older), true);
    assert.equal(table.offer(newer), true);
    assert.equal(table.offer(held('ORIGIN-A', '/a', 6)), true, 'an older write is absorbed, not refused');
    assert.equal(table.size, 1);
    // The same path by another origin is another pair.
    assert.equal(table.offer(held('ORIGIN-B', '/a', 1)), true);
    assert.equal(table.size, 2);
    const out = table.release(() => true);
    assert.deepEqual(
      out.map((w) => [w.entry.stamp.node, w.entry.path, w.entry.stamp.t]),
      [
        ['ORIGIN-B', '/a', 1],
        ['ORIGIN-A', '/a', 7],
      ],
    );
    assert.equal(out[1], newer, 'the batch that proves the newest write travels with it');
  });

  it('breaks a tie of one stamp and two values the way the store does (write-order.ts)', () => {
    const a = held('ORIGIN-A', '/p', 5, 0, 11);
    const b = held('ORIGIN-A', '/p', 5, 0, 222);
    const winner = compareWrites(a.entry, b.entry) > 0 ? a : b;
    for (const order of [
      [a, b],
      [b, a],
    ]) {
      const table = createHeldTable(4);
      for (const w of order) table.offer(w);
      assert.deepEqual(
        table.release(() => true),
        [winner],
      );
    }
  });

  it('is bounded: past `max` pairs a new one is refused, while known pairs still move forward', () => {
    const table = createHeldTable(3);
    for (let i = 0; i < 3; i++) assert.equal(table.offer(held('ORIGIN-A', `/p/${i}`, 1)), true);
    // A flood of fresh paths and fresh origins: refused, memory flat.
    for (let i = 0; i < 1000; i++) {
      assert.equal(table.offer(held(`FLOOD-${i % 7}`, `/flood/${i}`, 1)), false);
      assert.equal(table.size, 3);
    }
    assert.deepEqual(table.origins(), ['ORIGIN-A']);
    assert.equal(
      table.offer(held('ORIGIN-A', '/p/0', 9)),
      true,
      'a newer write of a held pair still replaces it',
    );
    assert.equal(table.size, 3);
    assert.equal(table.release(() => true).find((w) => w.entry.path === '/p/0')?.entry.stamp.t, 9);
    assert.equal(table.size, 0);
    assert.equal(table.offer(held('ORIGIN-B', '/q', 1)), true, 'room again once released');
  });

  it('releases only the origins `ready` accepts, oldest stamp first across them, and keeps the rest', () => {
    const table = createHeldTable(10);
    table.offer(held('ORIGIN-A', '/x', 30));
    table.offer(held('ORIGIN-B', '/x', 10));
    table.offer(held('ORIGIN-A', '/y', 20, 1));
    table.offer(held('ORIGIN-A', '/z', 20, 0));
    table.offer(held('ORIGIN-C', '/x', 15));
    const out = table.release((o) => o !== 'ORIGIN-C');
    assert.deepEqual(
      out.map((w) => [w.entry.stamp.node, w.entry.path]),
      [
        ['ORIGIN-B', '/x'],
        ['ORIGIN-A', '/z'],
        ['ORIGIN-A', '/y'],
        ['ORIGIN-A', '/x'],
      ],
    );
    assert.equal(table.size, 1);
    assert.deepEqual(table.origins(), ['ORIGIN-C']);
    assert.deepEqual(
      table.release(() => false),
      [],
    );
    assert.equal(table.size, 1);
  });

  it('drops every write of an origin, and nothing of anyone else', () => {
    const table = createHeldTable(10);
    table.offer(held('ORIGIN-A', '/a', 1));
    table.offer(held('ORIGIN-A', '/b', 1));
    table.offer(held('ORIGIN-B', '/a', 1));
    assert.equal(table.drop('ORIGIN-A'), 2);
    assert.equal(table.drop('ORIGIN-A'), 0, 'dropping twice is harmless');
    assert.equal(table.drop('NOBODY'), 0);
    assert.equal(table.size, 1);
    assert.deepEqual(table.origins(), ['ORIGIN-B']);
  });

  it('matches a model of newest-per-pair, bounded, released in stamp order (property)', () => {
    const arbOffer = fc.record({
      origin: fc.constantFrom(...ORIGINS),
      path: fc.constantFrom('/a', '/b', '/c', '/d'),
      t: fc.integer({ min: 1, max: 6 }),
      c: fc.integer({ min: 0, max: 1 }),
      value: fc.constantFrom<Value>(1, 2, true, 'x'),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(arbOffer, { maxLength: 60 }),
        fc.subarray(ORIGINS),
        (max, offers, ready) => {
          const table = createHeldTable(max);
          const model = new Map<string, HeldWrite>();
          for (const o of offers) {
            const w = held(o.origin, o.path, o.t, o.c, o.value);
            const previous = model.get(key(w));
            const expected = previous !== undefined || model.size < max;
            if (previous === undefined && expected) model.set(key(w), w);
            else if (previous && compareWrites(w.entry, previous.entry) > 0) model.set(key(w), w);
            assert.equal(table.offer(w), expected);
            assert.equal(table.size, model.size);
            assert.ok(table.size <= max);
          }
          const out = table.release((o) => ready.includes(o));
          const want = [...model.values()].filter((w) => ready.includes(w.entry.stamp.node));
          assert.deepEqual(new Set(out.map(key)), new Set(want.map(key)));
          for (const w of out) assert.equal(w, model.get(key(w)), `${key(w)}: the newest write`);
          for (let i = 1; i < out.length; i++)
            assert.ok(compareStamps(out[i - 1]!.entry.stamp, out[i]!.entry.stamp) <= 0, 'stamp order');
          assert.equal(table.size, model.size - want.length);
          assert.deepEqual(
            new Set(table.origins()),
            new Set([...model.values()].map((w) => w.entry.stamp.node).filter((o) => !ready.includes(o))),
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});
