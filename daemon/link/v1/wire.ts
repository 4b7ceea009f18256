import { z } from 'zod';
import { DeviceId, PeerAddress, PeerName } from '../../../trust-store/peers-schema.ts';

// Link messages inside the authenticated DTLS session: one type byte, then the body. Every
// message fits one datagram (MAX_MESSAGE_BYTES); anything else is a violation.
//
// Version 2: the ensemble secret is proven with CPace (a share in `bind`, then an
// `ensemble-confirm` tag) instead of version 1's HMAC `proof`. A bind of another version is
// refused by name (`link-version`), not taken for a malformed one.
//
// Version 3: the same link messages; what rides on the link is sync/v2 (every write signed by
// the daemon that made it, daemon/sync/v2/). A version 2 daemon would send unsigned sync/v1
// writes, so it is refused at the bind, by name, before any of its writes could arrive.

export const LINK_VERSION = 3;
/** What each link version carries, for the refusal an operator reads. */
export const SYNC_OF_LINK: Readonly<Record<number, string>> = { 1: 'sync/v1', 2: 'sync/v1', 3: 'sync/v2' };
export const MAX_MESSAGE_BYTES = 1200;

export const MSG = {
  bind: 1,
  ping: 2,
  pong: 3,
  close: 4,
  rotate: 5,
  'pair-offer': 6,
  'pair-start': 7,
  'pair-reply': 8,
  'pair-confirm': 9,
  'pair-done': 10,
  'pair-fail': 11,
  introduce: 12,
  'rotate-ack': 13,
  // The last link type before sync's 0x10, so types added after pairing can take 12–14 in order.
  'ensemble-confirm': 15,
} as const;

/**
 * "I trust `id` as `role`; so may you" (daemon/link/introductions.ts). Signed by the introducer
 * `by` over the recipient's ID too, so it could be relayed and still checked. The device ID is
 * the certificate's hash: the receiver pins the key, not the name. No certificate is carried,
 * which keeps it far below MAX_MESSAGE_BYTES (measured worst case: 530 bytes).
 */
export const IntroduceBody = z
  .object({
    by: DeviceId,
    id: DeviceId,
    name: PeerName,
    role: z.enum(['performer', 'observer']),
    /** Where the introducer's link to `id` runs: a dial hint, nothing is decided by it. */
    address: PeerAddress.optional(),
    sig: z.string().min(16).max(200),
  })
  .strict();
export type IntroduceBody = z.infer<typeof IntroduceBody>;

const B64_32 = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, '32 bytes, base64');

/** The first message each side sends: who it is, proven over this session's keys. */
export const BindBody = z
  .object({
    v: z.literal(LINK_VERSION),
    name: z.string().min(1).max(64),
    ensemble: z.string().max(64),
    /** ECDSA signature (DER, base64) over the binding transcript with the certificate's key. */
    sig: z.string().min(16).max(200),
    /** Our CPace share for the ensemble secret (daemon/link/binding.ts), exactly when one is set. */
    share: B64_32.optional(),
  })
  .strict();
export type BindBody = z.infer<typeof BindBody>;

/** Our CPace key-confirmation tag, sent once the peer's share arrived in its bind. */
export const EnsembleConfirmBody = z.object({ tag: B64_32 }).strict();
export type EnsembleConfirmBody = z.infer<typeof EnsembleConfirmBody>;

export const CloseBody = z.object({ reason: z.string().max(200) }).strict();

/** A new identity, announced over a trusted link and signed by the key the peer pinned. */
export const RotateBody = z
  .object({ cert: z.string().min(100).max(1100), sig: z.string().min(16).max(200) })
  .strict();
export type RotateBody = z.infer<typeof RotateBody>;

/**
 * The same rotation told over a session that already shows the new certificate, to a peer that
 * missed it (daemon/link/rotation.ts): it carries the certificate the peer pinned instead, since
 * both would not fit one datagram. Sent before the bind, so the peer can move its pin before it
 * judges the new ID (which would otherwise be a key change under a pinned name).
 */
export const RotateFromBody = z
  .object({ from: z.string().min(100).max(1100), sig: z.string().min(16).max(200) })
  .strict();
export type RotateFromBody = z.infer<typeof RotateFromBody>;

/** "My pin for `from` now points at `to`": the rotating daemon may stop announcing to us. */
export const RotateAckBody = z.object({ from: DeviceId, to: DeviceId }).strict();
export type RotateAckBody = z.infer<typeof RotateAckBody>;

