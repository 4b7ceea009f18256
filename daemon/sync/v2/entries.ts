import type { Value } from '../../state/coerce.ts';
import type { Stamp } from '../../state/hlc.ts';
import {
  checkFinite,
  checkUint,
  createReader,
  createWriter,
  fail,
  type Reader,
  U32_MAX,
  U48_MAX,
  utf8Bytes,
  varintLength,
  type Writer,
} from './bytes.ts';

// The entry list inside a signed batch: every entry is a write by the batch's origin, so no
// entry names a writer. Sizing lives next to encoding so the packers' arithmetic and the
// bytes written cannot drift apart (the codec tests compare them on every generated batch).

/**
 * One replicated register value as it travels: what the store holds, minus the local `source`,
 * plus whether a person made it on the origin (not a plugin): signed with the rest, so a relay
 * cannot turn a plugin's write into a performer's, and peers' plugins give way to it (takeover).
 */
export type SyncEntry = {
  readonly path: string;
  readonly value: Value;
  readonly stamp: Stamp;
  readonly human?: true;
};

/** ParamAddress allows 256 UTF-16 units, each at most 3 UTF-8 bytes. */
export const MAX_PATH_BYTES = 768;
export const MAX_STRING_BYTES = 1024;
export const MAX_COUNTER = U32_MAX;

const KIND = { null: 0, false: 1, true: 2, f64: 3, i32: 4, string: 5, colour: 6 } as const;
const KIND_MASK = 0x07;
const T_IS_F64 = 0x08;
const HUMAN = 0x10;
const RESERVED_FLAGS = 0xe0;
const COLOUR = /^#[0-9a-f]{8}$/;

type Kind = (typeof KIND)[keyof typeof KIND];

function kindOf(value: Value): Kind {
  if (value === null) return KIND.null;
  if (value === false) return KIND.false;
  if (value === true) return KIND.true;
  if (typeof value === 'number') {
    // Non-finite values never reach the store (coerce refuses them), so the wire refuses them too.
    checkFinite(value, 'value');
    return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 && !Object.is(value, -0)
      ? KIND.i32
      : KIND.f64;
  }
  if (typeof value === 'string') return COLOUR.test(value) ? KIND.colour : KIND.string;
  throw new RangeError(`value must be a number, boolean, string or null, got ${typeof value}`);
}

/** Whole non-negative times below 2^48 ms (the year 10889) take 6 bytes; anything else 8. */
const tIsU48 = (t: number): boolean => Number.isInteger(t) && t >= 0 && t <= U48_MAX && !Object.is(t, -0);

export type EntrySize = { total: number; path: number; value: number; stamp: number; framing: number };

/** Exact bytes one entry occupies inside a batch's entry list. */
export function entrySize(e: SyncEntry): EntrySize {
  const path = utf8Bytes(e.path, MAX_PATH_BYTES, 'path').length;
  if (path === 0) throw new RangeError('path must not be empty');
  checkFinite(e.stamp.t, 'stamp.t');
  const c = checkUint(e.stamp.c, MAX_COUNTER, 'stamp.c');
  const kind = kindOf(e.value);
  let value = 0;
  let lengthPrefix = 0;
  if (kind === KIND.f64) value = 8;
  else if (kind === KIND.i32 || kind === KIND.colour) value = 4;
  else if (kind === KIND.string) {
    value = utf8Bytes(e.value as string, MAX_STRING_BYTES, 'string value').length;
    lengthPrefix = varintLength(value);
  }
  const stamp = (tIsU48(e.stamp.t) ? 6 : 8) + varintLength(c);
  const framing = 1 + varintLength(path) + lengthPrefix; // flags, path length, string length
  return { total: path + value + stamp + framing, path, value, stamp, framing };
}

/** Bytes of an entry list holding `count` entries of `entryBytes` together. */
export const entryListSize = (count: number, entryBytes: number): number => varintLength(count) + entryBytes;

