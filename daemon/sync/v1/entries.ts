import type { Value } from '../../state/coerce.ts';
import type { Stamp } from '../../state/hlc.ts';
import {
  checkFinite,
  checkUint,
  fail,
  type Reader,
  U32_MAX,
  U48_MAX,
  utf8Bytes,
  varintLength,
  type Writer,
  zigzag,
} from './bytes.ts';

// The entry list shared by `updates` and `snapshot-part`: a node table, then entries that
// point into it. Sizing lives next to encoding so packUpdates' arithmetic and the bytes written
// cannot drift apart (the codec tests compare them on every generated batch).

/** One replicated register value as it travels: what the store holds, minus the local `source`. */
export type SyncEntry = { readonly path: string; readonly value: Value; readonly stamp: Stamp };
/** An entry in an `updates` batch, numbered per link so the receiver can acknowledge it. */
export type SyncUpdate = SyncEntry & { readonly seq: number };

/** ParamAddress allows 256 UTF-16 units, each at most 3 UTF-8 bytes. */
export const MAX_PATH_BYTES = 768;
export const MAX_STRING_BYTES = 1024;
/** Node IDs are device IDs (63 characters formatted); the length prefix is one byte. */
export const MAX_NODE_BYTES = 255;
export const MAX_NODES = 255;
export const MAX_COUNTER = U32_MAX;
/** Per-link sequence numbers; at 100 k updates/s a link would need 89 years to run out. */
export const MAX_SEQ = U48_MAX;

const KIND = { null: 0, false: 1, true: 2, f64: 3, i32: 4, string: 5, colour: 6 } as const;
const KIND_MASK = 0x07;
const T_IS_F64 = 0x08;
const RESERVED_FLAGS = 0xf0;
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

/** Exact bytes one entry occupies; `prevSeq` undefined = first entry (absolute seq), null = no seq at all. */
export function entrySize(e: SyncEntry | SyncUpdate, prevSeq: number | undefined | null): EntrySize {
  const path = utf8Bytes(e.path, MAX_PATH_BYTES, 'path').length;
  if (path === 0) throw new RangeError('path must not be empty');
  checkFinite(e.stamp.t, 'stamp.t');
  const c = checkUint(e.stamp.c, MAX_COUNTER, 'stamp.c');
  utf8Bytes(e.stamp.node, MAX_NODE_BYTES, 'stamp.node');
  const kind = kindOf(e.value);
  let value = 0;
  let lengthPrefix = 0;
  if (kind === KIND.f64) value = 8;
  else if (kind === KIND.i32 || kind === KIND.colour) value = 4;
  else if (kind === KIND.string) {
    value = utf8Bytes(e.value as string, MAX_STRING_BYTES, 'string value').length;
    lengthPrefix = varintLength(value);
  }
  let seq = 0;
  if (prevSeq !== null) {
    const s = checkUint((e as SyncUpdate).seq, MAX_SEQ, 'seq');
    seq = varintLength(prevSeq === undefined ? s : zigzag(s - prevSeq));
  }
  const stamp = (tIsU48(e.stamp.t) ? 6 : 8) + varintLength(c) + 1; // t, c, node index
  const framing = 1 + varintLength(path) + lengthPrefix + seq; // flags, path length, string length, seq
  return { total: path + value + stamp + framing, path, value, stamp, framing };
}

export function writeEntries(
  w: Writer,
  entries: readonly (SyncEntry | SyncUpdate)[],
  withSeq: boolean,
): void {
  const nodes = new Map<string, number>();
  for (const e of entries) {
    if (!nodes.has(e.stamp.node)) nodes.set(e.stamp.node, nodes.size);
  }
  if (nodes.size > MAX_NODES)
    throw new RangeError(`${nodes.size} writers in one message, at most ${MAX_NODES}`);
  w.u8(nodes.size);
  for (const node of nodes.keys()) {
    const b = utf8Bytes(node, MAX_NODE_BYTES, 'stamp.node');
    w.u8(b.length);
    w.bytes(b);
  }
  w.varint(entries.length);
  let prevSeq: number | undefined;
  for (const e of entries) {
    // Validates every field with a RangeError that names it (the same checks the sizing relies on).
    entrySize(e, withSeq ? prevSeq : null);
    const kind = kindOf(e.value);
    const t = e.stamp.t;
    w.u8(kind | (tIsU48(t) ? 0 : T_IS_F64));
    const path = utf8Bytes(e.path, MAX_PATH_BYTES, 'path');
    w.varint(path.length);
    w.bytes(path);
    w.u8(nodes.get(e.stamp.node)!);
    if (tIsU48(t)) w.u48(t);
    else w.f64(t);
    w.varint(e.stamp.c);
    if (withSeq) {
      const seq = (e as SyncUpdate).seq;
      w.varint(prevSeq === undefined ? seq : zigzag(seq - prevSeq));
      prevSeq = seq;
    }
    writeValue(w, kind, e.value);
  }
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

export function readEntries(r: Reader, withSeq: boolean): (SyncEntry | SyncUpdate)[] {
  const nodeCount = r.u8();
  const nodes: string[] = [];
  for (let i = 0; i < nodeCount; i++) nodes.push(r.utf8(r.u8(), 'node ID'));
  // Every entry takes bytes, so a count above what is left is refused before looping on it.
  const count = r.varint(Number.MAX_SAFE_INTEGER, 'entry count');
  if (count > r.remaining()) fail('truncated', `${count} entries announced, ${r.remaining()} bytes left`);
  const out: (SyncEntry | SyncUpdate)[] = [];
  let prevSeq: number | undefined;
  for (let i = 0; i < count; i++) {
    const flags = r.u8();
    if (flags & RESERVED_FLAGS)
      fail('bad-value', `entry ${i}: reserved flag bits set (0x${flags.toString(16)})`);
    const kind = flags & KIND_MASK;
    if (kind > KIND.colour) fail('bad-value', `entry ${i}: unknown value kind ${kind}`);
    const pathLength = r.varint(Number.MAX_SAFE_INTEGER, 'path length');
    if (pathLength === 0) fail('bad-value', `entry ${i}: empty path`);
    if (pathLength > MAX_PATH_BYTES) fail('oversize', `entry ${i}: path of ${pathLength} bytes`);
    const path = r.utf8(pathLength, 'path');
    const nodeIndex = r.u8();
    const node = nodes[nodeIndex];
    if (node === undefined)
      fail('bad-value', `entry ${i}: node index ${nodeIndex} outside a table of ${nodeCount}`);
    const t = flags & T_IS_F64 ? r.f64() : r.u48();
    if (!Number.isFinite(t)) fail('bad-value', `entry ${i}: stamp time is not finite`);
    const c = r.varint(MAX_COUNTER, 'stamp counter');
    let seq = 0;
    if (withSeq) {
      seq = prevSeq === undefined ? r.varint(MAX_SEQ, 'seq') : prevSeq + r.svarint('seq delta');
      if (seq < 0 || seq > MAX_SEQ) fail('bad-value', `entry ${i}: seq ${seq} outside 0..${MAX_SEQ}`);
      prevSeq = seq;
    }
    const entry: SyncEntry = { path, value: readValue(r, kind as Kind, i), stamp: { t, c, node } };
    out.push(withSeq ? { ...entry, seq } : entry);
  }
  return out;
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
