import type { OscArg, OscDecodeCode, OscDecodeError, OscDecodeResult, OscPacket } from '../types.ts';

// OSC 1.0 decoding in one pass: the structural walk of validate.ts, reading each value as it
// is checked, into our own types. It never throws on input: the first problem found is
// returned with the same reason code and message the walk gives. Compared with the `osc`
// package behind validate.ts it is tested to accept and reject the same bytes with the same
// values (test/protocols/osc/decode-differential.test.ts), and against liblo on the same corpus.
//
// Why not the package: every packet was walked twice (validate.ts, then the package) and then
// converted (Long objects for `h`, `{raw, native}` for time tags, arrays of char codes for
// strings); issue 18 profiled that at 27 % of ingest. Here strings are sliced straight out of
// the packet (latin1 when ASCII, the common case, else UTF-8 with replacement characters, as
// the package does through Buffer#toString).

/** `nul`: where the string stringEnd last measured ends, for text() to slice without a second search. */
type Cursor = { readonly b: Uint8Array; error: OscDecodeError | null; nul: number };

const { latin1Slice, utf8Slice } = Buffer.prototype as unknown as {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
  utf8Slice(this: Uint8Array, start: number, end: number): string;
};

// Floats are read through one scratch word pair: a DataView per packet would be an allocation.
const scratch = new DataView(new ArrayBuffer(8));

const BUNDLE = [0x23, 0x62, 0x75, 0x6e, 0x64, 0x6c, 0x65, 0x00]; // "#bundle\0"

function refuse(c: Cursor, code: OscDecodeCode, message: string): undefined {
  c.error = { code, message };
  return undefined;
}

