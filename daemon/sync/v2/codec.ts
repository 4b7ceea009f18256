import { type Batch, batchWireSize, MAX_ORIGIN_BYTES, readBatch, writeBatch } from './batch.ts';
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
  U48_MAX,
  utf8Bytes,
  varintLength,
  type Writer,
} from './bytes.ts';
import {
  type BucketDigest,
  MAX_BUCKETS,
  MAX_CERT_BYTES,
  MAX_CERT_REQUESTS,
  MAX_SACK_RANGES,
  MAX_SYNC_BYTES,
  type SackRange,
  SYNC_TYPE,
  type SyncDecoded,
  type SyncMessage,
  V1_TYPES,
} from './messages.ts';

// Sync messages, version 2: binary records inside the authenticated DTLS link, each one
// datagram (≤ MAX_SYNC_BYTES). Version 2 carries every write inside a batch signed by the
// daemon that made it (batch.ts), so a write is judged by its origin wherever it came from.
// Type codes 0x20–0x28; version 1's 0x10–0x16 are refused by name ('v1').
//
// All integers are big-endian. varint = unsigned LEB128, shortest form only, ≤ 8 bytes.
//
// | type | kind          | body after the type byte                                                     |
// |------|---------------|------------------------------------------------------------------------------|
// | 0x20 | updates       | varint firstSeq (≤ 2^48−1); batch (origin = the sender)                      |
// | 0x21 | ack           | varint upTo; u8 R (≤ 16); R × (varint gap, varint span)                      |
// |      |               |   range i: from = prev + 2 + gap, to = from + span; prev = upTo, then to(i−1)|
// | 0x22 | digest        | varint count; u64 hash; u8 B (≤ 64); B × (varint count, u64 hash)            |
// | 0x23 | request       | u32 id; u8 B: 0 = everything (snapshot), else B × u8 bucket (< 64, ascending)|
// | 0x24 | snapshot-part | u32 id; u16 part; u16 parts (part < parts); u8 N; N × batch                  |
// | 0x25 | clock-ping    | u32 id; f64 t1                                                               |
// | 0x26 | clock-pong    | u32 id; f64 t1; f64 t2; f64 t3                                               |
// | 0x27 | cert          | u16 length (≤ 1100); certificate DER                                         |
// | 0x28 | cert-request  | u8 N (1..8); N × (u8 length, device ID)                                      |
//
// batch = u8 flags | [u8 length, origin] | varint list length (≤ 1040) | entry list | 64-byte sig
// entry list = varint M; M × entry
// entry = u8 flags | varint path length (1..768) | path UTF-8 | t: u48 ms, or f64 when flags bit 3
//       | varint c (≤ 2^32−1) | value
//   flags bits 0–2: value kind; bit 3: t is f64 (t not a whole number in 0..2^48−1, or −0);
//   bit 4: a person made this write on the origin, not a plugin (peers' plugins give way to it);
//   bits 5–7: zero. value by kind: 0 null (trigger) | 1 false | 2 true | 3 f64 | 4 i32 (whole
//   numbers in int32, not −0) | 5 varint length (≤ 1024) + UTF-8 string | 6 colour: u32
//   rrggbbaa, read back as "#rrggbbaa".
//
// NaN and ±Infinity are refused: encodeSync throws RangeError, decodeSync answers 'bad-value'.
// Decode errors: 'truncated', 'bad-type', 'bad-value', 'oversize', 'bad-utf8', 'trailing-bytes',
// and 'v1' (a version 1 message). Signatures are not checked here: the codec parses, the
// service (which holds the keys) judges.

export * from './batch.ts';
export type { DecodeCode } from './bytes.ts';
export * from './entries.ts';
export * from './messages.ts';

