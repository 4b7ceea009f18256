import type { OscDecodeCode, OscDecodeError } from '../types.ts';

// Structural check of an OSC 1.0 packet before it reaches the `osc` library, which accepts an
// unterminated string and a bundle element whose size field is wrong (measured, see DESIGN.md)
// and throws plain errors on others (negative blob length, nested arrays). After this passes,
// every read the library makes is in bounds and every rejection has our reason code.

const BUNDLE = [0x23, 0x62, 0x75, 0x6e, 0x64, 0x6c, 0x65, 0x00]; // "#bundle\0"

/** Argument byte sizes; -1 string, -2 blob, 0 no data. Tags not listed are rejected. */
const SIZE: Record<string, number> = {
  i: 4,
  f: 4,
  c: 4,
  r: 4,
  m: 4,
  h: 8,
  d: 8,
  t: 8,
  s: -1,
  S: -1,
  b: -2,
  T: 0,
  F: 0,
  N: 0,
  I: 0,
};

class Invalid {
  readonly code: OscDecodeCode;
  readonly message: string;
  constructor(code: OscDecodeCode, message: string) {
    this.code = code;
    this.message = message;
  }
}

/** Returns the padded end of the NUL-terminated string at `at`, or throws Invalid. */
function stringEnd(bytes: Uint8Array, at: number, end: number, what: string): number {
  const nul = bytes.indexOf(0, at);
  if (nul < 0 || nul >= end)
    throw new Invalid('unterminated-string', `${what} at byte ${at} has no terminating NUL`);
  const padded = (nul + 4) & ~3;
  if (padded > end) throw new Invalid('truncated', `${what} at byte ${at} is not padded to 4 bytes`);
  return padded;
}

function checkMessage(bytes: Uint8Array, at: number, end: number): void {
  // OSC 1.0 tolerated messages without a type tag string; 1.1 and every current sender include one.
  if (at === end) throw new Invalid('bad-type-tag', 'message has no type tag string');
  if (bytes[at] !== 0x2c /* , */)
    throw new Invalid('bad-type-tag', 'type tag string does not start with ","');
  const tagsEnd = stringEnd(bytes, at, end, 'type tag string');
  let off = tagsEnd;
  let inArray = false;
  for (let i = at + 1; bytes[i] !== 0; i++) {
    const tag = String.fromCharCode(bytes[i]!);
    if (tag === '[') {
      if (inArray) throw new Invalid('bad-type-tag', 'nested arrays are not supported');
      inArray = true;
      continue;
    }
    if (tag === ']') {
      if (!inArray) throw new Invalid('bad-type-tag', '"]" without "["');
      inArray = false;
      continue;
    }
    const size = SIZE[tag];
    if (size === undefined)
      throw new Invalid('bad-type-tag', `unknown type tag '${tag}' (0x${bytes[i]!.toString(16)})`);
    if (size === -1) {
      if (off >= end) throw new Invalid('truncated', `string argument '${tag}' at byte ${off} is missing`);
      off = stringEnd(bytes, off, end, 'string argument');
    } else if (size === -2) {
      if (off + 4 > end) throw new Invalid('truncated', `blob size at byte ${off} is missing`);
      const len = new DataView(bytes.buffer, bytes.byteOffset + off, 4).getInt32(0);
      if (len < 0) throw new Invalid('truncated', `blob at byte ${off} has negative length ${len}`);
      // Checked before padding: (len + 3) & ~3 wraps negative for len near 2^31.
      if (len > end - off - 4) throw new Invalid('truncated', `blob of ${len} bytes runs past the end`);
      off += 4 + ((len + 3) & ~3);
      if (off > end) throw new Invalid('truncated', `blob of ${len} bytes runs past the end`);
    } else {
      off += size;
      if (off > end) throw new Invalid('truncated', `argument '${tag}' runs past the end`);
    }
  }
  if (inArray) throw new Invalid('bad-type-tag', '"[" without "]"');
  if (off !== end) throw new Invalid('trailing-bytes', `${end - off} bytes after the last argument`);
}

function checkPacket(bytes: Uint8Array, at: number, end: number, depth: number, maxDepth: number): void {
  if (at >= end) throw new Invalid('truncated', 'empty packet');
  if (bytes[at] === 0x2f /* / */) {
    checkMessage(bytes, stringEnd(bytes, at, end, 'address'), end);
    return;
  }
  if (bytes[at] !== 0x23 /* # */)
    throw new Invalid('bad-address', 'packet starts with neither "/" nor "#bundle"');
  for (let i = 0; i < 8; i++) {
    if (bytes[at + i] !== BUNDLE[i]) {
      if (at + i >= end) throw new Invalid('truncated', 'bundle header is cut short');
      throw new Invalid('bad-address', 'packet starts with "#" but is not "#bundle"');
    }
  }
  if (depth >= maxDepth) throw new Invalid('too-deep', `bundles nested deeper than ${maxDepth}`);
  let off = at + 16; // header + time tag
  if (off > end) throw new Invalid('truncated', 'bundle time tag is cut short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (off < end) {
    if (off + 4 > end) throw new Invalid('truncated', `bundle element size at byte ${off} is cut short`);
    const size = view.getInt32(off);
    if (size <= 0 || size % 4 !== 0 || off + 4 + size > end) {
      throw new Invalid(
        'bad-bundle-size',
        `bundle element at byte ${off} claims ${size} bytes, ${end - off - 4} remain`,
      );
    }
    checkPacket(bytes, off + 4, off + 4 + size, depth + 1, maxDepth);
    off += 4 + size;
  }
}

/** null when the packet is structurally sound; otherwise the first problem found. */
export function validateOscPacket(bytes: Uint8Array, maxDepth: number): OscDecodeError | null {
  if (bytes.length % 4 !== 0) {
    return { code: 'truncated', message: `packet length ${bytes.length} is not a multiple of 4` };
  }
  try {
    checkPacket(bytes, 0, bytes.length, 0, maxDepth);
    return null;
  } catch (err) {
    if (err instanceof Invalid) return { code: err.code, message: err.message };
    throw err;
  }
}