const int32 = (b: Uint8Array, at: number) =>
  (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
const uint32 = (b: Uint8Array, at: number) => int32(b, at) >>> 0;

function float32(b: Uint8Array, at: number): number {
  scratch.setInt32(0, int32(b, at));
  return scratch.getFloat32(0);
}

function float64(b: Uint8Array, at: number): number {
  scratch.setInt32(0, int32(b, at));
  scratch.setInt32(4, int32(b, at + 4));
  return scratch.getFloat64(0);
}

/** The padded end of the NUL-terminated string at `at`, or -1 (refused); its NUL goes in `c.nul`. */
function stringEnd(c: Cursor, at: number, end: number, what: string): number {
  // A loop, not Buffer#indexOf: OSC strings are a few dozen bytes, where the native call's
  // argument checks cost more than the search (issue 18: 28 % of decoding's profile samples).
  const b = c.b;
  let nul = at;
  while (nul < end && b[nul] !== 0) nul++;
  if (nul >= end) {
    refuse(c, 'unterminated-string', `${what} at byte ${at} has no terminating NUL`);
    return -1;
  }
  const padded = (nul + 4) & ~3;
  if (padded > end) {
    refuse(c, 'truncated', `${what} at byte ${at} is not padded to 4 bytes`);
    return -1;
  }
  c.nul = nul;
  return padded;
}

/** The text of the string from `at` to its NUL at `nul` (stringEnd measured it). */
function text(b: Uint8Array, at: number, nul: number): string {
  for (let i = at; i < nul; i++) if (b[i]! >= 0x80) return utf8Slice.call(b, at, nul);
  return latin1Slice.call(b, at, nul);
}

// Addresses repeat: a show sends a few hundred, each thousands of times a second. Handing back
// the same string for the same bytes saves the native slice and its garbage, and lets every Map
// lookup on the address downstream (the registry, the caches keyed by it) reuse the hash V8
// keeps on the string instead of hashing a fresh one (issue 18: the slice alone was 6 % of the
// daemon's OSC path in a profile). Direct-mapped and bounded: a sender cycling through addresses
// only evicts, and costs the slice it would have cost anyway.
const INTERN_SLOTS = 512; // a power of two
const INTERN_MAX_BYTES = 96;
const interned: (string | undefined)[] = new Array(INTERN_SLOTS).fill(undefined);

/** text() for an address: the same string object for the same ASCII bytes while its slot holds it. */
function addressText(b: Uint8Array, at: number, nul: number): string {
  const len = nul - at;
  if (len > INTERN_MAX_BYTES) return text(b, at, nul);
  let h = len;
  let high = 0;
  for (let i = at; i < nul; i++) {
    const x = b[i]!;
    high |= x;
    h = (Math.imul(h, 31) + x) | 0;
  }
  // Only ASCII is kept: there a string's code units are its bytes, so the check below is exact.
  // A byte at or above 0x80 was seen: UTF-8, as text() would decide after walking the bytes again.
  if (high >= 0x80) return utf8Slice.call(b, at, nul);
  const slot = (h ^ (h >>> 9)) & (INTERN_SLOTS - 1);
  const known = interned[slot];
  if (known !== undefined && known.length === len) {
    let i = 0;
    while (i < len && known.charCodeAt(i) === b[at + i]) i++;
    if (i === len) return known;
  }
  const fresh = latin1Slice.call(b, at, nul);
  interned[slot] = fresh;
  return fresh;
}

/** Appends `arg` to the open bracketed array, or puts it at `k` of the top level; returns the next k. */
function add(args: OscArg[], k: number, array: OscArg[] | null, arg: OscArg): number {
  if (array) {
    array.push(arg);
    return k;
  }
  args[k] = arg;
  return k + 1;
}

function message(c: Cursor, at: number, end: number): OscPacket | undefined {
  const b = c.b;
  const addressEnd = stringEnd(c, at, end, 'address');
  if (addressEnd < 0) return undefined;
  const address = addressText(b, at, c.nul);
  const tags = addressEnd;
  // OSC 1.0 tolerated messages without a type tag string; 1.1 and every current sender include one.
  if (tags === end) return refuse(c, 'bad-type-tag', 'message has no type tag string');
  if (b[tags] !== 0x2c /* , */) return refuse(c, 'bad-type-tag', 'type tag string does not start with ","');
  let off = stringEnd(c, tags, end, 'type tag string');
  if (off < 0) return undefined;
  // Sized to the message's top-level arguments, not grown by push: the first push gives an empty
  // array room for 16, about 160 bytes of garbage per fader message (issue 18). A bracketed array
  // is one argument; brackets out of place are refused below, whatever this count says.
  let count = 0;
  for (let i = tags + 1, depth = 0; b[i] !== 0; i++) {
    const x = b[i]!;
    if (x === 0x5d /* ] */) depth--;
    else if (depth === 0) count++;
    if (x === 0x5b /* [ */) depth++;
  }
  const args: OscArg[] = new Array(count);
  let k = 0;
  let array: OscArg[] | null = null;
  for (let i = tags + 1; b[i] !== 0; i++) {
    const code = b[i]!;
    switch (code) {
      case 0x5b /* [ */:
        if (array) return refuse(c, 'bad-type-tag', 'nested arrays are not supported');
        array = [];
        args[k++] = { type: '[', value: array };
        continue;
      case 0x5d /* ] */:
        if (!array) return refuse(c, 'bad-type-tag', '"]" without "["');
        array = null;
        continue;
      case 0x54 /* T */:
        k = add(args, k, array, { type: 'T', value: true });
        continue;
      case 0x46 /* F */:
        k = add(args, k, array, { type: 'F', value: false });
        continue;
      case 0x4e /* N */:
      case 0x49 /* I */:
        k = add(args, k, array, { type: code === 0x4e ? 'N' : 'I', value: null });
        continue;
      case 0x73 /* s */:
      case 0x53 /* S */:
        {
          const type = code === 0x73 ? 's' : 'S';
          if (off >= end)
            return refuse(c, 'truncated', `string argument '${type}' at byte ${off} is missing`);
          const next = stringEnd(c, off, end, 'string argument');
          if (next < 0) return undefined;
          k = add(args, k, array, { type, value: text(b, off, c.nul) });
          off = next;
          continue;
        }
      case 0x62 /* b */:
        {
          if (off + 4 > end) return refuse(c, 'truncated', `blob size at byte ${off} is missing`);
          const len = int32(b, off);
          if (len < 0) return refuse(c, 'truncated', `blob at byte ${off} has negative length ${len}`);
          // Checked before padding: (len + 3) & ~3 wraps negative for len near 2^31.
          if (len > end - off - 4) return refuse(c, 'truncated', `blob of ${len} bytes runs past the end`);
          const next = off + 4 + ((len + 3) & ~3);
          if (next > end) return refuse(c, 'truncated', `blob of ${len} bytes runs past the end`);
          // A copy, and a plain Uint8Array even when the packet is a Buffer (whose slice is a view).
          k = add(args, k, array, { type: 'b', value: new Uint8Array(b.subarray(off + 4, off + 4 + len)) });
          off = next;
          continue;
        }
    }
    const size = code === 0x68 || code === 0x64 || code === 0x74 ? 8 : 4; /* h d t */
    let arg: OscArg;
    if (off + size <= end) {
      switch (code) {
        case 0x69 /* i */:
          arg = { type: 'i', value: int32(b, off) };
          break;
        case 0x66 /* f */:
          arg = { type: 'f', value: float32(b, off) };
          break;
        case 0x63 /* c */:
          // As the package reads it: the code unit of the low 16 bits.
          arg = { type: 'c', value: String.fromCharCode(uint32(b, off)) };
          break;
        case 0x72 /* r */:
          arg = { type: 'r', value: { r: b[off]!, g: b[off + 1]!, b: b[off + 2]!, a: b[off + 3]! } };
          break;
        case 0x6d /* m */:
          arg = { type: 'm', value: new Uint8Array(b.subarray(off, off + 4)) };
          break;
        case 0x68 /* h */:
          arg = { type: 'h', value: int32(b, off) * 2 ** 32 + uint32(b, off + 4) };
          break;
        case 0x64 /* d */:
          arg = { type: 'd', value: float64(b, off) };
          break;
        case 0x74 /* t */:
          arg = { type: 't', value: { seconds: uint32(b, off), fraction: uint32(b, off + 4) } };
          break;
        default:
          return refuse(
            c,
            'bad-type-tag',
            `unknown type tag '${String.fromCharCode(code)}' (0x${code.toString(16)})`,
          );
      }
    } else if (
      code === 0x69 ||
      code === 0x66 ||
      code === 0x63 ||
      code === 0x72 ||
      code === 0x6d ||
      size === 8
    ) {
      return refuse(c, 'truncated', `argument '${String.fromCharCode(code)}' runs past the end`);
    } else {
      return refuse(
        c,
        'bad-type-tag',
        `unknown type tag '${String.fromCharCode(code)}' (0x${code.toString(16)})`,
      );
    }
    k = add(args, k, array, arg);
    off += size;
  }
  if (array) return refuse(c, 'bad-type-tag', '"[" without "]"');
  if (k !== args.length) args.length = k;
  if (off !== end) return refuse(c, 'trailing-bytes', `${end - off} bytes after the last argument`);
  return { kind: 'message', address, args };
}

function packet(c: Cursor, at: number, end: number, depth: number, maxDepth: number): OscPacket | undefined {
  const b = c.b;
  if (at >= end) return refuse(c, 'truncated', 'empty packet');
  if (b[at] === 0x2f /* / */) return message(c, at, end);
  if (b[at] !== 0x23 /* # */) return refuse(c, 'bad-address', 'packet starts with neither "/" nor "#bundle"');
  for (let i = 0; i < 8; i++) {
    if (b[at + i] !== BUNDLE[i]) {
      if (at + i >= end) return refuse(c, 'truncated', 'bundle header is cut short');
      return refuse(c, 'bad-address', 'packet starts with "#" but is not "#bundle"');
    }
  }
  if (depth >= maxDepth) return refuse(c, 'too-deep', `bundles nested deeper than ${maxDepth}`);
  let off = at + 16; // header + time tag
  if (off > end) return refuse(c, 'truncated', 'bundle time tag is cut short');
  const timetag = { seconds: uint32(b, at + 8), fraction: uint32(b, at + 12) };
  const elements: OscPacket[] = [];
  while (off < end) {
    if (off + 4 > end) return refuse(c, 'truncated', `bundle element size at byte ${off} is cut short`);
    const size = int32(b, off);
    if (size <= 0 || size % 4 !== 0 || off + 4 + size > end) {
      return refuse(
        c,
        'bad-bundle-size',
        `bundle element at byte ${off} claims ${size} bytes, ${end - off - 4} remain`,
      );
    }
    const el = packet(c, off + 4, off + 4 + size, depth + 1, maxDepth);
    if (!el) return undefined;
    elements.push(el);
    off += 4 + size;
  }
  return { kind: 'bundle', timetag, elements };
}

/** Decodes one OSC packet; a refusal carries the first problem found. Never throws on input. */
export function decodeOscV1(bytes: Uint8Array, maxBytes: number, maxDepth: number): OscDecodeResult {
  if (bytes.length > maxBytes) {
    return { ok: false, error: { code: 'oversize', message: `${bytes.length} bytes, limit ${maxBytes}` } };
  }
  if (bytes.length % 4 !== 0) {
    return {
      ok: false,
      error: { code: 'truncated', message: `packet length ${bytes.length} is not a multiple of 4` },
    };
  }
  const c: Cursor = { b: bytes, error: null, nul: 0 };
  const p = packet(c, 0, bytes.length, 0, maxDepth);
  return p ? { ok: true, packet: p } : { ok: false, error: c.error! };
}
