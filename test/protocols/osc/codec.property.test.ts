import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type DecodeLimits, decodeOscPacket, encodeOscPacket } from '../../../protocols/osc/codec.ts';
import type { OscDecodeResult, OscPacket } from '../../../protocols/osc/types.ts';
import {
  bytes,
  DECODE_CODES,
  encodedLength,
  expectedAfterRoundTrip,
  packetArb,
  sizeFieldOffsets,
} from './osc-test-helpers.ts';

// The decoder is the trust boundary for every OSC byte from the LAN: whatever arrives, it returns
// a typed result and never throws. Properties over arbitrary bytes, over valid packets damaged
// in realistic ways, and the round trip of every valid packet.

const LIMITS: DecodeLimits = { maxBytes: 65536, maxDepth: 8 };

/** Decodes and checks the result is well-formed; returns it for further checks. */
function decodeTotal(b: Uint8Array, limits: DecodeLimits = LIMITS): OscDecodeResult {
  const r = decodeOscPacket(b, limits); // a throw fails the property with this input
  if (r.ok) {
    assert.ok(r.packet.kind === 'message' || r.packet.kind === 'bundle');
  } else {
    assert.deepEqual(Object.keys(r.error).sort(), ['code', 'message']);
    assert.ok(DECODE_CODES.has(r.error.code), `unknown code ${r.error.code}`);
    assert.equal(typeof r.error.message, 'string');
    // "codec: …" means the validator let through something the library then choked on.
    assert.ok(!r.error.message.startsWith('codec:'), `validator missed: ${r.error.message}`);
  }
  return r;
}

/** An accepted packet is stable: encoding what was decoded decodes to the same thing. */
function assertStable(r: OscDecodeResult): void {
  if (!r.ok) return;
  const again = decodeOscPacket(encodeOscPacket(r.packet), LIMITS);
  assert.ok(again.ok, again.ok ? '' : again.error.message);
  assert.deepEqual(again.packet, r.packet);
}

const int32Arb = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.constantFrom(0, 1, 3, 4, 8, -1, -4, 0x7fffffff, 0x7ffffffe, 0x7ffffffd, 0x7ffffffc, -(2 ** 31)),
);

type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; extra: Uint8Array }
  | { kind: 'size'; which: number; value: number }
  | { kind: 'int32'; at: number; value: number }
  | { kind: 'splice'; other: OscPacket; cutA: number; cutB: number };

const nat = fc.nat({ max: 1 << 16 });
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: nat, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: nat }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  // Length fields are where decoders go wrong: aim at them most often.
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('size' as const), which: nat, value: int32Arb }),
  },
  fc.record({ kind: fc.constant('int32' as const), at: nat, value: int32Arb }),
  fc.record({ kind: fc.constant('splice' as const), other: packetArb(2), cutA: nat, cutB: nat }),
);

function mutate(packet: OscPacket, encoded: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b: Uint8Array = encoded.slice();
  const sizeFields = sizeFieldOffsets(packet);
  const writeInt32 = (at: number, value: number) => {
    if (at + 4 <= b.length) new DataView(b.buffer, b.byteOffset, b.byteLength).setInt32(at, value);
  };
  for (const m of mutations) {
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) b[m.at % b.length]! ^= m.xor;
        break;
      case 'truncate':
        b = b.slice(0, m.at % (b.length + 1));
        break;
      case 'extend':
        b = bytes(b, m.extra);
        break;
      case 'size':
        // Aim at a real length field when there is one; otherwise any aligned word.
        writeInt32(
          sizeFields.length > 0 ? sizeFields[m.which % sizeFields.length]! : (m.which % 64) * 4,
          m.value,
        );
        break;
      case 'int32':
        if (b.length >= 4) writeInt32((m.at % (b.length >>> 2)) * 4, m.value);
        break;
      case 'splice': {
        const other = encodeOscPacket(m.other);
        b = bytes(b.subarray(0, m.cutA % (b.length + 1)), other.subarray(m.cutB % (other.length + 1)));
        break;
      }
    }
  }
  return b;
}

describe('OSC decode properties', () => {
  it('never throws on arbitrary bytes (0–2048)', () => {
    const prefixArb = fc.constantFrom(
      new Uint8Array(0),
      bytes('/'),
      bytes('/a\0\0,'),
      bytes('#bundle\0', [0, 0, 0, 0, 0, 0, 0, 1]),
    );
    const arb = fc
      .tuple(prefixArb, fc.uint8Array({ maxLength: 2032, size: 'max' }), fc.boolean())
      .map(([prefix, body, align]) => {
        const b = bytes(prefix, body);
        // Half the inputs 4-aligned, so they get past the length check.
        return align ? b.subarray(0, b.length & ~3) : b;
      });
    fc.assert(
      fc.property(arb, (b) => {
        assert.ok(b.length <= 2048);
        assertStable(decodeTotal(b));
      }),
      // Shrinking 2 KB random arrays takes minutes and gains little: report the first failure as is.
      { numRuns: 5000, endOnFailure: true },
    );
  });

  it('never throws on mutated valid packets', () => {
    const limitsArb = fc.constantFrom<DecodeLimits>(
      LIMITS,
      { maxBytes: 256, maxDepth: 2 },
      { maxBytes: 65536, maxDepth: 1 },
    );
    const counts = new Map<string, number>();
    fc.assert(
      fc.property(
        packetArb(3),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        limitsArb,
        (packet, mutations, limits) => {
          const b = mutate(packet, encodeOscPacket(packet), mutations);
          const r = decodeTotal(b, limits);
          const key = r.ok ? 'ok' : r.error.code;
          counts.set(key, (counts.get(key) ?? 0) + 1);
          assertStable(r);
        },
      ),
      { numRuns: 8000 },
    );
    // The mutations reach deep into the validator, not just its first check.
    for (const code of [
      'ok',
      'truncated',
      'unterminated-string',
      'bad-type-tag',
      'bad-bundle-size',
      'trailing-bytes',
    ]) {
      assert.ok(
        (counts.get(code) ?? 0) > 0,
        `no mutated packet produced ${code}: ${JSON.stringify([...counts])}`,
      );
    }
  });

  it('every valid packet round-trips (floats compared after Math.fround)', () => {
    fc.assert(
      fc.property(packetArb(3), (packet) => {
        const encoded = encodeOscPacket(packet);
        assert.equal(encoded.length, encodedLength(packet));
        const r = decodeTotal(encoded);
        assert.ok(r.ok, r.ok ? '' : `${r.error.code}: ${r.error.message}`);
        assert.deepEqual(r.packet, expectedAfterRoundTrip(packet));
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips from a Buffer at any offset inside a larger ArrayBuffer', () => {
    fc.assert(
      fc.property(packetArb(2), fc.nat({ max: 64 }), fc.nat({ max: 64 }), (packet, before, after) => {
        const encoded = encodeOscPacket(packet);
        const big = new ArrayBuffer(before + encoded.length + after);
        new Uint8Array(big).fill(0xa5);
        new Uint8Array(big).set(encoded, before);
        const r = decodeTotal(Buffer.from(big, before, encoded.length));
        assert.ok(r.ok);
        assert.deepEqual(r.packet, expectedAfterRoundTrip(packet));
      }),
      { numRuns: 1000 },
    );
  });
});
