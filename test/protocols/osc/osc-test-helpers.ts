import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeOscPacket } from '../../../protocols/osc/codec.ts';
import type { StreamDecoder } from '../../../protocols/osc/framing.ts';
import type { OscArg, OscDecodeCode, OscMessage, OscPacket, Timetag } from '../../../protocols/osc/types.ts';

// Shared by the OSC codec tests: byte builders for hand-crafted packets, generators of valid
// packets, and the normalisation that turns a sent packet into what decoding must return.

export const DECODE_CODES: ReadonlySet<OscDecodeCode> = new Set<OscDecodeCode>([
  'truncated',
  'unterminated-string',
  'bad-type-tag',
  'bad-bundle-size',
  'bad-address',
  'trailing-bytes',
  'too-deep',
  'oversize',
]);

/**
 * Concatenates byte parts: a string contributes one byte per character (char codes 0–255, so
 * '\0' is a NUL byte), an array or Uint8Array contributes its numbers as bytes.
 */
export function bytes(...parts: Array<string | ArrayLike<number>>): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'string') {
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i);
        if (c > 0xff) throw new Error(`bytes(): char ${c} is not a byte`);
        out.push(c);
      }
    } else out.push(...Array.from(p));
  }
  return Uint8Array.from(out);
}

/** Big-endian int32 (two's complement), as OSC writes sizes and 'i' arguments. */
export function int32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

// ---- generators of valid packets ----

// Decoded values are plain objects; fast-check otherwise sometimes builds null-prototype records.
const NO_NULL_PROTO = { noNullPrototype: true } as const;
const NUL_FREE = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('\0'));
const uint32 = fc.integer({ min: 0, max: 0xffffffff });
export const timetagArb: fc.Arbitrary<Timetag> = fc.oneof(
  fc.constant({ seconds: 0, fraction: 1 }),
  fc.record({ seconds: uint32, fraction: uint32 }, NO_NULL_PROTO),
);

const scalarArgArb: fc.Arbitrary<OscArg> = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({ type: 'i' as const, value })),
  fc.double().map((value) => ({ type: 'f' as const, value })),
  fc.double().map((value) => ({ type: 'd' as const, value })),
  fc
    .integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })
    .map((value) => ({ type: 'h' as const, value })),
  NUL_FREE.map((value) => ({ type: 's' as const, value })),
  NUL_FREE.map((value) => ({ type: 'S' as const, value })),
  fc.integer({ min: 0, max: 0xffff }).map((c) => ({ type: 'c' as const, value: String.fromCharCode(c) })),
  fc
    .record(
      {
        r: fc.integer({ min: 0, max: 255 }),
        g: fc.integer({ min: 0, max: 255 }),
        b: fc.integer({ min: 0, max: 255 }),
        a: fc.integer({ min: 0, max: 255 }),
      },
      NO_NULL_PROTO,
    )
    .map((value) => ({ type: 'r' as const, value })),
  fc.uint8Array({ maxLength: 40 }).map((value) => ({ type: 'b' as const, value })),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((value) => ({ type: 'm' as const, value })),
  timetagArb.map((value) => ({ type: 't' as const, value })),
  fc.boolean().map((v) => (v ? { type: 'T' as const, value: true } : { type: 'F' as const, value: false })),
  fc.constantFrom<OscArg>({ type: 'N', value: null }, { type: 'I', value: null }),
);

export const argArb: fc.Arbitrary<OscArg> = fc.oneof(
  { weight: 6, arbitrary: scalarArgArb },
  {
    weight: 1,
    arbitrary: fc.array(scalarArgArb, { maxLength: 4 }).map((value) => ({ type: '[' as const, value })),
  },
);

export const messageArb: fc.Arbitrary<OscMessage> = fc.record(
  {
    kind: fc.constant('message' as const),
    address: NUL_FREE.map((s) => `/${s}`),
    args: fc.array(argArb, { maxLength: 6 }),
  },
  NO_NULL_PROTO,
);

/** Messages and bundles nested up to `bundleLevels` deep. */
export function packetArb(bundleLevels: number): fc.Arbitrary<OscPacket> {
  if (bundleLevels <= 0) return messageArb;
  const inner = packetArb(bundleLevels - 1);
  return fc.oneof(
    messageArb,
    fc.record(
      {
        kind: fc.constant('bundle' as const),
        timetag: timetagArb,
        elements: fc.array(inner, { maxLength: 3 }),
      },
      NO_NULL_PROTO,
    ),
  );
}

/** What decoding an encoded packet must give: floats narrowed to float32. */
export function expectedAfterRoundTrip(p: OscPacket): OscPacket {
  if (p.kind === 'bundle') return { ...p, elements: p.elements.map(expectedAfterRoundTrip) };
  return { ...p, args: p.args.map(expectedArg) };
}