/** The entry list: varint M, then M entries. These bytes are what an origin signs. */
export function encodeEntryList(entries: readonly SyncEntry[], maxBytes: number): Uint8Array {
  const w = createWriter(maxBytes);
  w.varint(entries.length);
  for (const e of entries) writeEntry(w, e);
  return w.finish();
}

function writeEntry(w: Writer, e: SyncEntry): void {
  // Validates every field with a RangeError that names it (the same checks the sizing relies on).
  entrySize(e);
  const kind = kindOf(e.value);
  const t = e.stamp.t;
  w.u8(kind | (tIsU48(t) ? 0 : T_IS_F64) | (e.human ? HUMAN : 0));
  const path = utf8Bytes(e.path, MAX_PATH_BYTES, 'path');
  w.varint(path.length);
  w.bytes(path);
  if (tIsU48(t)) w.u48(t);
  else w.f64(t);
  w.varint(e.stamp.c);
  writeValue(w, kind, e.value);
}

function writeValue(w: Writer, kind: Kind, value: Value): void {
  if (kind === KIND.f64) w.f64(value as number);
  else if (kind === KIND.i32) w.u32((value as number) >>> 0);
  else if (kind === KIND.colour) w.u32(Number.parseInt((value as string).slice(1), 16));
  else if (kind === KIND.string) {
    const b = utf8Bytes(value as string, MAX_STRING_BYTES, 'string value');
    w.varint(b.length);
    w.bytes(b);
  }
}

/** Reads an entry list signed by `origin`; throws the decoder's failure on bad bytes. */
export function decodeEntryList(bytes: Uint8Array, origin: string): SyncEntry[] {
  const r = createReader(bytes);
  // Every entry takes bytes, so a count above what is left is refused before looping on it.
  const count = r.varint(Number.MAX_SAFE_INTEGER, 'entry count');
  if (count > r.remaining()) fail('truncated', `${count} entries announced, ${r.remaining()} bytes left`);
  const out: SyncEntry[] = [];
  for (let i = 0; i < count; i++) out.push(readEntry(r, i, origin));
  r.end();
  return out;
}

function readEntry(r: Reader, i: number, origin: string): SyncEntry {
  const flags = r.u8();
  if (flags & RESERVED_FLAGS)
    fail('bad-value', `entry ${i}: reserved flag bits set (0x${flags.toString(16)})`);
  const kind = flags & KIND_MASK;
  if (kind > KIND.colour) fail('bad-value', `entry ${i}: unknown value kind ${kind}`);
  const pathLength = r.varint(Number.MAX_SAFE_INTEGER, 'path length');
  if (pathLength === 0) fail('bad-value', `entry ${i}: empty path`);
  if (pathLength > MAX_PATH_BYTES) fail('oversize', `entry ${i}: path of ${pathLength} bytes`);
  const path = r.utf8(pathLength, 'path');
  const t = flags & T_IS_F64 ? r.f64() : r.u48();
  if (!Number.isFinite(t)) fail('bad-value', `entry ${i}: stamp time is not finite`);
  const c = r.varint(MAX_COUNTER, 'stamp counter');
  const value = readValue(r, kind as Kind, i);
  const stamp = { t, c, node: origin };
  return flags & HUMAN ? { path, value, stamp, human: true } : { path, value, stamp };
}

function readValue(r: Reader, kind: Kind, i: number): Value {
  switch (kind) {
    case KIND.null:
      return null;
    case KIND.false:
      return false;
    case KIND.true:
      return true;
    case KIND.f64: {
      const n = r.f64();
      if (!Number.isFinite(n)) fail('bad-value', `entry ${i}: value is not finite`);
      return n;
    }
    case KIND.i32:
      return r.u32() | 0;
    case KIND.colour:
      return `#${r.u32().toString(16).padStart(8, '0')}`;
    case KIND.string: {
      const length = r.varint(Number.MAX_SAFE_INTEGER, 'string length');
      if (length > MAX_STRING_BYTES) fail('oversize', `entry ${i}: string of ${length} bytes`);
      return r.utf8(length, 'string value');
    }
  }
}
