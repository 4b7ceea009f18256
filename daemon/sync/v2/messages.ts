import { MAX_MESSAGE_BYTES } from '../../link/v1/wire.ts';
import type { Batch, OpenBatch } from './batch.ts';
import type { DecodeCode } from './bytes.ts';

// The sync messages, version 2, as values: what encodeSync takes and decodeSync returns. The
// byte layout is documented in codec.ts.

export const MAX_SYNC_BYTES = MAX_MESSAGE_BYTES;
export const MAX_SACK_RANGES = 16;
export const MAX_BUCKETS = 64;
export const MAX_CERT_BYTES = 1100;
export const MAX_CERT_REQUESTS = 8;
/** Per-link sequence numbers; at 100 k updates/s a link would need 89 years to run out. */
export { U48_MAX as MAX_SEQ } from './bytes.ts';

export const SYNC_TYPE = {
  updates: 0x20,
  ack: 0x21,
  digest: 0x22,
  request: 0x23,
  'snapshot-part': 0x24,
  'clock-ping': 0x25,
  'clock-pong': 0x26,
  cert: 0x27,
  'cert-request': 0x28,
} as const;

/** Version 1's type codes: a peer sending them runs a hana from before signed writes. */
export const V1_TYPES = { first: 0x10, last: 0x16 } as const;

/** Sequence numbers upTo+… that arrived past a gap: `from`..`to` inclusive. */
export type SackRange = { readonly from: number; readonly to: number };
export type BucketDigest = { readonly count: number; readonly hash: bigint };

export type SyncMessage<B extends Batch = Batch> =
  /** The sender's own writes, numbered firstSeq, firstSeq + 1, … in entry order. */
  | { readonly kind: 'updates'; readonly firstSeq: number; readonly batch: B }
  /** Every seq ≤ upTo arrived (links number from 1, so 0 = nothing yet), plus the ranges after a gap. */
  | { readonly kind: 'ack'; readonly upTo: number; readonly sack: readonly SackRange[] }
  /** Anti-entropy: entry count and 64-bit hash of all (path, stamp, value) triples, per bucket. */
  | {
      readonly kind: 'digest';
      readonly count: number;
      readonly hash: bigint;
      readonly buckets: readonly BucketDigest[];
    }
  /** Ask for the entries of some buckets, or of everything (a snapshot); the reply carries `id`. */
  | { readonly kind: 'request'; readonly id: number; readonly buckets: 'all' | readonly number[] }
  | {
      readonly kind: 'snapshot-part';
      readonly id: number;
      /** 0-based index of this part among `parts`. */
      readonly part: number;
      readonly parts: number;
      readonly batches: readonly B[];
    }
  | { readonly kind: 'clock-ping'; readonly id: number; readonly t1: number }
  /** t1 echoed from the ping, t2 when the ping arrived, t3 when the pong left (each in its own clock, ms). */
  | {
      readonly kind: 'clock-pong';
      readonly id: number;
      readonly t1: number;
      readonly t2: number;
      readonly t3: number;
    }
  /** A device's certificate (DER): whoever holds it can check that device's batches. */
  | { readonly kind: 'cert'; readonly der: Uint8Array }
  /** "Send me these devices' certificates": batches from them arrived and cannot be checked yet. */
  | { readonly kind: 'cert-request'; readonly ids: readonly string[] };

/** 'v1' is a whole message in version 1's format: named, so the operator learns which peer to upgrade. */
export type SyncDecodeCode = DecodeCode | 'v1';

export type SyncDecoded =
  | { ok: true; msg: SyncMessage<OpenBatch> }
  | { ok: false; code: SyncDecodeCode; detail: string };