function expectedArg(a: OscArg): OscArg {
  if (a.type === 'f') return { type: 'f', value: Math.fround(a.value) };
  if (a.type === '[') return { type: '[', value: a.value.map(expectedArg) };
  return a;
}

/**
 * Byte offsets of every length field in an encoded packet (bundle element sizes and blob
 * sizes), computed from the packet structure so mutations can aim at them.
 */
export function sizeFieldOffsets(p: OscPacket, at = 0): number[] {
  const padded = (n: number) => (n + 4) & ~3; // string + NUL, padded
  if (p.kind === 'bundle') {
    const out: number[] = [];
    let off = at + 16;
    for (const e of p.elements) {
      out.push(off);
      out.push(...sizeFieldOffsets(e, off + 4));
      off += 4 + encodedLength(e);
    }
    return out;
  }
  const flat = p.args.flatMap((a) => (a.type === '[' ? a.value : [a]));
  const tags = p.args.map((a) => (a.type === '[' ? `[${a.value.map((x) => x.type).join('')}]` : a.type));
  let off = at + padded(utf8Length(p.address)) + padded(1 + tags.join('').length);
  const out: number[] = [];
  for (const a of flat) {
    off += argLength(a, out, off);
  }
  return out;
}

const utf8Length = (s: string) => Buffer.byteLength(s, 'utf8');

function argLength(a: OscArg, sizeFields: number[], off: number): number {
  switch (a.type) {
    case 'i':
    case 'f':
    case 'c':
    case 'r':
    case 'm':
      return 4;
    case 'h':
    case 'd':
    case 't':
      return 8;
    case 's':
    case 'S':
      return (utf8Length(a.value) + 4) & ~3;
    case 'b':
      sizeFields.push(off);
      return 4 + ((a.value.length + 3) & ~3);
    default:
      return 0;
  }
}

/** Encoded size of a packet, computed independently of the codec. */
export function encodedLength(p: OscPacket): number {
  if (p.kind === 'bundle') return 16 + p.elements.reduce((n, e) => n + 4 + encodedLength(e), 0);
  const flat = p.args.flatMap((a) => (a.type === '[' ? a.value : [a]));
  const tags = p.args.map((a) => (a.type === '[' ? `[${a.value.map((x) => x.type).join('')}]` : a.type));
  let n = ((utf8Length(p.address) + 4) & ~3) + ((1 + tags.join('').length + 4) & ~3);
  for (const a of flat) n += argLength(a, [], 0);
  return n;
}

// ---- damaged packets: realistic corruptions of valid ones, aimed at length fields ----

const int32Arb = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.constantFrom(0, 1, 3, 4, 8, -1, -4, 0x7fffffff, 0x7ffffffe, 0x7ffffffd, 0x7ffffffc, -(2 ** 31)),
);

export type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; extra: Uint8Array }
  | { kind: 'size'; which: number; value: number }
  | { kind: 'int32'; at: number; value: number }
  | { kind: 'splice'; other: OscPacket; cutA: number; cutB: number };

const nat = fc.nat({ max: 1 << 16 });
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
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

export function mutate(packet: OscPacket, encoded: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
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

/** Starts that get random bytes past the first checks: none, an address, a message head, a bundle head. */
export const plausibleStartArb = fc.constantFrom(
  new Uint8Array(0),
  bytes('/'),
  bytes('/a\0\0,'),
  bytes('#bundle\0', [0, 0, 0, 0, 0, 0, 0, 1]),
);

/** Decode limits: roomy, tight on size and depth, and no nesting at all. */
export const limitsArb = fc.constantFrom(
  { maxBytes: 65536, maxDepth: 8 },
  { maxBytes: 256, maxDepth: 2 },
  { maxBytes: 65536, maxDepth: 1 },
);

/** A stream decoder's constructor (SLIP or size-prefixed): both take the same three things. */
type DecoderFactory<C extends string> = (init: {
  maxFrameBytes: number;
  onFrame: (frame: Uint8Array) => void;
  onError: (code: C, message: string) => void;
}) => StreamDecoder;

/** Feeds `chunks` to a fresh decoder; what came out, and whether it holds half a frame. */
export function decodeStream<C extends string>(
  create: DecoderFactory<C>,
  chunks: ReadonlyArray<ArrayLike<number>>,
  maxFrameBytes = 1024,
) {
  const frames: number[][] = [];
  const errors: C[] = [];
  const d = create({
    maxFrameBytes,
    onFrame: (f) => frames.push(Array.from(f)),
    onError: (code, message) => {
      assert.equal(typeof message, 'string');
      errors.push(code);
    },
  });
  for (const c of chunks) d.push(Uint8Array.from(c));
  return { frames, errors, partial: d.partial };
}
