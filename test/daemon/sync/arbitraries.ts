import fc from 'fast-check';
import type { Value } from '../../../daemon/state/coerce.ts';
import {
  encodeEntryList,
  MAX_BUCKETS,
  MAX_CERT_BYTES,
  MAX_CERT_REQUESTS,
  MAX_ENTRY_LIST_BYTES,
  MAX_SACK_RANGES,
  MAX_SEQ,
  type OpenBatch,
  SIG_BYTES,
  type SyncEntry,
  type SyncMessage,
} from '../../../daemon/sync/v2/codec.ts';

// Generators for sync/v2 messages, shared by the round-trip, fuzz and packing tests. They lean
// on the edges: unicode paths, −0, subnormals, int32 bounds, times past 2^48, counters near
// 2^32, origins of 1 and 64 bytes. A generated batch is an OpenBatch (entries included), which
// is exactly what decodeSync gives back; its signature is any 64 bytes (the codec never checks
// it: keys.test.ts does).

export const DEVICE_IDS = [
  'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGG5DR-NRQW4ZK-PFSGE3T-MFWGYZI',
  'ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ-ZZZZZZZ',
];
/** The daemon the generated messages come from (its own batches leave their origin out). */
export const SENDER = DEVICE_IDS[0]!;

/** Plain objects, as the decoder builds them (fast-check may otherwise give null-prototype records). */
const record = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) =>
  fc.record(model, { noNullPrototype: true });

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });

/** 1 to 64 UTF-8 bytes: 16 code points are at most 64 bytes. */
export const arbOrigin = fc.oneof(
  fc.constantFrom(...DEVICE_IDS, 'o'.repeat(64), 'N'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }),
);
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

const arbTime = fc.oneof(
  fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }),
  fc.constantFrom(0, -0, 1, 2 ** 48 - 1, 2 ** 48, -1, 0.5, Number.MAX_VALUE),
  finite,
);
const arbCounter = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }));

/** An entry written by `origin` (decoded entries take their stamp's node from the batch). */
export const arbEntryOf = (origin: string): fc.Arbitrary<SyncEntry> =>
  record({
    path: arbPath,
    value: arbValue,
    stamp: record({ t: arbTime, c: arbCounter, node: fc.constant(origin) }),
  });

export const arbEntry: fc.Arbitrary<SyncEntry> = fc.constantFrom(...DEVICE_IDS).chain(arbEntryOf);

export const arbSig = fc.uint8Array({ minLength: SIG_BYTES, maxLength: SIG_BYTES });

/** Drops entries from the end until the list fits a batch; the generators only make sendable entries. */
function fitting(entries: SyncEntry[]): { entries: SyncEntry[]; list: Uint8Array } {
  for (let n = entries.length; ; n--) {
    try {
      return {
        entries: entries.slice(0, n),
        list: encodeEntryList(entries.slice(0, n), MAX_ENTRY_LIST_BYTES),
      };
    } catch (err) {
      if (!(err instanceof RangeError && /would exceed/.test(err.message))) throw err;
    }
  }
}

/** A batch by one of `origins`, of up to `maxEntries` entries, cut to fit MAX_ENTRY_LIST_BYTES. */
export const arbBatch = (
  origins: fc.Arbitrary<string> = arbOrigin,
  maxEntries = 12,
): fc.Arbitrary<OpenBatch> =>
  origins.chain((origin) =>
    fc.tuple(fc.array(arbEntryOf(origin), { maxLength: maxEntries }), arbSig).map(([raw, sig]) => {
      const { entries, list } = fitting(raw);
      return { origin, list, sig, entries };
    }),
  );

export const arbSeq = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: MAX_SEQ }));

const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const clockTime = fc.oneof(finite, fc.double({ min: 0, max: 1e13, noNaN: true }));

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

/** Every message kind as sent by SENDER; some are too big for a datagram (callers filter). */
export const arbMessage: fc.Arbitrary<SyncMessage<OpenBatch>> = fc.oneof(
  fc
    .tuple(arbSeq, arbBatch(fc.constant(SENDER), 40))
    // The last entry's number must stay within 2^48−1 (the decoder refuses a run past it).
    .map(([seq, batch]) => ({
      kind: 'updates' as const,
      firstSeq: Math.min(seq, MAX_SEQ - Math.max(0, batch.entries.length - 1)),
      batch,
    })),
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
      // The sender's own batches and relayed ones, mixed.
      batches: fc.array(arbBatch(fc.oneof(fc.constant(SENDER), arbOrigin), 6), { maxLength: 5 }),
    })
    .map(({ id, parts, at, batches }) => ({
      kind: 'snapshot-part' as const,
      id,
      part: Math.floor(at * parts),
      parts,
      batches,
    })),
  record({ kind: fc.constant('clock-ping'), id: u32, t1: clockTime }),
  record({ kind: fc.constant('clock-pong'), id: u32, t1: clockTime, t2: clockTime, t3: clockTime }),
  record({ kind: fc.constant('cert'), der: fc.uint8Array({ minLength: 1, maxLength: MAX_CERT_BYTES }) }),
  record({
    kind: fc.constant('cert-request'),
    ids: fc.array(arbOrigin, { minLength: 1, maxLength: MAX_CERT_REQUESTS }),
  }),
);
