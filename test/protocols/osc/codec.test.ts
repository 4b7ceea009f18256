import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { decodeOscPacket, encodeOscPacket, IMMEDIATE, oscMessage } from '../../../protocols/osc/codec.ts';
import type { OscArg, OscDecodeCode, OscMessage, OscPacket } from '../../../protocols/osc/types.ts';
import { bytes, expectedAfterRoundTrip, int32 } from './osc-test-helpers.ts';

// Example-based tests of the OSC codec: a round trip for every type tag, then every decode
// error code from hand-written bytes. Strings in bytes(...) are one byte per character.

const LIMITS = { maxBytes: 65536, maxDepth: 8 };

type RawOsc = { readPacket(data: Uint8Array, options: object): unknown };
const rawOsc = createRequire(import.meta.url)('osc/src/osc.js') as RawOsc;

function roundTrip(p: OscPacket): OscPacket {
  const r = decodeOscPacket(encodeOscPacket(p), LIMITS);
  assert.ok(r.ok, r.ok ? '' : `decode failed: ${r.error.code} ${r.error.message}`);
  return r.packet;
}

function expectError(b: Uint8Array, code: OscDecodeCode, limits = LIMITS): string {
  const r = decodeOscPacket(b, limits);
  assert.equal(r.ok, false, `expected ${code}, decoded ${JSON.stringify(r.ok && r.packet)}`);
  if (r.ok) throw new Error('unreachable');
  assert.equal(r.error.code, code, `message: ${r.error.message}`);
  assert.equal(typeof r.error.message, 'string');
  assert.ok(r.error.message.length > 0);
  assert.ok(
    !r.error.message.startsWith('codec:'),
    `the library, not the validator, rejected: ${r.error.message}`,
  );
  return r.error.message;
}

const EVERY_TYPE: OscArg[] = [
  { type: 'i', value: -123456 },
  { type: 'f', value: 0.5 },
  { type: 's', value: 'hello' },
  { type: 'S', value: 'sym' },
  { type: 'b', value: Uint8Array.from([1, 2, 3, 4, 5]) },
  { type: 'h', value: -(2 ** 40) - 7 },
  { type: 'd', value: Math.PI },
  { type: 't', value: { seconds: 3_900_000_000, fraction: 0x80000001 } },
  { type: 'T', value: true },
  { type: 'F', value: false },
  { type: 'N', value: null },
  { type: 'I', value: null },
  { type: 'c', value: 'x' },
  { type: 'r', value: { r: 255, g: 0, b: 128, a: 7 } },
  { type: 'm', value: Uint8Array.from([0, 0x90, 60, 127]) },
];

