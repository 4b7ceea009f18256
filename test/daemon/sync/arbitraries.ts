import fc from 'fast-check';
import type { Value } from '../../../daemon/state/coerce.ts';
import type { Stamp } from '../../../daemon/state/hlc.ts';
import {
  MAX_BUCKETS,
  MAX_SACK_RANGES,
  MAX_SEQ,
  type SyncEntry,
  type SyncMessage,
  type SyncUpdate,
} from '../../../daemon/sync/v1/codec.ts';

// Generators for sync messages, shared by the round-trip and the fuzz tests. They lean on the
// edges: unicode paths, −0, subnormals, int32 bounds, times past 2^48, counters near 2^32.

export const DEVICE_IDS = [
  'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGG5DR-NRQW4ZK-PFSGE3T-MFWGYZI',
  'ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ',
];

/** Plain objects, as the decoder builds them (fast-check may otherwise give null-prototype records). */
const record = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) =>
  fc.record(model, { noNullPrototype: true });

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });

export const arbNode = fc.oneof(fc.constantFrom(...DEVICE_IDS), fc.string({ unit: 'binary', maxLength: 12 }));
export const arbPath = fc.oneof(
  fc.constantFrom('/tempo', '/layer/1/opacity', '/ü/🎛️/ノブ'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }),
);

const hex = (n: number) => n.toString(16).padStart(8, '0');
export const arbValue: fc.Arbitrary<Value> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  finite,
  fc.integer(),
  fc.constantFrom(
    -0,
    0,
    2 ** 31,
    2 ** 31 - 1,
    -(2 ** 31),
    -(2 ** 31) - 1,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.MAX_SAFE_INTEGER,
    2 ** 53,
    0.1,
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: 0, max: 0xffffffff }).map((n) => `#${hex(n)}`),
  fc.integer({ min: 0, max: 0xffffffff }).map((n) => `#${hex(n).toUpperCase()}`),
  fc.constantFrom('#ffffff', '#0000000', ''),
);

export const arbStamp: fc.Arbitrary<Stamp> = record({
  t: fc.oneof(
    fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }),
    fc.constantFrom(0, -0, 1, 2 ** 48 - 1, 2 ** 48, -1, 0.5, Number.MAX_VALUE),
    finite,
  ),
  c: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  node: arbNode,
});

export const arbEntry: fc.Arbitrary<SyncEntry> = record({ path: arbPath, value: arbValue, stamp: arbStamp });

export const arbSeq = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: MAX_SEQ }));

export const arbUpdate: fc.Arbitrary<SyncUpdate> = record({
  path: arbPath,
  value: arbValue,
  stamp: arbStamp,
  seq: arbSeq,
});

/** A stream's updates: consecutive seqs from a random start, as a link would send them. */
export const arbStream = (maxLength: number): fc.Arbitrary<SyncUpdate[]> =>
  fc
    .tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.array(arbEntry, { maxLength, size: 'max' }))
    .map(([start, entries]) => entries.map((e, i) => ({ ...e, seq: start + i })));

const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const time = fc.oneof(finite, fc.double({ min: 0, max: 1e13, noNaN: true }));

const arbAck = fc
  .record({
    upTo: fc.oneof(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: MAX_SEQ })),
    steps: fc.array(record({ gap: fc.nat(1000), span: fc.nat(1000) }), { maxLength: MAX_SACK_RANGES }),
  })
  .map(({ upTo, steps }) => {
    const sack: { from: number; to: number }[] = [];
    let prev = upTo;
    for (const { gap, span } of steps) {
      const from = prev + 2 + gap;
      if (from + span > MAX_SEQ) break;
      sack.push({ from, to: from + span });
      prev = from + span;
    }
    return { kind: 'ack', upTo, sack } as const;
  });

export const arbMessage: fc.Arbitrary<SyncMessage> = fc.oneof(
  record({ kind: fc.constant('updates'), updates: fc.array(arbUpdate, { maxLength: 40, size: '+1' }) }),
  arbAck,
  record({
    kind: fc.constant('digest'),
    count: fc.integer({ min: 0, max: MAX_SEQ }),
    hash: u64,
    buckets: fc.array(record({ count: fc.integer({ min: 0, max: MAX_SEQ }), hash: u64 }), {
      maxLength: MAX_BUCKETS,
    }),
  }),
  record({
    kind: fc.constant('request'),
    id: u32,
    buckets: fc.oneof(
      fc.constant('all' as const),
      fc
        .uniqueArray(fc.integer({ min: 0, max: MAX_BUCKETS - 1 }), { minLength: 1, maxLength: MAX_BUCKETS })
        .map((b) => b.sort((x, y) => x - y)),
    ),
  }),
  fc
    .record({
      id: u32,
      parts: fc.integer({ min: 1, max: 0xffff }),
      at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      entries: fc.array(arbEntry, { maxLength: 40, size: '+1' }),
    })
    .map(({ id, parts, at, entries }) => ({
      kind: 'snapshot-part' as const,
      id,
      part: Math.floor(at * parts),
      parts,
      entries,
    })),
  record({ kind: fc.constant('clock-ping'), id: u32, t1: time }),
  record({ kind: fc.constant('clock-pong'), id: u32, t1: time, t2: time, t3: time }),
);
