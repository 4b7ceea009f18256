import { ENTRY_HEADER_BYTES, MAX_BPM, MIN_BPM, NODE_ID_BYTES } from './wire.ts';

// The byte-level pieces every Link message is made of: int64 fields, node ids and the
// key/size/value payload entries. Decoding never throws: each reader returns a value or a
// refusal code, and the message decoders (discovery.ts, measurement.ts) pass the code on.

export type LinkRefusal =
  /** Over MAX_MESSAGE_BYTES. */
  | 'oversize'
  /** Shorter than its header, or an entry that runs past the end. */
  | 'truncated'
  /** Not "_asdp_v"/"_link_v", or another protocol version. */
  | 'bad-magic'
  /** A message type this version does not define. */
  | 'bad-type'
  /** A session group other than 0 (Link sends and accepts only 0). */
  | 'bad-group'
  /** A known entry whose size is not the size its type has. */
  | 'bad-entry-size'
  /** The same known entry twice in one message. */
  | 'duplicate-entry'
  /** A message without an entry its type needs (an announcement without timeline or session). */
  | 'missing-entry'
  /** A tempo outside 20–999 bpm (or not positive). */
  | 'bad-tempo'
  /** An int64 beyond ±2^53 (no time or beat a peer means is that far), or a non-0/1 bool. */
  | 'bad-number'
  /** A measurement endpoint with address 0.0.0.0 or port 0. */
  | 'bad-endpoint';

export type Decoded<T> = { ok: true; value: T } | { ok: false; code: LinkRefusal };
export const refuse = (code: LinkRefusal): { ok: false; code: LinkRefusal } => ({ ok: false, code });

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** An int64 at `at` as a number, or undefined when it cannot be one exactly. */
export function readInt64(b: Uint8Array, at: number): number | undefined {
  const v = view(b).getBigInt64(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) return undefined;
  return Number(v);
}

export function writeInt64(b: Uint8Array, at: number, v: number): void {
  // Callers hold integers (µs, micro-beats); a fraction here would be a bug upstream.
  view(b).setBigInt64(at, BigInt(Math.round(v)));
}

export const readUint32 = (b: Uint8Array, at: number) => view(b).getUint32(at);
export const writeUint32 = (b: Uint8Array, at: number, v: number) => view(b).setUint32(at, v);
export const readUint16 = (b: Uint8Array, at: number) => view(b).getUint16(at);
export const writeUint16 = (b: Uint8Array, at: number, v: number) => view(b).setUint16(at, v);

/** Node and session ids as 16 lowercase hex digits: comparable as strings in byte order. */
export function readNodeId(b: Uint8Array, at: number): string {
  return Buffer.from(b.subarray(at, at + NODE_ID_BYTES)).toString('hex');
}

export function writeNodeId(b: Uint8Array, at: number, id: string): void {
  b.set(Buffer.from(id, 'hex').subarray(0, NODE_ID_BYTES), at);
}

export function isNodeId(id: string): boolean {
  return /^[0-9a-f]{16}$/.test(id);
}

/**
 * A tempo in microseconds per beat → bpm, refused outside MIN_BPM–MAX_BPM. The range is
 * checked in whole microseconds, as Link rounds it: 999 bpm travels as 60060 µs, which reads
 * back as 999.0009 bpm and must still pass.
 */
export function bpmFromMicrosPerBeat(mpb: number): number | undefined {
  if (!(mpb >= microsPerBeat(MAX_BPM) && mpb <= microsPerBeat(MIN_BPM))) return undefined;
  return 60e6 / mpb;
}

/** Link carries a tempo as whole microseconds per beat. */
export const microsPerBeat = (bpm: number) => Math.round(60e6 / bpm);

export type RawEntry = { key: number; value: Uint8Array };

/**
 * Splits a payload into entries. Unknown keys are kept (newer Link versions add entries, e.g.
 * audio endpoints, that older peers skip); sizes are checked against the bytes there are, so
 * one lying size field refuses the datagram instead of reading past it.
 */
export function splitEntries(payload: Uint8Array): Decoded<RawEntry[]> {
  const entries: RawEntry[] = [];
  let at = 0;
  while (at < payload.length) {
    if (payload.length - at < ENTRY_HEADER_BYTES) return refuse('truncated');
    const key = readUint32(payload, at);
    const size = readUint32(payload, at + 4);
    const start = at + ENTRY_HEADER_BYTES;
    if (size > payload.length - start) return refuse('truncated');
    entries.push({ key, value: payload.subarray(start, start + size) });
    at = start + size;
  }
  return { ok: true, value: entries };
}

/** Appends one entry at `at`; returns the offset after it. */
export function putEntry(b: Uint8Array, at: number, key: number, value: Uint8Array): number {
  writeUint32(b, at, key);
  writeUint32(b, at + 4, value.length);
  b.set(value, at + ENTRY_HEADER_BYTES);
  return at + ENTRY_HEADER_BYTES + value.length;
}

/** An 8-byte int64 entry value. */
export function int64Value(v: number): Uint8Array {
  const b = new Uint8Array(8);
  writeInt64(b, 0, v);
  return b;
}
