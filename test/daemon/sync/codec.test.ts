import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type Batch,
  decodeSync,
  encodeEntryList,
  encodeSync,
  entrySize,
  MAX_ENTRY_LIST_BYTES,
  MAX_SEQ,
  MAX_SYNC_BYTES,
  type OpenBatch,
  type SyncEntry,
  type SyncMessage,
  snapshotPartSize,
  updatesOverhead,
} from '../../../daemon/sync/v2/codec.ts';
import { arbBatch, arbMessage, DEVICE_IDS, SENDER } from './arbitraries.ts';

// The sync wire format, version 2: exact bytes, round trips, and what each side refuses.

/** Encodes, or undefined when the generated message is simply too big for one datagram. */
function encodeIfFits(msg: SyncMessage, sender = SENDER): Uint8Array | undefined {
  try {
    return encodeSync(msg, sender);
  } catch (err) {
    if (err instanceof RangeError && /would exceed/.test(err.message)) return undefined;
    throw err;
  }
}

function roundTrip(msg: SyncMessage, sender = SENDER): SyncMessage<OpenBatch> {
  const r = decodeSync(encodeSync(msg, sender), sender);
  if (!r.ok) assert.fail(`${r.code}: ${r.detail}`);
  return r.msg;
}

const list = (entries: readonly SyncEntry[]) => encodeEntryList(entries, MAX_ENTRY_LIST_BYTES);
/** A batch of `origin`'s entries with a recognisable (not checked here) signature. */
function batchOf(origin: string, entries: readonly SyncEntry[], fill = 0xab): OpenBatch {
  return { origin, list: list(entries), sig: new Uint8Array(64).fill(fill), entries: [...entries] };
}
const at = (t: number, c: number, node = SENDER) => ({ t, c, node });
const SIG = Array.from({ length: 64 }, (_, i) => i);

describe('sync codec: exact bytes', () => {
  it('encodes a small updates message, batch framing and all, to the hand-computed bytes', () => {
    const entries: SyncEntry[] = [
      { path: '/a', value: 1, stamp: at(1000, 2, 'N') },
      { path: '/b', value: true, stamp: at(1000, 3, 'N') },
    ];
    const batch = { origin: 'N', list: list(entries), sig: new Uint8Array(SIG) };
    // biome-ignore format: one field per line
    const expected = [
      0x20,                               // type: updates
      0x05,                               // firstSeq = 5
      0x01,                               // batch flags: the origin is the sender (left out)
      0x1b,                               // entry list: 27 bytes
      0x02,                               //   2 entries
      0x04,                               //   flags: kind i32, t as u48
      0x02, 0x2f, 0x61,                   //   path "/a"
      0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, //   t = 1000 (u48)
      0x02,                               //   c = 2
      0x00, 0x00, 0x00, 0x01,             //   value 1 (i32)
      0x02,                               //   flags: kind true, t as u48
      0x02, 0x2f, 0x62,                   //   path "/b"
      0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, //   t = 1000
      0x03,                               //   c = 3 (true carries no bytes)
      ...SIG,                             // 64-byte signature
    ];
    const bytes = encodeSync({ kind: 'updates', firstSeq: 5, batch }, 'N');
    assert.deepEqual([...bytes], expected);
    assert.deepStrictEqual(decodeSync(bytes, 'N'), {
      ok: true,
      msg: { kind: 'updates', firstSeq: 5, batch: { ...batch, entries } },
    });
    assert.equal(bytes.length, updatesOverhead(5, 27) + 27);
  });

  it('spells out the origin of a relayed batch in a snapshot part, and leaves out the sender’s own', () => {
    const mine = batchOf('N', []);
    const relayed = batchOf('OR', [{ path: '/c', value: null, stamp: at(2 ** 48, 0, 'OR') }], 0xcd);
    const bytes = encodeSync(
      { kind: 'snapshot-part', id: 7, part: 1, parts: 3, batches: [mine, relayed] },
      'N',
    );
    // biome-ignore format: one field per line
    const expected = [
      0x24,                               // type: snapshot-part
      0x00, 0x00, 0x00, 0x07,             // id
      0x00, 0x01, 0x00, 0x03,             // part 1 of 3
      0x02,                               // 2 batches
      0x01, 0x01, 0x00,                   // own batch: flags, list of 1 byte: 0 entries
      ...new Array(64).fill(0xab),
      0x00, 0x02, 0x4f, 0x52,             // relayed batch: flags 0, origin "OR"
      0x0e,                               // entry list: 14 bytes
      0x01,                               //   1 entry
      0x08,                               //   flags: kind null, t as f64 (2^48 does not fit u48)
      0x02, 0x2f, 0x63,                   //   path "/c"
      0x42, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // t = 2^48 (f64)
      0x00,                               //   c = 0
      ...new Array(64).fill(0xcd),
    ];
    assert.deepEqual([...bytes], expected);
    assert.equal(bytes.length, snapshotPartSize([mine, relayed], 'N'));
    assert.deepStrictEqual(
      roundTrip({ kind: 'snapshot-part', id: 7, part: 1, parts: 3, batches: [mine, relayed] }, 'N'),
      {
        kind: 'snapshot-part',
        id: 7,
        part: 1,
        parts: 3,
        batches: [mine, relayed],
      },
    );
  });

  it('carries no device ID for 50 of the sender’s own updates, and one when relayed', () => {
    const entries: SyncEntry[] = Array.from({ length: 50 }, (_, i) => ({
      path: `/p/${String(i).padStart(2, '0')}`,
      value: i,
      stamp: at(1_763_800_000_000, i),
    }));
    const b = batchOf(SENDER, entries);
    const bytes = encodeSync({ kind: 'updates', firstSeq: 100, batch: b }, SENDER);
    // flags, path length, 5-byte path, u48 t, 1-byte c, i32 value
    const entry = 1 + 1 + 5 + 6 + 1 + 4;
    assert.equal(b.list.length, 1 + 50 * entry);
    assert.equal(bytes.length, 1 + 1 + 1 + 2 + b.list.length + 64);
    assert.equal(bytes.length, updatesOverhead(100, b.list.length) + b.list.length);
    const latin1 = (u: Uint8Array) => Buffer.from(u).toString('latin1');
    assert.equal(latin1(bytes).split(SENDER).length - 1, 0, 'the origin is the sender: left out');
    assert.deepEqual(entrySize(entries[7]!), { total: entry, path: 5, value: 4, stamp: 7, framing: 2 });
    const relayed = encodeSync(
      { kind: 'snapshot-part', id: 1, part: 0, parts: 1, batches: [b] },
      DEVICE_IDS[1]!,
    );
    assert.equal(latin1(relayed).split(SENDER).length - 1, 1, 'relayed: the origin appears once');
  });
});

