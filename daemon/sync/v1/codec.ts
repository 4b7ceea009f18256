import {
  checkFinite,
  checkU64,
  checkUint,
  createReader,
  createWriter,
  fail,
  isFailure,
  type Reader,
  U32_MAX,
  utf8Bytes,
  varintLength,
  type Writer,
} from './bytes.ts';
import {
  type EntrySize,
  entrySize,
  MAX_NODE_BYTES,
  MAX_NODES,
  MAX_SEQ,
  readEntries,
  type SyncUpdate,
  writeEntries,
} from './entries.ts';
import {
  type BucketDigest,
  MAX_BUCKETS,
  MAX_SACK_RANGES,
  MAX_SYNC_BYTES,
  type SackRange,
  SYNC_TYPE,
  type SyncDecoded,
  type SyncMessage,
} from './messages.ts';

// Sync messages, version 1: binary records inside the authenticated DTLS link, each one
// datagram (≤ MAX_MESSAGE_BYTES). Type codes start at 0x10 so they never collide with the
// link's own messages (1–5); a v2 takes new codes or is negotiated in the link's bind.
//
// All integers are big-endian. varint = unsigned LEB128, shortest form only, ≤ 8 bytes.
// svarint = zigzag varint (0, -1, 1, -2 … → 0, 1, 2, 3 …).
//
// | type | kind          | body after the type byte                                                     |
// |------|---------------|------------------------------------------------------------------------------|
// | 0x10 | updates       | nodes; varint M; M × entry (with seq)                                        |
// | 0x11 | ack           | varint upTo; u8 R (≤ 16); R × (varint gap, varint span)                      |
// |      |               |   range i: from = prev + 2 + gap, to = from + span; prev = upTo, then to(i−1)|
// | 0x12 | digest        | varint count; u64 hash; u8 B (≤ 64); B × (varint count, u64 hash)            |
// | 0x13 | request       | u32 id; u8 B: 0 = everything (snapshot), else B × u8 bucket (< 64, ascending)|
// | 0x14 | snapshot-part | u32 id; u16 part; u16 parts (part < parts); nodes; varint M; M × entry       |
// | 0x15 | clock-ping    | u32 id; f64 t1                                                               |
// | 0x16 | clock-pong    | u32 id; f64 t1; f64 t2; f64 t3                                               |
//
// nodes = u8 N (≤ 255); N × (u8 length, UTF-8 device ID): each writer's ID once per message.
//
// entry = u8 flags | varint path length (1..768) | path UTF-8 | u8 node index (< N)
//       | t: u48 ms, or f64 when flags bit 3 | varint c (≤ 2^32−1) | [seq] | value
//   flags bits 0–2: value kind; bit 3: t is f64 (t not a whole number in 0..2^48−1, or −0);
//   bits 4–7: zero.
//   seq (updates only): first entry varint (≤ 2^48−1); later entries svarint(seq − previous seq).
//   value by kind: 0 null (trigger) | 1 false | 2 true | 3 f64 | 4 i32 (whole numbers in int32,
//   not −0) | 5 varint length (≤ 1024) + UTF-8 string | 6 colour: u32 rrggbbaa, read back as
//   "#rrggbbaa" (sent for any lower-case "#rrggbbaa" string, so every string round-trips).
//
// Numbers: −0 is sent as f64 and round-trips as −0. NaN and ±Infinity are refused: encodeSync
// throws RangeError, decodeSync answers 'bad-value'. The store never holds them (coerce refuses
// non-finite input) and the HLC refuses a non-finite time, so they can only be a bug or an attack.
//
// Decode errors: 'truncated' (input ends inside a field, or a count promises more than is left),
// 'bad-type' (unknown type byte), 'bad-value' (a field outside its range: reserved bits, index,
// NaN, overlong varint, unsorted buckets…), 'oversize' (message over 1200 bytes, or a path or
// string length above its cap), 'bad-utf8', 'trailing-bytes'.

export type { DecodeCode } from './bytes.ts';
export {
  type EntrySize,
  MAX_PATH_BYTES,
  MAX_SEQ,
  MAX_STRING_BYTES,
  type SyncEntry,
  type SyncUpdate,
} from './entries.ts';
export * from './messages.ts';

