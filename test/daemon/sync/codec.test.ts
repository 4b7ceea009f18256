import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeSync,
  encodeSync,
  MAX_SYNC_BYTES,
  packUpdates,
  type SyncMessage,
  type SyncUpdate,
  updateOverheadBytes,
} from '../../../daemon/sync/v1/codec.ts';
import { arbMessage, arbStream, arbUpdate, DEVICE_IDS } from './arbitraries.ts';

// The sync wire format, version 1: exact bytes, round trips, limits and packing.

/** Encodes, or undefined when the generated message is simply too big for one datagram. */
function encodeIfFits(msg: SyncMessage): Uint8Array | undefined {
  try {
    return encodeSync(msg);
  } catch (err) {
    if (err instanceof RangeError && /would exceed/.test(err.message)) return undefined;
    throw err;
  }
}

function roundTrip(msg: SyncMessage): SyncMessage {
  const r = decodeSync(encodeSync(msg));
  if (!r.ok) assert.fail(`${r.code}: ${r.detail}`);
  return r.msg;
}

const varintLength = (n: number): number => (n < 128 ? 1 : 1 + varintLength(Math.floor(n / 128)));

const at = (t: number, c: number, node = DEVICE_IDS[0]!) => ({ t, c, node });

describe('sync codec: exact bytes', () => {
  it('encodes a small updates message to the hand-computed bytes', () => {
    const msg: SyncMessage = {
      kind: 'updates',
      updates: [
        { path: '/a', value: 1, stamp: { t: 1000, c: 2, node: 'N' }, seq: 5 },
        { path: '/b', value: true, stamp: { t: 1000, c: 3, node: 'N' }, seq: 6 },
      ],
    };
    // biome-ignore format: one field per line
    const expected = [
      0x10,                               // type: updates
      0x01, 0x01, 0x4e,                   // 1 node: length 1, "N"
      0x02,                               // 2 entries
      0x04,                               // flags: kind i32, t as u48
      0x02, 0x2f, 0x61,                   // path "/a"
      0x00,                               // node index 0
      0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // t = 1000 (u48)
      0x02,                               // c = 2
      0x05,                               // seq = 5 (first entry: absolute)
      0x00, 0x00, 0x00, 0x01,             // value 1 (i32)
      0x02,                               // flags: kind true, t as u48
      0x02, 0x2f, 0x62,                   // path "/b"
      0x00,                               // node index 0
      0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // t = 1000
      0x03,                               // c = 3
      0x02,                               // seq delta +1, zigzag → 2
                                          // true carries no bytes
    ];
    const bytes = encodeSync(msg);
    assert.deepEqual([...bytes], expected);
    assert.deepEqual(decodeSync(bytes), { ok: true, msg });
  });

  it('carries a writer’s device ID once for a batch of 50 of its updates', () => {
    const node = DEVICE_IDS[0]!;
    const updates: SyncUpdate[] = Array.from({ length: 50 }, (_, i) => ({
      path: `/p/${String(i).padStart(2, '0')}`,
      value: i,
      stamp: at(1_763_800_000_000, i, node),
      seq: 100 + i,
    }));
    const bytes = encodeSync({ kind: 'updates', updates });
    // type + node count + (length + 63-byte ID) + entry count + 50 × 20-byte entries
    const entry = 1 + 1 + 5 + 1 + 6 + 1 + 1 + 4; // flags, path length, path, node index, t, c, seq, i32
    assert.equal(bytes.length, 1 + 1 + 1 + node.length + 1 + 50 * entry);
    assert.equal(Buffer.from(bytes).toString('latin1').split(node).length - 1, 1, 'the ID appears once');
    const overhead = updateOverheadBytes(updates[7]!);
    assert.deepEqual(overhead, { total: entry, path: 5, value: 4, stamp: 8, framing: 3 });
  });
});