describe('sync codec: round trips', () => {
  it('round-trips every message kind, cert and cert-request included (property)', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(arbMessage, (msg) => {
        const bytes = encodeIfFits(msg);
        fc.pre(bytes !== undefined);
        seen.add(msg.kind);
        assert.ok(bytes!.length <= MAX_SYNC_BYTES);
        assert.deepStrictEqual(decodeSync(bytes!, SENDER), { ok: true, msg });
      }),
      { numRuns: 2000 },
    );
    assert.equal(seen.size, 9, `kinds exercised: ${[...seen].join(', ')}`);
  });

  it('sizes agree with the bytes: entrySize per entry, snapshotPartSize per part (property)', () => {
    fc.assert(
      fc.property(fc.array(arbBatch(), { maxLength: 4 }), (batches) => {
        for (const b of batches) {
          const sum = b.entries.reduce((n, e) => n + entrySize(e).total, 0);
          const count = b.entries.length < 128 ? 1 : 2;
          assert.equal(b.list.length, count + sum);
        }
        const bytes = encodeIfFits({ kind: 'snapshot-part', id: 1, part: 0, parts: 1, batches });
        fc.pre(bytes !== undefined);
        assert.equal(bytes!.length, snapshotPartSize(batches, SENDER));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps each value type and edge number exactly, −0 included', () => {
    const values = [null, true, false, 0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 0.1];
    values.push(Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, -(2 ** 53));
    const strings = ['', 'hello', 'ノブ 🎛️', '#ff8800cc', '#FF8800CC', '#ff8800', 'x'.repeat(1024)];
    for (const value of [...values, ...strings]) {
      const batch = batchOf(SENDER, [{ path: '/v', value, stamp: at(5, 0) }]);
      const msg: SyncMessage = { kind: 'updates', firstSeq: 1, batch };
      assert.deepStrictEqual(roundTrip(msg), msg, String(value));
    }
    assert.ok(Object.is((roundTrip({ kind: 'clock-ping', id: 0, t1: -0 }) as { t1: number }).t1, -0));
  });

  it('keeps stamps at the edges of the compact forms', () => {
    for (const t of [0, -0, 1.5, -1, 2 ** 48 - 1, 2 ** 48, Number.MAX_VALUE, 1_763_800_000_000]) {
      for (const c of [0, 127, 128, 2 ** 32 - 1]) {
        const batch = batchOf('x', [{ path: '/s', value: null, stamp: at(t, c, 'x') }]);
        const msg: SyncMessage = {
          kind: 'snapshot-part',
          id: 2 ** 32 - 1,
          part: 0,
          parts: 1,
          batches: [batch],
        };
        assert.deepStrictEqual(roundTrip(msg), msg);
      }
    }
  });

  it('keeps the mark of a write a person made (flag bit 0x10 inside the signed list), and only there', () => {
    const entries = [
      { path: '/h', value: 0.5, stamp: at(5, 0), human: true as const },
      { path: '/p', value: 0.5, stamp: at(5, 1) },
    ];
    const batch = batchOf(SENDER, entries);
    const msg: SyncMessage = { kind: 'updates', firstSeq: 1, batch };
    assert.deepStrictEqual(roundTrip(msg), msg);
    // The list's bytes: the count, then the first entry's flags, f64 (3) | human (0x10).
    assert.equal(batch.list[1], 0x13);
    assert.equal(batch.list[1 + 1 + 1 + 2 + 6 + 1 + 8], 0x03, 'the plugin-made entry carries no mark');
  });

  it('gives every decoded entry its batch’s origin as the stamp’s writer', () => {
    // The entry list names no writer: a relay cannot attribute an entry to anyone but the signer.
    const theirs = batchOf('THEM', [{ path: '/a', value: 1, stamp: at(9, 0, 'THEM') }]);
    const r = roundTrip({ kind: 'snapshot-part', id: 1, part: 0, parts: 1, batches: [theirs] }, 'N');
    assert.equal(r.kind, 'snapshot-part');
    if (r.kind === 'snapshot-part') assert.equal(r.batches[0]!.entries[0]!.stamp.node, 'THEM');
  });
});

describe('sync codec: what the entry list refuses to encode (RangeError)', () => {
  const entry = (over: Partial<SyncEntry>): SyncEntry => ({ path: '/x', value: 1, stamp: at(1, 0), ...over });
  const cases: [string, SyncEntry][] = [
    ['NaN value', entry({ value: Number.NaN })],
    ['Infinity value', entry({ value: Number.POSITIVE_INFINITY })],
    ['-Infinity value', entry({ value: Number.NEGATIVE_INFINITY })],
    ['NaN time', entry({ stamp: at(Number.NaN, 0) })],
    ['infinite time', entry({ stamp: at(Number.POSITIVE_INFINITY, 0) })],
    ['negative counter', entry({ stamp: at(1, -1) })],
    ['counter above 2^32−1', entry({ stamp: at(1, 2 ** 32) })],
    ['empty path', entry({ path: '' })],
    ['lone surrogate in a path', entry({ path: '/\ud800' })],
    ['lone surrogate in a value', entry({ value: 'a\udc00' })],
    ['string of 1025 bytes', entry({ value: `${'é'.repeat(512)}x` })],
    ['path of 769 bytes', entry({ path: `/${'a'.repeat(768)}` })],
    ['an object value', entry({ value: {} as never })],
  ];
  for (const [name, e] of cases) {
    it(name, () => {
      assert.throws(() => list([e]), RangeError);
      assert.throws(() => entrySize(e), RangeError);
    });
  }
  it('a list over MAX_ENTRY_LIST_BYTES', () => {
    const e = entry({ path: `/${'a'.repeat(100)}`, value: 'b'.repeat(1000) });
    assert.throws(() => list([e]), RangeError);
  });
});

describe('sync codec: what encodeSync refuses (RangeError)', () => {
  const own = (over: Partial<Batch> = {}): Batch => ({
    ...batchOf(SENDER, [{ path: '/x', value: 1, stamp: at(1, 0) }]),
    ...over,
  });
  const part = (batches: Batch[]): SyncMessage => ({
    kind: 'snapshot-part',
    id: 1,
    part: 0,
    parts: 1,
    batches,
  });
  const full = { origin: 'F', list: new Uint8Array(MAX_ENTRY_LIST_BYTES), sig: new Uint8Array(64) };
  const cases: [string, SyncMessage][] = [
    [
      'updates carrying another origin’s batch',
      { kind: 'updates', firstSeq: 1, batch: own({ origin: 'OTHER' }) },
    ],
    ['fractional firstSeq', { kind: 'updates', firstSeq: 1.5, batch: own() }],
    ['firstSeq above 2^48−1', { kind: 'updates', firstSeq: 2 ** 48, batch: own() }],
    ['a signature of 63 bytes', { kind: 'updates', firstSeq: 1, batch: own({ sig: new Uint8Array(63) }) }],
    ['a signature of 65 bytes', { kind: 'updates', firstSeq: 1, batch: own({ sig: new Uint8Array(65) }) }],
    ['an entry list of 1041 bytes', part([{ ...full, list: new Uint8Array(MAX_ENTRY_LIST_BYTES + 1) }])],
    ['a relayed origin of 65 bytes', part([own({ origin: 'o'.repeat(65) })])],
    ['an empty relayed origin', part([own({ origin: '' })])],
    ['a relayed origin with a lone surrogate', part([own({ origin: '\ud800' })])],
    ['a message over 1200 bytes', part([full, full])],
    ['256 batches in a part', part(Array(256).fill(own()))],
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
    ['part not below parts', { kind: 'snapshot-part', id: 1, part: 2, parts: 2, batches: [] }],
    ['zero parts', { kind: 'snapshot-part', id: 1, part: 0, parts: 0, batches: [] }],
    ['a certificate of 1101 bytes', { kind: 'cert', der: new Uint8Array(1101) }],
    ['a certificate request for nobody', { kind: 'cert-request', ids: [] }],
    ['a certificate request for 9 devices', { kind: 'cert-request', ids: Array(9).fill('id') }],
    ['a certificate request for a 65-byte ID', { kind: 'cert-request', ids: ['i'.repeat(65)] }],
    ['an unknown kind', { kind: 'gossip' } as unknown as SyncMessage],
    // What the decoder refuses, the encoder must refuse too: a peer would count these as malformed.
    ['an empty certificate', { kind: 'cert', der: new Uint8Array(0) }],
    ['a certificate request for an empty ID', { kind: 'cert-request', ids: [''] }],
    [
      'updates whose last seq runs past 2^48−1',
      {
        kind: 'updates',
        firstSeq: MAX_SEQ,
        batch: batchOf(SENDER, [
          { path: '/x', value: 1, stamp: at(1, 0) },
          { path: '/y', value: 2, stamp: at(1, 1) },
        ]),
      },
    ],
  ];
  for (const [name, msg] of cases) {
    it(name, () => assert.throws(() => encodeSync(msg, SENDER), RangeError));
  }
});

/** A varint's bytes (LEB128), to build messages by hand. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

describe('sync codec: what decodeSync refuses', () => {
  const valid = () =>
    encodeSync(
      {
        kind: 'updates',
        firstSeq: 1,
        batch: batchOf('N', [{ path: '/x', value: 0.5, stamp: at(1, 0, 'N') }]),
      },
      'N',
    );
  // Offsets in `valid()`: 0 type, 1 firstSeq, 2 batch flags, 3 list length (20), 4 count, 5 entry flags,
  // 6 path length, 7–8 path, 9–14 t, 15 c, 16–23 f64 value, 24–87 signature.
  const patched = (offset: number, bytes: number[]) => {
    const b = valid();
    b.set(bytes, offset);
    return b;
  };
  const v = valid();
  const two = encodeSync(
    {
      kind: 'updates',
      firstSeq: 1,
      batch: batchOf('N', [
        { path: '/x', value: 1, stamp: at(1, 0, 'N') },
        { path: '/y', value: 2, stamp: at(1, 1, 'N') },
      ]),
    },
    'N',
  );
  const sig = Array(64).fill(0);
  /** An updates message from 'N' whose entry list is `list`, framed and signed (any 64 bytes). */
  const ownList = (list: number[]) =>
    new Uint8Array([0x20, 1, 0x01, ...varint(list.length), ...list, ...sig]);
  /** A one-batch snapshot part whose batch spells out an origin of these bytes. */
  const relayedOrigin = (origin: number[]) =>
    new Uint8Array([0x24, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x00, origin.length, ...origin, 1, 0, ...sig]);
  const cases: [string, Uint8Array, string][] = [
    ['empty input', new Uint8Array(0), 'truncated'],
    ['1201 bytes', new Uint8Array(1201).fill(0x20), 'oversize'],
    ['an unknown type', new Uint8Array([0x05]), 'bad-type'],
    ['a type between v1 and v2', new Uint8Array([0x1f]), 'bad-type'],
    ['a type past v2', new Uint8Array([0x29]), 'bad-type'],
    ['a cut-off message', v.subarray(0, 20), 'truncated'],
    ['a cut-off signature', v.subarray(0, v.length - 1), 'truncated'],
    ['a byte too many', new Uint8Array([...v, 0]), 'trailing-bytes'],
    [
      'a byte too many inside the signed list',
      new Uint8Array([...v.subarray(0, 3), 21, ...v.subarray(4, 24), 0, ...v.subarray(24)]),
      'trailing-bytes',
    ],
    ['a NaN value', patched(16, [0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), 'bad-value'],
    ['an infinite value', patched(16, [0x7f, 0xf0, 0, 0, 0, 0, 0, 0]), 'bad-value'],
    [
      'a NaN stamp time',
      ownList([1, 0x0b, 2, 0x2f, 0x78, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0, 0, ...Array(8).fill(0)]),
      'bad-value',
    ],
    ['reserved entry flag bits', patched(5, [0x23]), 'bad-value'],
    ['every reserved entry flag bit', patched(5, [0xe3]), 'bad-value'],
    ['an unknown value kind', patched(5, [0x07]), 'bad-value'],
    ['reserved batch flag bits', patched(2, [0x03]), 'bad-value'],
    [
      'updates that spell out another origin',
      new Uint8Array([0x20, 1, 0x00, 1, 0x4f, ...v.subarray(3)]),
      'bad-value',
    ],
    ['an origin of 0 bytes', relayedOrigin([]), 'bad-value'],
    ['an origin of 65 bytes', relayedOrigin(Array(65).fill(0x6f)), 'bad-value'],
    ['invalid UTF-8 in an origin', relayedOrigin([0xff]), 'bad-utf8'],
    ['invalid UTF-8 in a path', patched(7, [0xc3, 0x28]), 'bad-utf8'],
    ['an entry list longer than 1040 bytes', ownList(Array(1041).fill(0)), 'bad-value'],
    ['more entries announced than bytes left', ownList([0x7f, 0]), 'truncated'],
    ['an overlong varint', new Uint8Array([0x21, 0x80, 0x00, 0x00]), 'bad-value'],
    [
      'a varint past 2^48',
      new Uint8Array([0x21, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0]),
      'bad-value',
    ],
    [
      'updates whose last seq runs past 2^48−1',
      new Uint8Array([0x20, ...varint(MAX_SEQ), ...two.subarray(2)]),
      'bad-value',
    ],
    ['an empty path', ownList([1, 0x00, 0x00]), 'bad-value'],
    [
      'a string longer than 1024 bytes',
      ownList([1, 0x05, 2, 0x2f, 0x78, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x08]),
      'oversize',
    ],
    ['part ≥ parts', new Uint8Array([0x24, 0, 0, 0, 0, 0, 2, 0, 2, 0]), 'bad-value'],
    ['unsorted buckets', new Uint8Array([0x23, 0, 0, 0, 0, 2, 5, 5]), 'bad-value'],
    ['17 SACK ranges', new Uint8Array([0x21, 0, 17]), 'bad-value'],
    ['a NaN clock time', new Uint8Array([0x25, 0, 0, 0, 0, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), 'bad-value'],
    ['a certificate of 0 bytes', new Uint8Array([0x27, 0, 0]), 'oversize'],
    ['a certificate of 1101 bytes', new Uint8Array([0x27, 0x04, 0x4d, ...Array(1101).fill(0)]), 'oversize'],
    ['a certificate request for nobody', new Uint8Array([0x28, 0]), 'bad-value'],
    [
      'a certificate request for 9 devices',
      new Uint8Array([0x28, 9, ...Array(9).fill([1, 0x41]).flat()]),
      'bad-value',
    ],
    ['a certificate request for an empty ID', new Uint8Array([0x28, 1, 0]), 'bad-value'],
    [
      'a certificate request for a 65-byte ID',
      new Uint8Array([0x28, 1, 65, ...Array(65).fill(0x41)]),
      'bad-value',
    ],
  ];
  for (const [name, bytes, code] of cases) {
    it(`${name} → ${code}`, () => {
      const r = decodeSync(bytes, 'N');
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.code, code, r.detail);
        assert.ok(r.detail.length > 0);
      }
    });
  }

  it('names every sync/v1 message as v1 (types 0x10–0x16), whatever follows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0x10, max: 0x16 }), fc.uint8Array({ maxLength: 300 }), (type, body) => {
        const r = decodeSync(new Uint8Array([type, ...body]), 'N');
        assert.ok(!r.ok);
        assert.equal(r.code, 'v1');
        assert.match(r.detail, /sync\/v1/);
      }),
      { numRuns: 300 },
    );
    // A real v1 updates message (one entry, from the old format's exact-bytes test).
    const v1 = [
      0x10, 0x01, 0x01, 0x4e, 0x01, 0x04, 0x02, 0x2f, 0x61, 0x00, 0, 0, 0, 0, 0x03, 0xe8, 0x02, 0x05, 0, 0, 0,
      1,
    ];
    const r = decodeSync(new Uint8Array(v1), 'N');
    assert.ok(!r.ok && r.code === 'v1');
  });
});