/** Encodes a message; throws RangeError if it is malformed or would exceed MAX_SYNC_BYTES. */
export function encodeSync(msg: SyncMessage): Uint8Array {
  const w = createWriter(MAX_SYNC_BYTES);
  const type = SYNC_TYPE[msg.kind];
  if (type === undefined) throw new RangeError(`unknown sync message kind ${String(msg.kind)}`);
  w.u8(type);
  switch (msg.kind) {
    case 'updates':
      writeEntries(w, msg.updates, true);
      break;
    case 'snapshot-part':
      w.u32(checkUint(msg.id, U32_MAX, 'id'));
      checkUint(msg.parts, 0xffff, 'parts');
      if (msg.parts === 0) throw new RangeError('parts must be at least 1');
      w.u16(checkUint(msg.part, msg.parts - 1, 'part'));
      w.u16(msg.parts);
      writeEntries(w, msg.entries, false);
      break;
    case 'ack':
      writeAck(w, msg.upTo, msg.sack);
      break;
    case 'digest':
      w.varint(checkUint(msg.count, MAX_SEQ, 'count'));
      w.u64(checkU64(msg.hash, 'hash'));
      checkUint(msg.buckets.length, MAX_BUCKETS, 'bucket count');
      w.u8(msg.buckets.length);
      for (const b of msg.buckets) {
        w.varint(checkUint(b.count, MAX_SEQ, 'bucket count'));
        w.u64(checkU64(b.hash, 'bucket hash'));
      }
      break;
    case 'request':
      w.u32(checkUint(msg.id, U32_MAX, 'id'));
      if (msg.buckets === 'all') w.u8(0);
      else {
        const list = msg.buckets;
        if (list.length === 0)
          throw new RangeError("an empty bucket list asks for nothing; use 'all' for a snapshot");
        checkUint(list.length, MAX_BUCKETS, 'bucket list length');
        w.u8(list.length);
        list.forEach((b, i) => {
          checkUint(b, MAX_BUCKETS - 1, 'bucket');
          if (i > 0 && b <= list[i - 1]!) throw new RangeError('buckets must be strictly ascending');
          w.u8(b);
        });
      }
      break;
    case 'clock-ping':
      w.u32(checkUint(msg.id, U32_MAX, 'id'));
      w.f64(checkFinite(msg.t1, 't1'));
      break;
    case 'clock-pong':
      w.u32(checkUint(msg.id, U32_MAX, 'id'));
      for (const t of [msg.t1, msg.t2, msg.t3]) w.f64(checkFinite(t, 'clock time'));
      break;
  }
  return w.finish();
}

function writeAck(w: Writer, upTo: number, sack: readonly SackRange[]): void {
  w.varint(checkUint(upTo, MAX_SEQ, 'upTo'));
  checkUint(sack.length, MAX_SACK_RANGES, 'SACK range count');
  w.u8(sack.length);
  let prev = upTo;
  for (const { from, to } of sack) {
    // A range must leave a gap after the previous one: otherwise upTo (or that range) would cover it.
    checkUint(from, MAX_SEQ, 'SACK from');
    if (from < prev + 2) throw new RangeError(`SACK range ${from}..${to} does not leave a gap after ${prev}`);
    if (!Number.isInteger(to) || to < from || to > MAX_SEQ) throw new RangeError(`SACK range ${from}..${to}`);
    w.varint(from - prev - 2);
    w.varint(to - from);
    prev = to;
  }
}

/** Decodes one message from untrusted bytes; never throws. */
export function decodeSync(bytes: Uint8Array): SyncDecoded {
  if (bytes.length > MAX_SYNC_BYTES) {
    return {
      ok: false,
      code: 'oversize',
      detail: `message of ${bytes.length} bytes, at most ${MAX_SYNC_BYTES}`,
    };
  }
  if (bytes.length === 0) return { ok: false, code: 'truncated', detail: 'empty message' };
  try {
    const r = createReader(bytes);
    const msg = readBody(r, r.u8());
    r.end();
    return { ok: true, msg };
  } catch (err) {
    if (isFailure(err)) return { ok: false, code: err.code, detail: err.detail };
    throw err; // a bug in this decoder: loud, and the fuzz tests look for it
  }
}

