import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type DecodeLimits, decodeOscPacket, encodeOscPacket } from '../../../protocols/osc/codec.ts';
import type { OscDecodeResult } from '../../../protocols/osc/types.ts';
import {
  bytes,
  DECODE_CODES,
  encodedLength,
  expectedAfterRoundTrip,
  limitsArb,
  mutate,
  mutationArb,
  packetArb,
  plausibleStartArb,
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

describe('OSC decode properties', () => {
  it('never throws on arbitrary bytes (0–2048)', () => {
    const arb = fc
      .tuple(plausibleStartArb, fc.uint8Array({ maxLength: 2032, size: 'max' }), fc.boolean())
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