/** Encodes a message from `sender` (whose own batches leave their origin out); throws RangeError if it cannot be sent. */
export function encodeSync(msg: SyncMessage, sender: string): Uint8Array {
  const w = createWriter(MAX_SYNC_BYTES);
  const type = SYNC_TYPE[msg.kind];
  if (type === undefined) throw new RangeError(`unknown sync message kind ${String(msg.kind)}`);
  w.u8(type);
  switch (msg.kind) {
    case 'updates':
      if (msg.batch.origin !== sender) throw new RangeError('updates carry only the sender’s own writes');
      w.varint(checkUint(msg.firstSeq, U48_MAX, 'firstSeq'));
      if (msg.firstSeq + batchEntryCount(msg.batch) - 1 > U48_MAX)
        throw new RangeError('seq runs past 2^48−1');
      writeBatch(w, msg.batch, sender);
      break;
    case 'snapshot-part':
      w.u32(checkUint(msg.id, U32_MAX, 'id'));
      checkUint(msg.parts, 0xffff, 'parts');
      if (msg.parts === 0) throw new RangeError('parts must be at least 1');
      w.u16(checkUint(msg.part, msg.parts - 1, 'part'));
      w.u16(msg.parts);
      w.u8(checkUint(msg.batches.length, 255, 'batch count'));
      for (const b of msg.batches) writeBatch(w, b, sender);
      break;
    case 'ack':
      writeAck(w, msg.upTo, msg.sack);
      break;
    case 'digest':
      w.varint(checkUint(msg.count, U48_MAX, 'count'));
      w.u64(checkU64(msg.hash, 'hash'));
      checkUint(msg.buckets.length, MAX_BUCKETS, 'bucket count');
      w.u8(msg.buckets.length);
      for (const b of msg.buckets) {
        w.varint(checkUint(b.count, U48_MAX, 'bucket count'));
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
    case 'cert':
      if (msg.der.length === 0) throw new RangeError('a certificate cannot be empty');
      w.u16(checkUint(msg.der.length, MAX_CERT_BYTES, 'certificate length'));
      w.bytes(msg.der);
      break;
    case 'cert-request':
      checkUint(msg.ids.length, MAX_CERT_REQUESTS, 'certificate request count');
      if (msg.ids.length === 0) throw new RangeError('a certificate request names at least one device');
      w.u8(msg.ids.length);
      for (const id of msg.ids) {
        const b = utf8Bytes(id, MAX_ORIGIN_BYTES, 'device ID');
        if (b.length === 0) throw new RangeError('a device ID cannot be empty');
        w.u8(b.length);
        w.bytes(b);
      }
      break;
  }
  return w.finish();
}

function writeAck(w: Writer, upTo: number, sack: readonly SackRange[]): void {
  w.varint(checkUint(upTo, U48_MAX, 'upTo'));
  checkUint(sack.length, MAX_SACK_RANGES, 'SACK range count');
  w.u8(sack.length);
  let prev = upTo;
  for (const { from, to } of sack) {
    // A range must leave a gap after the previous one: otherwise upTo (or that range) would cover it.
    checkUint(from, U48_MAX, 'SACK from');
    if (from < prev + 2) throw new RangeError(`SACK range ${from}..${to} does not leave a gap after ${prev}`);
    if (!Number.isInteger(to) || to < from || to > U48_MAX) throw new RangeError(`SACK range ${from}..${to}`);
    w.varint(from - prev - 2);
    w.varint(to - from);
    prev = to;
  }
}

/** Decodes one message from `sender` out of untrusted bytes; never throws. */
export function decodeSync(bytes: Uint8Array, sender: string): SyncDecoded {
  if (bytes.length > MAX_SYNC_BYTES) {
    return {
      ok: false,
      code: 'oversize',
      detail: `message of ${bytes.length} bytes, at most ${MAX_SYNC_BYTES}`,
    };
  }
  if (bytes.length === 0) return { ok: false, code: 'truncated', detail: 'empty message' };
  const type = bytes[0]!;
  if (type >= V1_TYPES.first && type <= V1_TYPES.last) {
    return {
      ok: false,
      code: 'v1',
      detail: `a sync/v1 message (type 0x${type.toString(16)}): the peer runs a hana from before signed writes (sync/v2)`,
    };
  }
  try {
    const r = createReader(bytes);
    const msg = readBody(r, r.u8(), sender);
    r.end();
    return { ok: true, msg };
  } catch (err) {
    if (isFailure(err)) return { ok: false, code: err.code, detail: err.detail };
    throw err; // a bug in this decoder: loud, and the fuzz tests look for it
  }
}

function readBody(r: Reader, type: number, sender: string): SyncMessage<ReturnType<typeof readBatch>> {
  switch (type) {
    case SYNC_TYPE.updates: {
      const firstSeq = r.varint(U48_MAX, 'firstSeq');
      const batch = readBatch(r, sender);
      if (batch.origin !== sender) fail('bad-value', 'updates carry only the sender’s own writes');
      if (firstSeq + batch.entries.length - 1 > U48_MAX) fail('bad-value', 'seq runs past 2^48−1');
      return { kind: 'updates', firstSeq, batch };
    }
    case SYNC_TYPE['snapshot-part']: {
      const id = r.u32();
      const part = r.u16();
      const parts = r.u16();
      if (part >= parts) fail('bad-value', `part ${part} of ${parts}`);
      const n = r.u8();
      const batches = [];
      for (let i = 0; i < n; i++) batches.push(readBatch(r, sender));
      return { kind: 'snapshot-part', id, part, parts, batches };
    }
    case SYNC_TYPE.ack: {
      const upTo = r.varint(U48_MAX, 'upTo');
      const n = r.u8();
      if (n > MAX_SACK_RANGES) fail('bad-value', `${n} SACK ranges, at most ${MAX_SACK_RANGES}`);
      const sack: SackRange[] = [];
      let prev = upTo;
      for (let i = 0; i < n; i++) {
        const from = prev + 2 + r.varint(U48_MAX, 'SACK gap');
        const to = from + r.varint(U48_MAX, 'SACK span');
        if (to > U48_MAX) fail('bad-value', `SACK range ends past ${U48_MAX}`);
        sack.push({ from, to });
        prev = to;
      }
      return { kind: 'ack', upTo, sack };
    }
    case SYNC_TYPE.digest: {
      const count = r.varint(U48_MAX, 'count');
      const hash = r.u64();
      const n = r.u8();
      if (n > MAX_BUCKETS) fail('bad-value', `${n} buckets, at most ${MAX_BUCKETS}`);
      const buckets: BucketDigest[] = [];
      for (let i = 0; i < n; i++) buckets.push({ count: r.varint(U48_MAX, 'bucket count'), hash: r.u64() });
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
    case SYNC_TYPE.cert: {
      const length = r.u16();
      if (length === 0 || length > MAX_CERT_BYTES) fail('oversize', `certificate of ${length} bytes`);
      return { kind: 'cert', der: r.bytes(length, 'certificate') };
    }
    case SYNC_TYPE['cert-request']: {
      const n = r.u8();
      if (n === 0 || n > MAX_CERT_REQUESTS) fail('bad-value', `${n} certificates requested`);
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const length = r.u8();
        if (length === 0 || length > MAX_ORIGIN_BYTES) fail('bad-value', `device ID of ${length} bytes`);
        ids.push(r.utf8(length, 'device ID'));
      }
      return { kind: 'cert-request', ids };
    }
    default:
      return fail('bad-type', `unknown sync message type 0x${type.toString(16).padStart(2, '0')}`);
  }
}

/** Entries in a batch's list: its leading varint, read without decoding the entries. */
function batchEntryCount(b: Batch): number {
  return createReader(b.list).varint(Number.MAX_SAFE_INTEGER, 'entry count');
}

function finiteTime(r: Reader): number {
  const t = r.f64();
  if (!Number.isFinite(t)) fail('bad-value', 'clock time is not finite');
  return t;
}

/** Fixed bytes of an `updates` message around its entry list: type, firstSeq, batch framing, signature. */
export function updatesOverhead(firstSeq: number, listBytes: number): number {
  return 1 + varintLength(firstSeq) + 1 + varintLength(listBytes) + 64;
}

/** Bytes a snapshot part of these batches takes. */
export function snapshotPartSize(batches: readonly Batch[], sender: string): number {
  let n = 1 + 4 + 2 + 2 + 1;
  for (const b of batches) n += batchWireSize(b, sender);
  return n;
}
