import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeSync,
  encodeSync,
  MAX_SYNC_BYTES,
  SYNC_TYPE,
  type SyncMessage,
  V1_TYPES,
} from '../../../daemon/sync/v2/codec.ts';
import { packSnapshot } from '../../../daemon/sync/v2/pack.ts';
import { arbMessage, DEVICE_IDS, SENDER } from './arbitraries.ts';

// Untrusted bytes: decodeSync must answer every input with a message or one of its typed
// errors, never an exception. Anything it accepts must be a message encodeSync can send again
// (so a batch relayed in a snapshot cannot crash the next hop) and mean the same thing, and
// every entry it yields is attributed to the origin of the batch that carries it.

const RELAY = DEVICE_IDS[1]!;
const CODES = new Set(['truncated', 'bad-type', 'bad-value', 'oversize', 'bad-utf8', 'trailing-bytes', 'v1']);

function check(bytes: Uint8Array): void {
  const r = decodeSync(bytes, SENDER);
  if (!r.ok) {
    assert.ok(CODES.has(r.code), `unexpected code ${r.code}`);
    assert.equal(typeof r.detail, 'string');
    assert.equal(
      r.code === 'v1',
      bytes.length > 0 &&
        bytes.length <= MAX_SYNC_BYTES &&
        bytes[0]! >= V1_TYPES.first &&
        bytes[0]! <= V1_TYPES.last,
    );
    return;
  }
  const batches =
    r.msg.kind === 'updates' ? [r.msg.batch] : r.msg.kind === 'snapshot-part' ? r.msg.batches : [];
  for (const b of batches) {
    assert.equal(b.sig.length, 64);
    for (const e of b.entries) assert.equal(e.stamp.node, b.origin, 'an entry is its batch origin’s write');
  }
  if (r.msg.kind === 'updates')
    assert.equal(r.msg.batch.origin, SENDER, 'updates carry only the sender’s writes');
  // What this daemon accepted it may pass on to a third daemon, origins spelled out: it must fit.
  const relayed = packSnapshot(1, batches, RELAY).flatMap((part) => {
    const d = decodeSync(part, RELAY);
    assert.ok(d.ok && d.msg.kind === 'snapshot-part', 'a relayed part decodes');
    return d.msg.batches;
  });
  assert.deepStrictEqual(relayed, batches);
  const again = encodeSync(r.msg, SENDER);
  assert.ok(again.length <= bytes.length, 're-encoding never grows a message');
  assert.deepStrictEqual(decodeSync(again, SENDER), { ok: true, msg: r.msg });
}

function encodeIfFits(msg: SyncMessage): Uint8Array | undefined {
  try {
    return encodeSync(msg, SENDER);
  } catch (err) {
    if (err instanceof RangeError && /would exceed/.test(err.message)) return undefined;
    throw err;
  }
}

const arbValid = arbMessage.map(encodeIfFits).filter((b): b is Uint8Array => b !== undefined);

type Mutation =
  | { op: 'flip'; at: number; xor: number }
  | { op: 'truncate'; at: number }
  | { op: 'extend'; tail: Uint8Array }
  | { op: 'splice'; at: number; remove: number; insert: Uint8Array }
  | { op: 'set'; at: number; byte: number };

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip'), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('truncate'), at: fc.nat() }),
  fc.record({ op: fc.constant('extend'), tail: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({
    op: fc.constant('splice'),
    at: fc.nat(),
    remove: fc.nat(8),
    insert: fc.uint8Array({ maxLength: 8 }),
  }),
  // Bytes that mean something to the decoder: varint edges, NaN/∞ exponents, flags, counts.
  fc.record({
    op: fc.constant('set'),
    at: fc.nat(),
    byte: fc.constantFrom(0x00, 0x01, 0x07, 0x08, 0x0f, 0x7f, 0x80, 0xf0, 0xf8, 0xff),
  }),
);

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const b = new Uint8Array(bytes);
  const at = bytes.length === 0 ? 0 : m.op === 'extend' ? 0 : (m as { at: number }).at % bytes.length;
  switch (m.op) {
    case 'flip':
      b[at]! ^= m.xor;
      return b;
    case 'set':
      b[at] = m.byte;
      return b;
    case 'truncate':
      return b.subarray(0, at);
    case 'extend':
      return new Uint8Array([...b, ...m.tail]);
    case 'splice':
      return new Uint8Array([...b.subarray(0, at), ...m.insert, ...b.subarray(at + m.remove)]);
  }
}

describe('decodeSync on hostile input', () => {
  it('answers random bytes with a typed result (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: MAX_SYNC_BYTES + 20 }), check), { numRuns: 3000 });
  });

  it('answers random bodies behind every valid type byte with a typed result (property)', () => {
    const types = Object.values(SYNC_TYPE);
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 300 }), (type, body) =>
        check(new Uint8Array([type, ...body])),
      ),
      { numRuns: 4000 },
    );
  });

  it('answers mutated valid messages (flip, set, truncate, extend, splice) with a typed result (property)', () => {
    fc.assert(
      fc.property(arbValid, fc.array(arbMutation, { minLength: 1, maxLength: 3 }), (bytes, mutations) => {
        check(mutations.reduce(mutate, bytes));
      }),
      { numRuns: 4000 },
    );
  });

  it('answers every truncation of a valid message with truncated (a cut is never a shorter valid message)', () => {
    fc.assert(
      fc.property(arbValid, (bytes) => {
        for (let n = 0; n < bytes.length; n++) {
          const r = decodeSync(bytes.subarray(0, n), SENDER);
          assert.ok(!r.ok, `a cut to ${n} of ${bytes.length} bytes decoded`);
          assert.equal(r.code, 'truncated', r.detail);
        }
      }),
      { numRuns: 200 },
    );
  });
});
