import { checkUint, fail, type Reader, utf8, utf8Bytes, varintLength, type Writer } from './bytes.ts';
import { decodeEntryList, type SyncEntry } from './entries.ts';

// A signed batch: some of one origin's writes, signed by that origin's identity key. It is the
// unit everything else is built from: an `updates` datagram carries one, a snapshot part
// carries several, and a daemon passing on a third daemon's writes forwards the origin's batch
// byte for byte, so whoever receives it can check it against the origin's pinned key however
// many hops it took. The signature covers
//
//   "hana sync/v2 batch\0" | u8 origin length | origin (device ID, ASCII) | entry list
//
// and nothing link-specific (no sequence numbers), which is what lets it travel.
//
// On the wire: u8 flags | [u8 length, origin] | varint entry-list length | entry list | 64-byte
// signature (ECDSA P-256 over SHA-256, r‖s). Flags bit 0: the origin is the sending daemon and
// is left out (a fader move then costs no 64-byte device ID); bits 1–7 zero.

export const SIG_BYTES = 64;
export const MAX_ORIGIN_BYTES = 64;
/**
 * An entry list is at most this long, so any batch, with its origin spelled out, still fits a
 * snapshot part when a relay passes it on (1200 − part header − batch framing − signature).
 */
export const MAX_ENTRY_LIST_BYTES = 1040;

const ORIGIN_IS_SENDER = 0x01;
const DOMAIN = utf8.encode('hana sync/v2 batch\0');

export type Batch = {
  readonly origin: string;
  /** The signed entry list exactly as the origin encoded it. */
  readonly list: Uint8Array;
  readonly sig: Uint8Array;
};

/** A batch whose entries were decoded (every stamp's node is the origin). */
export type OpenBatch = Batch & { readonly entries: readonly SyncEntry[] };

/** The bytes an origin signs and a receiver verifies. */
export function signedBytes(origin: string, list: Uint8Array): Uint8Array {
  const o = utf8Bytes(origin, MAX_ORIGIN_BYTES, 'origin');
  const out = new Uint8Array(DOMAIN.length + 1 + o.length + list.length);
  out.set(DOMAIN, 0);
  out[DOMAIN.length] = o.length;
  out.set(o, DOMAIN.length + 1);
  out.set(list, DOMAIN.length + 1 + o.length);
  return out;
}

/** Wire bytes of a batch, with its origin left out when the sender is the origin. */
export function batchWireSize(b: Batch, sender: string): number {
  const origin = b.origin === sender ? 0 : 1 + utf8Bytes(b.origin, MAX_ORIGIN_BYTES, 'origin').length;
  return 1 + origin + varintLength(b.list.length) + b.list.length + SIG_BYTES;
}

export function writeBatch(w: Writer, b: Batch, sender: string): void {
  checkUint(b.list.length, MAX_ENTRY_LIST_BYTES, 'entry list length');
  if (b.sig.length !== SIG_BYTES) throw new RangeError(`a signature is ${SIG_BYTES} bytes`);
  if (b.origin === sender) w.u8(ORIGIN_IS_SENDER);
  else {
    const o = utf8Bytes(b.origin, MAX_ORIGIN_BYTES, 'origin');
    if (o.length === 0) throw new RangeError('origin must not be empty');
    w.u8(0);
    w.u8(o.length);
    w.bytes(o);
  }
  w.varint(b.list.length);
  w.bytes(b.list);
  w.bytes(b.sig);
}

/** Reads one batch sent by `sender`; its entries are decoded but its signature is not checked here. */
export function readBatch(r: Reader, sender: string): OpenBatch {
  const flags = r.u8();
  if (flags & ~ORIGIN_IS_SENDER) fail('bad-value', `batch flags 0x${flags.toString(16)}`);
  let origin = sender;
  if (!(flags & ORIGIN_IS_SENDER)) {
    const length = r.u8();
    if (length === 0 || length > MAX_ORIGIN_BYTES) fail('bad-value', `origin of ${length} bytes`);
    origin = r.utf8(length, 'origin');
  }
  const listLength = r.varint(MAX_ENTRY_LIST_BYTES, 'entry list length');
  const list = r.bytes(listLength, 'entry list');
  const sig = r.bytes(SIG_BYTES, 'signature');
  return { origin, list, sig, entries: decodeEntryList(list, origin) };
}
