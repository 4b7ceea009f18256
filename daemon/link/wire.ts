import { z } from 'zod';

// Link messages inside the authenticated DTLS session, version 1: one type byte, then the
// body. Every message fits one datagram (MAX_MESSAGE_BYTES); anything else is a violation.

export const LINK_VERSION = 1;
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
} as const;

/** The first message each side sends: who it is, proven over this session's keys. */
export const BindBody = z
  .object({
    v: z.literal(LINK_VERSION),
    name: z.string().min(1).max(64),
    ensemble: z.string().max(64),
    /** ECDSA signature (DER, base64) over the binding transcript with the certificate's key. */
    sig: z.string().min(16).max(200),
    /** HMAC-SHA256 (base64) of the ensemble secret over the exporter, when one is set. */
    proof: z.string().max(64).optional(),
  })
  .strict();
export type BindBody = z.infer<typeof BindBody>;

export const CloseBody = z.object({ reason: z.string().max(200) }).strict();

/** A new identity, announced over a trusted link and signed by the key the peer pinned. */
export const RotateBody = z
  .object({ cert: z.string().min(100).max(1100), sig: z.string().min(16).max(200) })
  .strict();
export type RotateBody = z.infer<typeof RotateBody>;

const B64_32 = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, '32 bytes, base64');

/** Pairing (daemon/link/pairing.ts): CPace shares and key-confirmation tags, 32 bytes each. */
export const PairBodies = {
  /** "I hold an open pairing code": lets the other side try its code here and nowhere else. */
  'pair-offer': z.object({ open: z.boolean() }).strict(),
  'pair-start': z.object({ share: B64_32 }).strict(),
  'pair-reply': z.object({ share: B64_32, tag: B64_32 }).strict(),
  'pair-confirm': z.object({ tag: B64_32 }).strict(),
  'pair-done': z.object({ role: z.enum(['performer', 'observer']) }).strict(),
  'pair-fail': z
    .object({ reason: z.enum(['no-code', 'expired', 'burned', 'wrong-code', 'busy', 'invalid']) })
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
  | { type: 'ping' | 'pong'; id: number; t: number }
  | { type: 'close'; reason: string }
  | { type: 'rotate'; body: RotateBody };

export type DecodeError = { ok: false; error: string };

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
  if (type !== MSG.bind && type !== MSG.close && type !== MSG.rotate && pairType === undefined) {
    return { ok: false, error: `unknown message type ${type}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(b.subarray(1)));
  } catch {
    return { ok: false, error: 'body is not UTF-8 JSON' };
  }
  if (type === MSG.bind) {
    const r = BindBody.safeParse(json);
    return r.success
      ? { ok: true, message: { type: 'bind', body: r.data } }
      : { ok: false, error: 'malformed bind' };
  }
  if (pairType !== undefined) {
    const r = PairBodies[pairType].safeParse(json);
    return r.success
      ? { ok: true, message: { type: pairType, body: r.data } as PairMessage }
      : { ok: false, error: `malformed ${pairType}` };
  }
  if (type === MSG.rotate) {
    const r = RotateBody.safeParse(json);
    return r.success
      ? { ok: true, message: { type: 'rotate', body: r.data } }
      : { ok: false, error: 'malformed rotate' };
  }
  const r = CloseBody.safeParse(json);
  return r.success
    ? { ok: true, message: { type: 'close', reason: r.data.reason } }
    : { ok: false, error: 'malformed close' };
}