describe('sync codec: round trips', () => {
  it('round-trips every message kind (property)', () => {
    fc.assert(
      fc.property(arbMessage, (msg) => {
        const bytes = encodeIfFits(msg);
        fc.pre(bytes !== undefined);
        assert.ok(bytes!.length <= MAX_SYNC_BYTES);
        assert.deepStrictEqual(decodeSync(bytes!), { ok: true, msg });
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps each value type and edge number exactly, −0 included', () => {
    const values = [null, true, false, 0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 0.1];
    values.push(Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, -(2 ** 53));
    const strings = ['', 'hello', 'ノブ 🎛️', '#ff8800cc', '#FF8800CC', '#ff8800', 'x'.repeat(1024)];
    for (const value of [...values, ...strings]) {
      const msg: SyncMessage = { kind: 'updates', updates: [{ path: '/v', value, stamp: at(5, 0), seq: 1 }] };
      assert.deepStrictEqual(roundTrip(msg), msg, String(value));
    }
    assert.ok(Object.is((roundTrip({ kind: 'clock-ping', id: 0, t1: -0 }) as { t1: number }).t1, -0));
  });

  it('keeps stamps at the edges of the compact forms', () => {
    for (const t of [0, -0, 1.5, -1, 2 ** 48 - 1, 2 ** 48, Number.MAX_VALUE, 1_763_800_000_000]) {
      for (const c of [0, 127, 128, 2 ** 32 - 1]) {
        const msg: SyncMessage = {
          kind: 'snapshot-part',
          id: 2 ** 32 - 1,
          part: 0,
          parts: 1,
          entries: [{ path: '/s', value: null, stamp: at(t, c, '') }],
        };
        assert.deepStrictEqual(roundTrip(msg), msg);
      }
    }
  });
});

describe('sync codec: what encodeSync refuses (RangeError)', () => {
  const update = (over: Partial<SyncUpdate>): SyncMessage => ({
    kind: 'updates',
    updates: [{ path: '/x', value: 1, stamp: at(1, 0), seq: 1, ...over }],
  });
  const cases: [string, SyncMessage][] = [
    ['NaN value', update({ value: Number.NaN })],
    ['Infinity value', update({ value: Number.POSITIVE_INFINITY })],
    ['-Infinity value', update({ value: Number.NEGATIVE_INFINITY })],
    ['NaN time', update({ stamp: at(Number.NaN, 0) })],
    ['infinite time', update({ stamp: at(Number.POSITIVE_INFINITY, 0) })],
    ['negative counter', update({ stamp: at(1, -1) })],
    ['counter above 2^32−1', update({ stamp: at(1, 2 ** 32) })],
    ['fractional seq', update({ seq: 1.5 })],
    ['seq above 2^48−1', update({ seq: 2 ** 48 })],
    ['empty path', update({ path: '' })],
    ['lone surrogate in a path', update({ path: '/\ud800' })],
    ['lone surrogate in a value', update({ value: 'a\udc00' })],
    ['string of 1025 bytes', update({ value: 'é'.repeat(512) + 'x' })],
    ['path of 769 bytes', update({ path: `/${'a'.repeat(768)}` })],
    ['node ID of 256 bytes', update({ stamp: at(1, 0, 'n'.repeat(256)) })],
    ['an object value', update({ value: {} as never })],
    ['a message over 1200 bytes', update({ path: `/${'a'.repeat(300)}`, value: 'b'.repeat(1000) })],
    ['NaN clock time', { kind: 'clock-pong', id: 1, t1: 0, t2: Number.NaN, t3: 0 }],
    ['id above u32', { kind: 'clock-ping', id: 2 ** 32, t1: 0 }],
    ['SACK range without a gap', { kind: 'ack', upTo: 5, sack: [{ from: 6, to: 8 }] }],
    ['SACK range backwards', { kind: 'ack', upTo: 5, sack: [{ from: 9, to: 8 }] }],
    [
      '17 SACK ranges',
      {
        kind: 'ack',
        upTo: 0,
        sack: Array.from({ length: 17 }, (_, i) => ({ from: 2 + 3 * i, to: 2 + 3 * i })),
      },
    ],
    ['hash above 2^64−1', { kind: 'digest', count: 0, hash: 1n << 64n, buckets: [] }],
    ['negative hash', { kind: 'digest', count: 0, hash: -1n, buckets: [] }],
    ['65 buckets', { kind: 'digest', count: 0, hash: 0n, buckets: Array(65).fill({ count: 0, hash: 0n }) }],
    ['empty bucket request', { kind: 'request', id: 1, buckets: [] }],
    ['unsorted bucket request', { kind: 'request', id: 1, buckets: [3, 2] }],
    ['bucket 64', { kind: 'request', id: 1, buckets: [64] }],
    ['part not below parts', { kind: 'snapshot-part', id: 1, part: 2, parts: 2, entries: [] }],
    ['zero parts', { kind: 'snapshot-part', id: 1, part: 0, parts: 0, entries: [] }],
  ];
  for (const [name, msg] of cases) {
    it(name, () => assert.throws(() => encodeSync(msg), RangeError));
  }
});

describe('sync codec: what decodeSync refuses', () => {
  const valid = () =>
    encodeSync({ kind: 'updates', updates: [{ path: '/x', value: 0.5, stamp: at(1, 0, 'N'), seq: 1 }] });
  // Offsets in `valid()`: 0 type, 1–3 node table, 4 count, 5 flags, 6 path length, 7–8 path, 9 node index, 10–15 t, 16 c, 17 seq, 18–25 f64.
  const patched = (at: number, bytes: number[]) => {
    const b = valid();
    b.set(bytes, at);
    return b;
  };
  const cases: [string, Uint8Array, string][] = [
    ['empty input', new Uint8Array(0), 'truncated'],
    ['1201 bytes', new Uint8Array(1201).fill(0x10), 'oversize'],
    ['an unknown type', new Uint8Array([0x05]), 'bad-type'],
    ['a cut-off message', valid().subarray(0, 20), 'truncated'],
    ['a byte too many', new Uint8Array([...valid(), 0]), 'trailing-bytes'],
    ['a NaN value', patched(18, [0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), 'bad-value'],
    ['an infinite value', patched(18, [0x7f, 0xf0, 0, 0, 0, 0, 0, 0]), 'bad-value'],
    ['reserved flag bits', patched(5, [0x13]), 'bad-value'],
    ['an unknown value kind', patched(5, [0x07]), 'bad-value'],
    ['a node index outside the table', patched(9, [1]), 'bad-value'],
    ['invalid UTF-8 in a path', patched(7, [0xc3, 0x28]), 'bad-utf8'],
    ['invalid UTF-8 in a node ID', patched(3, [0xff]), 'bad-utf8'],
    ['an overlong varint', new Uint8Array([0x11, 0x80, 0x00, 0x00]), 'bad-value'],
    [
      'a varint past 2^48',
      new Uint8Array([0x11, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0]),
      'bad-value',
    ],
    ['an empty path', new Uint8Array([0x14, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0x00, 0x00]), 'bad-value'],
    [
      'a string longer than 1024 bytes',
      new Uint8Array([0x10, 1, 0, 1, 5, 1, 0x2f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x88, 0x08]),
      'oversize',
    ],
    ['part ≥ parts', new Uint8Array([0x14, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0]), 'bad-value'],
    ['unsorted buckets', new Uint8Array([0x13, 0, 0, 0, 0, 2, 5, 5]), 'bad-value'],
    ['65 SACK ranges', new Uint8Array([0x11, 0, 65]), 'bad-value'],
    ['a NaN clock time', new Uint8Array([0x15, 0, 0, 0, 0, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), 'bad-value'],
  ];
  for (const [name, bytes, code] of cases) {
    it(`${name} → ${code}`, () => {
      const r = decodeSync(bytes);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.code, code, r.detail);
        assert.ok(r.detail.length > 0);
      }
    });
  }
});

describe('packUpdates', () => {
  it('splits any list into ≤ maxBytes messages, in order, losing and duplicating nothing, filling greedily (property)', () => {
    fc.assert(
      fc.property(arbStream(400), fc.constantFrom(MAX_SYNC_BYTES, 600), (updates, maxBytes) => {
        const fits = updates.filter((u) => encodeSync({ kind: 'updates', updates: [u] }).length <= maxBytes);
        const messages = packUpdates(fits, maxBytes);
        const out: SyncUpdate[] = [];
        for (const m of messages) {
          assert.ok(m.length <= maxBytes, `${m.length} > ${maxBytes}`);
          const r = decodeSync(m);
          assert.ok(r.ok && r.msg.kind === 'updates');
          assert.ok(r.msg.updates.length > 0);
          out.push(...r.msg.updates);
        }
        assert.deepStrictEqual(out, fits);
        // Greedy and exact: each message could not have taken the next one's first update.
        let i = 0;
        for (const m of messages.slice(0, -1)) {
          const r = decodeSync(m);
          assert.ok(r.ok && r.msg.kind === 'updates');
          i += r.msg.updates.length;
          const grown = encodeIfFits({ kind: 'updates', updates: [...r.msg.updates, fits[i]!] });
          assert.ok(grown === undefined || grown.length > maxBytes, 'a message was closed early');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('accepts updates with arbitrary (non-consecutive) seqs and writers', () => {
    fc.assert(
      fc.property(fc.array(arbUpdate, { maxLength: 100 }), (raw) => {
        const updates = raw.filter((u) => encodeIfFits({ kind: 'updates', updates: [u] }) !== undefined);
        const out = packUpdates(updates).flatMap((m) => {
          const r = decodeSync(m);
          assert.ok(r.ok && r.msg.kind === 'updates' && m.length <= MAX_SYNC_BYTES);
          return [...r.msg.updates];
        });
        assert.deepStrictEqual(out, updates);
      }),
      { numRuns: 300 },
    );
  });

  it('returns no message for no updates, and refuses an update that cannot fit alone', () => {
    assert.deepEqual(packUpdates([]), []);
    const big: SyncUpdate = { path: `/${'p'.repeat(255)}`, value: 's'.repeat(1000), stamp: at(1, 0), seq: 1 };
    assert.throws(() => packUpdates([big]), RangeError);
    assert.throws(() => packUpdates([], 1201), RangeError);
  });

  it('agrees with updateOverheadBytes on a steady stream (sizes add up to the encoded length)', () => {
    fc.assert(
      fc.property(arbStream(30), (updates) => {
        const bytes = encodeIfFits({ kind: 'updates', updates });
        fc.pre(bytes !== undefined && updates.length > 0 && updates[0]!.seq > 0);
        const nodes = new Set(updates.map((u) => u.stamp.node));
        const table = 1 + [...nodes].reduce((n, id) => n + 1 + Buffer.byteLength(id), 0);
        const countBytes = updates.length < 128 ? 1 : 2;
        const sum = updates.reduce((n, u) => n + updateOverheadBytes(u).total, 0);
        // The first seq is sent whole, the others as a 1-byte delta (what updateOverheadBytes assumes).
        const firstSeqExtra = varintLength(updates[0]!.seq) - 1;
        assert.equal(bytes!.length, 1 + table + countBytes + sum + firstSeqExtra);
      }),
      { numRuns: 500 },
    );
  });
});