function readBody(r: Reader, type: number): SyncMessage {
  switch (type) {
    case SYNC_TYPE.updates:
      return { kind: 'updates', updates: readEntries(r, true) as SyncUpdate[] };
    case SYNC_TYPE['snapshot-part']: {
      const id = r.u32();
      const part = r.u16();
      const parts = r.u16();
      if (part >= parts) fail('bad-value', `part ${part} of ${parts}`);
      return { kind: 'snapshot-part', id, part, parts, entries: readEntries(r, false) };
    }
    case SYNC_TYPE.ack: {
      const upTo = r.varint(MAX_SEQ, 'upTo');
      const n = r.u8();
      if (n > MAX_SACK_RANGES) fail('bad-value', `${n} SACK ranges, at most ${MAX_SACK_RANGES}`);
      const sack: SackRange[] = [];
      let prev = upTo;
      for (let i = 0; i < n; i++) {
        const from = prev + 2 + r.varint(MAX_SEQ, 'SACK gap');
        const to = from + r.varint(MAX_SEQ, 'SACK span');
        if (to > MAX_SEQ) fail('bad-value', `SACK range ends past ${MAX_SEQ}`);
        sack.push({ from, to });
        prev = to;
      }
      return { kind: 'ack', upTo, sack };
    }
    case SYNC_TYPE.digest: {
      const count = r.varint(MAX_SEQ, 'count');
      const hash = r.u64();
      const n = r.u8();
      if (n > MAX_BUCKETS) fail('bad-value', `${n} buckets, at most ${MAX_BUCKETS}`);
      const buckets: BucketDigest[] = [];
      for (let i = 0; i < n; i++) buckets.push({ count: r.varint(MAX_SEQ, 'bucket count'), hash: r.u64() });
      return { kind: 'digest', count, hash, buckets };
    }
    case SYNC_TYPE.request: {
      const id = r.u32();
      const n = r.u8();
      if (n === 0) return { kind: 'request', id, buckets: 'all' };
      if (n > MAX_BUCKETS) fail('bad-value', `${n} buckets requested, at most ${MAX_BUCKETS}`);
      const buckets: number[] = [];
      for (let i = 0; i < n; i++) {
        const b = r.u8();
        if (b >= MAX_BUCKETS) fail('bad-value', `bucket ${b}, at most ${MAX_BUCKETS - 1}`);
        if (i > 0 && b <= buckets[i - 1]!) fail('bad-value', 'buckets not strictly ascending');
        buckets.push(b);
      }
      return { kind: 'request', id, buckets };
    }
    case SYNC_TYPE['clock-ping']:
      return { kind: 'clock-ping', id: r.u32(), t1: finiteTime(r) };
    case SYNC_TYPE['clock-pong']:
      return { kind: 'clock-pong', id: r.u32(), t1: finiteTime(r), t2: finiteTime(r), t3: finiteTime(r) };
    default:
      return fail('bad-type', `unknown sync message type 0x${type.toString(16).padStart(2, '0')}`);
  }
}

function finiteTime(r: Reader): number {
  const t = r.f64();
  if (!Number.isFinite(t)) fail('bad-value', 'clock time is not finite');
  return t;
}

/**
 * Splits updates, in order, into as few `updates` messages of at most maxBytes as a greedy fill
 * allows. One entry is never split; an entry that cannot fit alone throws RangeError (a string
 * value near 1024 bytes at a long path does not fit a datagram).
 */
export function packUpdates(updates: readonly SyncUpdate[], maxBytes = MAX_SYNC_BYTES): Uint8Array[] {
  checkUint(maxBytes, MAX_SYNC_BYTES, 'maxBytes');
  const out: Uint8Array[] = [];
  let batch: SyncUpdate[] = [];
  let nodes = new Set<string>();
  let size = 0; // of the batch's node table entries and entries: everything but the fixed header

  // Type byte, node-count byte and the entry count; the node table is counted per new writer in `size`.
  const headerSize = (entries: number) => 2 + varintLength(entries);
  const flush = () => {
    const msg = encodeSync({ kind: 'updates', updates: batch });
    if (msg.length > maxBytes) throw new Error(`packUpdates sized ${size} but encoded ${msg.length} bytes`);
    out.push(msg);
    batch = [];
    nodes = new Set();
    size = 0;
  };

  for (const u of updates) {
    const nodeCost = (node: string) =>
      nodes.has(node) ? 0 : 1 + utf8Bytes(node, MAX_NODE_BYTES, 'stamp.node').length;
    let prev = batch.at(-1)?.seq;
    let add = entrySize(u, prev).total + nodeCost(u.stamp.node);
    // Unreachable at 1200 bytes (a writer costs ≥ 13 bytes), but the table's count is one byte.
    const tooMany = !nodes.has(u.stamp.node) && nodes.size === MAX_NODES;
    if (batch.length > 0 && (tooMany || headerSize(batch.length + 1) + size + add > maxBytes)) {
      flush();
      prev = undefined;
      add = entrySize(u, prev).total + nodeCost(u.stamp.node);
    }
    if (headerSize(1) + add > maxBytes) {
      throw new RangeError(
        `an update to ${u.path} needs ${headerSize(1) + add} bytes alone, more than ${maxBytes}`,
      );
    }
    batch.push(u);
    nodes.add(u.stamp.node);
    size += add;
  }
  if (batch.length > 0) flush();
  return out;
}

/**
 * What one update costs inside an `updates` message once its writer is in the node table and
 * its seq follows the previous one (the steady state of a stream): `total` = path + value +
 * stamp + framing, where path and value are the payload bytes, stamp is t + c + the 1-byte node
 * index, and framing is flags, length prefixes and the seq delta. The per-message cost on top
 * is 3–4 bytes plus 1 + length per distinct writer.
 */
export function updateOverheadBytes(update: SyncUpdate): EntrySize {
  return entrySize(update, update.seq > 0 ? update.seq - 1 : undefined);
}
