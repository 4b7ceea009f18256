import { MAX_MESSAGE_BYTES } from '../../link/v1/wire.ts';
import type { DecodeCode } from './bytes.ts';
import type { SyncEntry, SyncUpdate } from './entries.ts';

// The sync messages, version 1, as values: what encodeSync takes and decodeSync returns. The
// byte layout is documented in codec.ts.

export const MAX_SYNC_BYTES = MAX_MESSAGE_BYTES;
export const MAX_SACK_RANGES = 16;
export const MAX_BUCKETS = 64;

export const SYNC_TYPE = {
  updates: 0x10,
  ack: 0x11,
  digest: 0x12,
  request: 0x13,
  'snapshot-part': 0x14,
  'clock-ping': 0x15,
  'clock-pong': 0x16,
} as const;

/** Sequence numbers upTo+… that arrived past a gap: `from`..`to` inclusive. */
export type SackRange = { readonly from: number; readonly to: number };
export type BucketDigest = { readonly count: number; readonly hash: bigint };

export type SyncMessage =
  | { readonly kind: 'updates'; readonly updates: readonly SyncUpdate[] }
  /** Every seq ≤ upTo arrived (links number from 1, so 0 = nothing yet), plus the ranges after a gap. */
  | { readonly kind: 'ack'; readonly upTo: number; readonly sack: readonly SackRange[] }
  /** Anti-entropy: entry count and 64-bit hash of all (path, stamp) pairs, optionally per bucket. */
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
      readonly entries: readonly SyncEntry[];
    }
  | { readonly kind: 'clock-ping'; readonly id: number; readonly t1: number }
  /** t1 echoed from the ping, t2 when the ping arrived, t3 when the pong left (each in its own clock, ms). */
  | {
      readonly kind: 'clock-pong';
      readonly id: number;
      readonly t1: number;
      readonly t2: number;
      readonly t3: number;
    };

export type SyncDecoded = { ok: true; msg: SyncMessage } | { ok: false; code: DecodeCode; detail: string };
