// Byte-level reading and writing for the sync wire format (version 2). The writer throws RangeError (the
// caller built a message that cannot be sent: a programmer error); the reader throws a private
// failure value that decodeSync turns into a typed result, so untrusted bytes never escape as
// an exception.

export type DecodeCode = 'truncated' | 'bad-type' | 'bad-value' | 'oversize' | 'bad-utf8' | 'trailing-bytes';

const FAILURE = Symbol('sync-decode-failure');
type Failure = { readonly [FAILURE]: true; readonly code: DecodeCode; readonly detail: string };

export function fail(code: DecodeCode, detail: string): never {
  throw { [FAILURE]: true, code, detail } satisfies Failure;
}

export function isFailure(err: unknown): err is Failure {
  return typeof err === 'object' && err !== null && FAILURE in err;
}

/** Varints carry at most 53 bits (JS numbers stay exact); 8 LEB128 groups hold 56. */
const MAX_VARINT_GROUPS = 8;
const TWO_32 = 2 ** 32;
const TWO_48 = 2 ** 48;
const TWO_64 = 1n << 64n;

export const utf8 = new TextEncoder();
const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bytes of a varint holding n (a non-negative safe integer). */
export function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Zigzag: small negative and positive deltas both become small unsigned numbers. */
export const zigzag = (d: number): number => (d >= 0 ? d * 2 : -d * 2 - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

export type Writer = {
  u8(n: number): void;
  u16(n: number): void;
  u32(n: number): void;
  u48(n: number): void;
  u64(n: bigint): void;
  f64(n: number): void;
  varint(n: number): void;
  bytes(b: Uint8Array): void;
  finish(): Uint8Array;
};

// One scratch buffer for every message: encoding is synchronous and never re-entered, and a
// message is copied out once at the end (one allocation per message instead of one per field).
let scratch = new Uint8Array(0);
let scratchView = new DataView(scratch.buffer);

export function createWriter(max: number): Writer {
  if (scratch.length < max) {
    scratch = new Uint8Array(max);
    scratchView = new DataView(scratch.buffer);
  }
  let pos = 0;
  const room = (n: number): number => {
    if (pos + n > max) throw new RangeError(`sync message would exceed ${max} bytes`);
    const at = pos;
    pos += n;
    return at;
  };
  return {
    u8: (n) => {
      scratch[room(1)] = n;
    },
    u16: (n) => scratchView.setUint16(room(2), n),
    u32: (n) => scratchView.setUint32(room(4), n),
    u48(n) {
      const at = room(6);
      scratchView.setUint16(at, Math.floor(n / TWO_32));
      scratchView.setUint32(at + 2, n % TWO_32);
    },
    u64: (n) => scratchView.setBigUint64(room(8), n),
    f64: (n) => scratchView.setFloat64(room(8), n),
    varint(n) {
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint out of range: ${n}`);
      while (n >= 128) {
        scratch[room(1)] = (n % 128) | 0x80;
        n = Math.floor(n / 128);
      }
      scratch[room(1)] = n;
    },
    bytes(b) {
      scratch.set(b, room(b.length));
    },
    finish: () => scratch.slice(0, pos),
  };
}

export type Reader = {
  u8(): number;
  u16(): number;
  u32(): number;
  u48(): number;
  u64(): bigint;
  f64(): number;
  /** A minimal-length varint no greater than max; `what` names the field in errors. */
  varint(max: number, what: string): number;
  /** Zigzag varint whose magnitude stays within ±2^51 (checked by the caller's range). */
  svarint(what: string): number;
  utf8(length: number, what: string): string;
  /** A copy of the next `length` bytes (kept after the datagram is gone). */
  bytes(length: number, what: string): Uint8Array;
  remaining(): number;
  end(): void;
};

export function createReader(b: Uint8Array): Reader {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;
  const take = (n: number, what: string): number => {
    if (pos + n > b.length)
      fail('truncated', `${what}: needs ${n} bytes at offset ${pos}, ${b.length - pos} left`);
    const at = pos;
    pos += n;
    return at;
  };
  function varint(max: number, what: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_GROUPS; i++) {
      const byte = b[take(1, what)]!;
      value += (byte & 0x7f) * scale;
      if (value > max) fail('bad-value', `${what}: more than ${max}`);
      if ((byte & 0x80) === 0) {
        // A trailing zero group encodes nothing: only the shortest form is accepted, so every value has one encoding.
        if (byte === 0 && i > 0) fail('bad-value', `${what}: varint not in shortest form`);
        return value;
      }
      scale *= 128;
    }
    return fail('bad-value', `${what}: varint longer than ${MAX_VARINT_GROUPS} bytes`);
  }
  return {
    u8: () => b[take(1, 'u8')]!,
    u16: () => view.getUint16(take(2, 'u16')),
    u32: () => view.getUint32(take(4, 'u32')),
    u48: () => {
      const at = take(6, 'u48');
      return view.getUint16(at) * TWO_32 + view.getUint32(at + 2);
    },
    u64: () => view.getBigUint64(take(8, 'u64')),
    f64: () => view.getFloat64(take(8, 'f64')),
    varint,
    svarint: (what) => unzigzag(varint(2 ** 52, what)),
    utf8(length, what) {
      const at = take(length, what);
      try {
        return utf8Fatal.decode(b.subarray(at, at + length));
      } catch {
        return fail('bad-utf8', `${what} is not valid UTF-8`);
      }
    },
    bytes(length, what) {
      const at = take(length, what);
      return b.slice(at, at + length);
    },
    remaining: () => b.length - pos,
    end() {
      if (pos !== b.length) fail('trailing-bytes', `${b.length - pos} bytes after the end of the message`);
    },
  };
}

/** Checks a number the encoder is about to write; the caller passed something unsendable otherwise. */
export function checkUint(n: number, max: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new RangeError(`${what} must be an integer in 0..${max}, got ${n}`);
  return n;
}

export function checkU64(n: bigint, what: string): bigint {
  if (typeof n !== 'bigint' || n < 0n || n >= TWO_64)
    throw new RangeError(`${what} must be a 64-bit unsigned bigint`);
  return n;
}

export function checkFinite(n: number, what: string): number {
  if (typeof n !== 'number' || !Number.isFinite(n))
    throw new RangeError(`${what} must be a finite number, got ${n}`);
  return n;
}

/** UTF-8 bytes of a string the encoder will send; lone surrogates would not survive the trip. */
export function utf8Bytes(s: string, maxBytes: number, what: string): Uint8Array {
  if (typeof s !== 'string' || !s.isWellFormed())
    throw new RangeError(`${what} must be well-formed Unicode text`);
  const bytes = utf8.encode(s);
  if (bytes.length > maxBytes)
    throw new RangeError(`${what} is ${bytes.length} bytes, more than ${maxBytes}`);
  return bytes;
}

export const U48_MAX = TWO_48 - 1;
export const U32_MAX = TWO_32 - 1;