/** Pairing (daemon/link/pairing.ts): CPace shares and key-confirmation tags, 32 bytes each. */
export const PairBodies = {
  /** "I hold an open pairing code": lets the other side try its code here and nowhere else. */
  'pair-offer': z.object({ open: z.boolean() }).strict(),
  'pair-start': z.object({ share: B64_32 }).strict(),
  'pair-reply': z.object({ share: B64_32, tag: B64_32 }).strict(),
  'pair-confirm': z.object({ tag: B64_32 }).strict(),
  'pair-done': z.object({ role: z.enum(['performer', 'observer']) }).strict(),
  'pair-fail': z
    .object({ reason: z.enum(['no-code', 'expired', 'burned', 'wrong-code', 'busy', 'invalid', 'unsaved']) })
    .strict(),
} as const;
export type PairType = keyof typeof PairBodies;
export type PairMessage = {
  [K in PairType]: { type: K; body: z.infer<(typeof PairBodies)[K]> };
}[PairType];
const PAIR_TYPES = Object.keys(PairBodies) as PairType[];

export type LinkMessage =
  | PairMessage
  | { type: 'bind'; body: BindBody }
  | { type: 'ensemble-confirm'; body: EnsembleConfirmBody }
  | { type: 'ping' | 'pong'; id: number; t: number }
  | { type: 'close'; reason: string }
  | { type: 'rotate'; body: RotateBody | RotateFromBody }
  | { type: 'rotate-ack'; body: RotateAckBody }
  | { type: 'introduce'; body: IntroduceBody };

/** `version` is set for a bind of another link version: the peer runs an older or newer hana. */
export type DecodeError = { ok: false; error: string; version?: number };

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeLink(m: LinkMessage): Uint8Array {
  if ('id' in m) {
    const out = new Uint8Array(17);
    out[0] = MSG[m.type];
    const v = new DataView(out.buffer);
    v.setFloat64(1, m.id);
    v.setFloat64(9, m.t);
    return out;
  }
  const json = enc.encode(JSON.stringify(m.type === 'close' ? { reason: m.reason.slice(0, 200) } : m.body));
  const out = new Uint8Array(1 + json.length);
  out[0] = MSG[m.type];
  out.set(json, 1);
  if (out.length > MAX_MESSAGE_BYTES) throw new RangeError(`link message of ${out.length} bytes`);
  return out;
}

export function decodeLink(b: Uint8Array): { ok: true; message: LinkMessage } | DecodeError {
  if (b.length === 0 || b.length > MAX_MESSAGE_BYTES)
    return { ok: false, error: `message of ${b.length} bytes` };
  const type = b[0];
  if (type === MSG.ping || type === MSG.pong) {
    if (b.length !== 17) return { ok: false, error: 'ping/pong of the wrong size' };
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return {
      ok: true,
      message: { type: type === MSG.ping ? 'ping' : 'pong', id: v.getFloat64(1), t: v.getFloat64(9) },
    };
  }
  const pairType = PAIR_TYPES.find((t) => MSG[t] === type);
  if (
    type !== MSG.bind &&
    type !== MSG.close &&
    type !== MSG.rotate &&
    type !== MSG['rotate-ack'] &&
    type !== MSG['ensemble-confirm'] &&
    type !== MSG.introduce &&
    pairType === undefined
  ) {
    return { ok: false, error: `unknown message type ${type}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(b.subarray(1)));
  } catch {
    return { ok: false, error: 'body is not UTF-8 JSON' };
  }
  if (type === MSG.bind) {
    const v = (json as { v?: unknown } | null)?.v;
    if (typeof v === 'number' && Number.isInteger(v) && v !== LINK_VERSION)
      return { ok: false, error: `bind of link version ${v}, not ${LINK_VERSION}`, version: v };
    const r = BindBody.safeParse(json);
    return r.success
      ? { ok: true, message: { type: 'bind', body: r.data } }
      : { ok: false, error: 'malformed bind' };
  }
  if (type === MSG['ensemble-confirm']) {
    const r = EnsembleConfirmBody.safeParse(json);
    return r.success
      ? { ok: true, message: { type: 'ensemble-confirm', body: r.data } }
      : { ok: false, error: 'malformed ensemble-confirm' };
  }
  if (pairType !== undefined) {
    const r = PairBodies[pairType].safeParse(json);
    return r.success
      ? { ok: true, message: { type: pairType, body: r.data } as PairMessage }
      : { ok: false, error: `malformed ${pairType}` };
  }
  if (type === MSG.rotate) {
    const r = RotateBody.or(RotateFromBody).safeParse(json);
    return r.success
      ? { ok: true, message: { type: 'rotate', body: r.data } }
      : { ok: false, error: 'malformed rotate' };
  }
  if (type === MSG['rotate-ack']) {
    const r = RotateAckBody.safeParse(json);
    return r.success
      ? { ok: true, message: { type: 'rotate-ack', body: r.data } }
      : { ok: false, error: 'malformed rotate-ack' };
  }
  if (type === MSG.introduce) {
    const r = IntroduceBody.safeParse(json);
    return r.success
      ? { ok: true, message: { type: 'introduce', body: r.data } }
      : { ok: false, error: 'malformed introduce' };
  }
  const r = CloseBody.safeParse(json);
  return r.success
    ? { ok: true, message: { type: 'close', reason: r.data.reason } }
    : { ok: false, error: 'malformed close' };
}