describe('OSC codec round trip', () => {
  for (const arg of EVERY_TYPE) {
    it(`type tag '${arg.type}'`, () => {
      const msg = oscMessage('/t', [arg]);
      assert.deepEqual(roundTrip(msg), msg);
    });
  }

  it('every type in one message, and inside a one-level array', () => {
    const msg = oscMessage('/all', [
      ...EVERY_TYPE,
      { type: '[', value: EVERY_TYPE },
      { type: '[', value: [] },
    ]);
    const encoded = encodeOscPacket(msg);
    // The type tag string spells the array out with brackets.
    const tags = new TextDecoder().decode(encoded.subarray(8, 8 + 36));
    assert.equal(tags, ',ifsSbhdtTFNIcrm[ifsSbhdtTFNIcrm][]\0');
    assert.deepEqual(roundTrip(msg), msg);
  });

  it('float32 narrows the value; float64 keeps it', () => {
    const msg = oscMessage('/f', [
      { type: 'f', value: 0.1 },
      { type: 'd', value: 0.1 },
    ]);
    const back = roundTrip(msg);
    assert.deepEqual(
      back,
      oscMessage('/f', [
        { type: 'f', value: Math.fround(0.1) },
        { type: 'd', value: 0.1 },
      ]),
    );
    assert.deepEqual(back, expectedAfterRoundTrip(msg));
  });

  it('int64 at the edges of the safe range', () => {
    for (const value of [0, -1, 2 ** 32, -(2 ** 32), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      const msg = oscMessage('/h', [{ type: 'h', value }]);
      assert.deepEqual(roundTrip(msg), msg, `h ${value}`);
    }
  });

  it('a message with no arguments encodes to address + ","', () => {
    const msg = oscMessage('/empty');
    assert.deepEqual(encodeOscPacket(msg), bytes('/empty\0\0', ',\0\0\0'));
    assert.deepEqual(roundTrip(msg), msg);
  });

  it('blobs whose length is not a multiple of 4 are padded and come back exact', () => {
    for (let n = 0; n <= 9; n++) {
      const value = Uint8Array.from({ length: n }, (_, i) => 0xf0 + i);
      const msg = oscMessage('/blob', [
        { type: 'b', value },
        { type: 'i', value: 42 },
      ]);
      const encoded = encodeOscPacket(msg);
      // "/blob\0\0\0" ",bi\0" size(n) data padded to 4, then the int.
      assert.equal(encoded.length, 8 + 4 + 4 + Math.ceil(n / 4) * 4 + 4);
      assert.deepEqual(roundTrip(msg), msg);
    }
  });

  it('UTF-8 strings and addresses', () => {
    const msg = oscMessage('/ünï/çødé/音', [
      { type: 's', value: 'Grüße, 世界 🎛️' },
      { type: 'S', value: 'é' },
      { type: 's', value: '' },
    ]);
    const encoded = encodeOscPacket(msg);
    // "é" is two bytes in UTF-8: 'S' argument "\xc3\xa9\0\0".
    assert.ok(encoded.length % 4 === 0);
    assert.deepEqual(roundTrip(msg), msg);
  });

  it('bundles nested three levels with immediate and concrete time tags', () => {
    const concrete = { seconds: 3_913_056_000, fraction: 0x40000000 };
    const packet: OscPacket = {
      kind: 'bundle',
      timetag: IMMEDIATE,
      elements: [
        oscMessage('/a', [{ type: 'i', value: 1 }]),
        {
          kind: 'bundle',
          timetag: concrete,
          elements: [
            {
              kind: 'bundle',
              timetag: { seconds: 0, fraction: 1 },
              elements: [oscMessage('/deep', [{ type: 's', value: 'x' }]), oscMessage('/deep2')],
            },
            oscMessage('/b', [{ type: 'f', value: 1.5 }]),
          ],
        },
        { kind: 'bundle', timetag: concrete, elements: [] },
      ],
    };
    const back = roundTrip(packet);
    assert.deepEqual(back, packet);
    assert.equal(back.kind, 'bundle');
    if (back.kind === 'bundle') assert.deepEqual(back.timetag, { seconds: 0, fraction: 1 });
  });

  it('encodes a bundle exactly as OSC 1.0 lays it out', () => {
    const packet: OscPacket = {
      kind: 'bundle',
      timetag: { seconds: 0x01020304, fraction: 0x05060708 },
      elements: [oscMessage('/a', [{ type: 'i', value: 7 }])],
    };
    assert.deepEqual(
      encodeOscPacket(packet),
      bytes(
        '#bundle\0',
        [1, 2, 3, 4, 5, 6, 7, 8], // time tag
        int32(12), // element size
        '/a\0\0',
        ',i\0\0',
        int32(7),
      ),
    );
  });

  it('decodes a Buffer that is a slice of a larger ArrayBuffer (non-zero byteOffset)', () => {
    const msg = oscMessage('/slice', [
      { type: 'b', value: Uint8Array.from([9, 8, 7]) },
      { type: 'm', value: Uint8Array.from([1, 0xb0, 7, 100]) },
      { type: 'r', value: { r: 10, g: 20, b: 30, a: 255 } },
      { type: 'i', value: 5 },
    ]);
    const encoded = encodeOscPacket(msg);
    const big = new ArrayBuffer(encoded.length + 64);
    new Uint8Array(big).fill(0xee); // garbage around the packet
    new Uint8Array(big).set(encoded, 24);
    const slice = Buffer.from(big, 24, encoded.length);
    assert.equal(slice.byteOffset, 24);

    // The raw library reads blobs from `.buffer` ignoring byteOffset: it returns the wrong bytes.
    const raw = rawOsc.readPacket(slice, { metadata: true }) as { args: Array<{ value: unknown }> };
    assert.notDeepEqual(Array.from(raw.args[0]!.value as Uint8Array), [9, 8, 7]);

    const r = decodeOscPacket(slice, LIMITS);
    assert.ok(r.ok);
    assert.deepEqual(r.packet, msg);
    // The input is not modified and the decoded blob does not alias it.
    const blob = (r.packet as OscMessage).args[0]!.value as Uint8Array;
    blob[0] = 0;
    assert.deepEqual(slice.subarray(0, encoded.length), Buffer.from(encoded));
  });

  it('decodes a Uint8Array at offset 0 that is shorter than its ArrayBuffer', () => {
    const encoded = encodeOscPacket(oscMessage('/short', [{ type: 'b', value: Uint8Array.from([1, 2]) }]));
    const big = new Uint8Array(encoded.length + 8);
    big.set(encoded, 0);
    const r = decodeOscPacket(big.subarray(0, encoded.length), LIMITS);
    assert.ok(r.ok);
    assert.deepEqual(r.packet, oscMessage('/short', [{ type: 'b', value: Uint8Array.from([1, 2]) }]));
  });

  it('encode throws on a programmer error (address without "/")', () => {
    assert.throws(() => encodeOscPacket(oscMessage('nope')));
  });
});

describe('OSC decode errors', () => {
  describe("'truncated'", () => {
    it('packet length not a multiple of 4', () => {
      // "/a\0\0" ",i\0\0" then 3 of the 4 int bytes.
      const m = expectError(bytes('/a\0\0', ',i\0\0', [0, 0, 1]), 'truncated');
      assert.match(m, /multiple of 4/);
    });

    it('empty packet', () => {
      expectError(new Uint8Array(0), 'truncated');
    });

    it('int argument missing entirely', () => {
      // ",i" promises 4 bytes; none follow.
      expectError(bytes('/a\0\0', ',i\0\0'), 'truncated');
    });

    it('int64 argument cut short after a complete int', () => {
      // ",ih\0" : int 1 present, then only 4 of the 8 int64 bytes.
      expectError(bytes('/a\0\0', ',ih\0', int32(1), int32(2)), 'truncated');
    });

    it('string argument missing', () => {
      // ",s" promises a string; the packet ends after the type tags.
      expectError(bytes('/a\0\0', ',s\0\0'), 'truncated');
    });

    it('blob size missing', () => {
      expectError(bytes('/a\0\0', ',b\0\0'), 'truncated');
    });

    it('negative blob length', () => {
      // size field 0xfffffffc = -4
      const m = expectError(bytes('/a\0\0', ',b\0\0', int32(-4), [1, 2, 3, 4]), 'truncated');
      assert.match(m, /negative/);
    });

    it('blob running past the end', () => {
      // size 8, only 4 data bytes
      expectError(bytes('/a\0\0', ',b\0\0', int32(8), [1, 2, 3, 4]), 'truncated');
    });

    it('blob size near 2^31 (padding must not overflow int32)', () => {
      // size 0x7fffffff: (size + 3) & ~3 wraps to -2^31 in 32-bit arithmetic.
      expectError(bytes('/a\0\0', ',b\0\0', int32(0x7fffffff)), 'truncated');
      // Two blobs: the second size field would be read at a negative offset.
      expectError(bytes('/a\0\0', ',bb\0', int32(0x7fffffff), int32(0)), 'truncated');
      // ",bsiii": after the wrap, 's' would find the address NUL and the ints would land on the end.
      expectError(bytes('/a\0\0', ',bsiii\0\0', int32(0x7fffffff)), 'truncated');
      expectError(bytes('/a\0\0', ',b\0\0', int32(0x7ffffffe), [0, 0, 0, 0]), 'truncated');
    });

    it('bundle header cut short', () => {
      expectError(bytes('#bun'), 'truncated');
    });

    it('bundle time tag cut short', () => {
      // "#bundle\0" then 4 of the 8 time tag bytes.
      expectError(bytes('#bundle\0', [0, 0, 0, 0]), 'truncated');
    });

    it('bundle element size cut short', () => {
      // "#bundle\0" tt, then 2 bytes of an element size. Every bundle element is 4-aligned, so the
      // whole-packet length check is what fires here.
      const m = expectError(bytes('#bundle\0', [0, 0, 0, 0, 0, 0, 0, 1], [0, 0]), 'truncated');
      assert.match(m, /multiple of 4/);
    });
  });

  describe("'unterminated-string'", () => {
    it('address with no NUL', () => {
      expectError(bytes('/abc'), 'unterminated-string');
      expectError(bytes('/abcdefg'), 'unterminated-string');
    });

    it('type tag string with no NUL', () => {
      // ",iii" then three ints 0x01010101: no NUL byte anywhere after the ",", so the tag string never ends.
      expectError(
        bytes('/a\0\0', ',iii', int32(0x01010101), int32(0x01010101), int32(0x01010101)),
        'unterminated-string',
      );
    });

    it('string argument with no NUL', () => {
      expectError(bytes('/a\0\0', ',s\0\0', 'abcd'), 'unterminated-string');
    });

    it('address in a bundle element whose NUL lies only in the next element', () => {
      expectError(
        bytes(
          '#bundle\0',
          [0, 0, 0, 0, 0, 0, 0, 1],
          int32(4), // element 1: 4 bytes, "/abc" — no NUL inside it
          '/abc',
          int32(8), // element 2
          '/b\0\0',
          ',\0\0\0',
        ),
        'unterminated-string',
      );
    });
  });

  describe("'bad-type-tag'", () => {
    it('no type tag string', () => {
      expectError(bytes('/a\0\0'), 'bad-type-tag');
    });

    it('type tags not starting with ","', () => {
      expectError(bytes('/a\0\0', 'i\0\0\0', int32(1)), 'bad-type-tag');
    });

    it('unknown tag', () => {
      expectError(bytes('/a\0\0', ',x\0\0', int32(1)), 'bad-type-tag');
      expectError(bytes('/a\0\0', ',i', [0xe9, 0], int32(1)), 'bad-type-tag'); // non-ASCII tag byte
    });

    it('nested arrays', () => {
      expectError(bytes('/a\0\0', ',[[i]]\0\0', int32(1)), 'bad-type-tag');
    });

    it('unbalanced "["', () => {
      expectError(bytes('/a\0\0', ',[i\0', int32(1)), 'bad-type-tag');
    });

    it('unbalanced "]"', () => {
      expectError(bytes('/a\0\0', ',i]\0', int32(1)), 'bad-type-tag');
    });
  });

  describe("'bad-bundle-size'", () => {
    const header = bytes('#bundle\0', [0, 0, 0, 0, 0, 0, 0, 1]);
    const element = bytes('/a\0\0', ',\0\0\0'); // an 8-byte message

    it('element size larger than what remains', () => {
      expectError(bytes(header, int32(12), element), 'bad-bundle-size');
    });

    it('element size 0', () => {
      expectError(bytes(header, int32(0), element), 'bad-bundle-size');
    });

    it('element size not a multiple of 4', () => {
      expectError(bytes(header, int32(6), element), 'bad-bundle-size');
    });

    it('negative element size', () => {
      expectError(bytes(header, int32(-8), element), 'bad-bundle-size');
      expectError(bytes(header, int32(-(2 ** 31)), element), 'bad-bundle-size');
    });
  });

  describe("'bad-address'", () => {
    it('packet starting with neither "/" nor "#bundle"', () => {
      expectError(bytes('abc\0', ',\0\0\0'), 'bad-address');
      expectError(bytes([0, 0, 0, 0]), 'bad-address');
    });

    it('"#bundlx"', () => {
      expectError(bytes('#bundlx\0', [0, 0, 0, 0, 0, 0, 0, 1]), 'bad-address');
    });

    it('a bundle element that is not a packet', () => {
      expectError(bytes('#bundle\0', [0, 0, 0, 0, 0, 0, 0, 1], int32(4), 'x\0\0\0'), 'bad-address');
    });
  });

  it("'trailing-bytes'", () => {
    // A complete ",i" message followed by 4 extra bytes.
    expectError(bytes('/a\0\0', ',i\0\0', int32(1), [0, 0, 0, 0]), 'trailing-bytes');
    // Inside a bundle element: the element claims 16 bytes, the message uses 12.
    expectError(
      bytes('#bundle\0', [0, 0, 0, 0, 0, 0, 0, 1], int32(16), '/a\0\0', ',i\0\0', int32(1), [0, 0, 0, 0]),
      'trailing-bytes',
    );
  });

  it("'too-deep'", () => {
    const nest = (levels: number): OscPacket =>
      levels === 0 ? oscMessage('/x') : { kind: 'bundle', timetag: IMMEDIATE, elements: [nest(levels - 1)] };
    const three = encodeOscPacket(nest(3));
    assert.ok(decodeOscPacket(three, { maxBytes: 4096, maxDepth: 3 }).ok);
    expectError(three, 'too-deep', { maxBytes: 4096, maxDepth: 2 });
    expectError(encodeOscPacket(nest(1)), 'too-deep', { maxBytes: 4096, maxDepth: 0 });
    // A bare message has no bundle depth at all.
    assert.ok(decodeOscPacket(encodeOscPacket(nest(0)), { maxBytes: 4096, maxDepth: 0 }).ok);
  });

  it("'oversize'", () => {
    const b = encodeOscPacket(oscMessage('/abc', [{ type: 'i', value: 1 }])); // 16 bytes
    assert.equal(b.length, 16);
    assert.ok(decodeOscPacket(b, { maxBytes: 16, maxDepth: 1 }).ok);
    const m = expectError(b, 'oversize', { maxBytes: 15, maxDepth: 1 });
    assert.match(m, /16/);
    // Checked before anything else: even garbage reports oversize.
    expectError(new Uint8Array(17), 'oversize', { maxBytes: 16, maxDepth: 1 });
  });
});

describe('the raw osc library (why v1/validate.ts exists)', () => {
  it('accepts an unterminated string argument', () => {
    const b = bytes('/a\0\0', ',s\0\0', 'abcd'); // "abcd" has no NUL
    const raw = rawOsc.readPacket(b, { metadata: true });
    assert.deepEqual(raw, { address: '/a', args: [{ type: 's', value: 'abcd' }] });
    expectError(b, 'unterminated-string');
  });

  it('accepts a bundle element whose size field is wrong', () => {
    // Element size 5 (not a multiple of 4, and smaller than the 8-byte message it precedes).
    const b = bytes('#bundle\0', [0, 0, 0, 0, 0, 0, 0, 1], int32(5), '/a\0\0', ',\0\0\0');
    const raw = rawOsc.readPacket(b, { metadata: true }) as { packets: unknown[] };
    assert.deepEqual(raw.packets, [{ address: '/a', args: [] }]);
    expectError(b, 'bad-bundle-size');
  });

  it('accepts a bundle element size that cuts a message short', () => {
    // Element size 4 covers only "/a\0\0"; the library reads the whole message anyway.
    const b = bytes('#bundle\0', [0, 0, 0, 0, 0, 0, 0, 1], int32(4), '/a\0\0', ',\0\0\0');
    const raw = rawOsc.readPacket(b, { metadata: true }) as { packets: unknown[] };
    assert.deepEqual(raw.packets, [{ address: '/a', args: [] }]);
    expectError(b, 'bad-type-tag'); // the 4-byte element has no type tag string
  });

  it('throws plain errors on other malformed input', () => {
    assert.throws(() => rawOsc.readPacket(bytes('/a\0\0', ',x\0\0'), { metadata: true }), Error);
    assert.throws(() => rawOsc.readPacket(bytes('/a\0\0', ',i\0\0'), { metadata: true }), RangeError);
  });
});
