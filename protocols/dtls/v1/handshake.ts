// Socket-free parsers for the DTLS 1.2 handshake messages that the handshake verifier checks
// (RFC 6347 §4.2, RFC 5246 §7.4, RFC 8422 §5). Each takes one whole message as it stands in
// the transcript (12-byte DTLS header + body) and returns undefined on anything malformed, so
// a hostile message becomes a named verification failure, never an exception.

export const HandshakeType = {
  clientHello: 1,
  serverHello: 2,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  clientKeyExchange: 16,
  finished: 20,
} as const;

export const EXT_EXTENDED_MASTER_SECRET = 0x0017;
export const CURVE_X25519 = 29;
export const CURVE_P256 = 23;
/** ecdsa_secp256r1_sha256: the only signature scheme our P-256 identities make. */
export const SCHEME_ECDSA_P256_SHA256 = 0x0403;

const HEADER = 12;

export type HandshakeMessage = {
  readonly type: number;
  readonly seq: number;
  /** The whole message as hashed into the transcript. */
  readonly bytes: Uint8Array;
  readonly body: Uint8Array;
};

/** One unfragmented handshake message; fragments never reach the transcript. */
export function parseHandshake(bytes: Uint8Array): HandshakeMessage | undefined {
  if (bytes.length < HEADER) return undefined;
  const length = u24(bytes, 1);
  const offset = u24(bytes, 6);
  const fragmentLength = u24(bytes, 9);
  if (offset !== 0 || fragmentLength !== length || bytes.length !== HEADER + length) return undefined;
  return { type: bytes[0]!, seq: (bytes[4]! << 8) | bytes[5]!, bytes, body: bytes.subarray(HEADER) };
}

type Reader = { at: number; readonly b: Uint8Array };

function take(r: Reader, n: number): Uint8Array | undefined {
  if (n < 0 || r.at + n > r.b.length) return undefined;
  const out = r.b.subarray(r.at, r.at + n);
  r.at += n;
  return out;
}

function num(r: Reader, n: 1 | 2 | 3): number | undefined {
  const b = take(r, n);
  if (!b) return undefined;
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

function vector(r: Reader, lenBytes: 1 | 2 | 3): Uint8Array | undefined {
  const n = num(r, lenBytes);
  return n === undefined ? undefined : take(r, n);
}

function u24(b: Uint8Array, at: number): number {
  return (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
}

function extensionTypes(r: Reader): number[] | undefined {
  if (r.at === r.b.length) return [];
  const all = vector(r, 2);
  if (!all || r.at !== r.b.length) return undefined;
  const e: Reader = { at: 0, b: all };
  const types: number[] = [];
  while (e.at < all.length) {
    const type = num(e, 2);
    if (type === undefined || !vector(e, 2)) return undefined;
    types.push(type);
  }
  return types;
}

export type Hello = { random: Uint8Array; extensions: number[] };

export function parseClientHello(body: Uint8Array): Hello | undefined {
  const r: Reader = { at: 0, b: body };
  if (!take(r, 2)) return undefined;
  const random = take(r, 32);
  if (!random || !vector(r, 1) || !vector(r, 1) || !vector(r, 2) || !vector(r, 1)) return undefined;
  const extensions = extensionTypes(r);
  return extensions && { random, extensions };
}

export function parseServerHello(body: Uint8Array): Hello | undefined {
  const r: Reader = { at: 0, b: body };
  if (!take(r, 2)) return undefined;
  const random = take(r, 32);
  if (!random || !vector(r, 1) || !take(r, 3)) return undefined;
  const extensions = extensionTypes(r);
  return extensions && { random, extensions };
}

/** The first (leaf) certificate of a Certificate message. */
export function parseCertificate(body: Uint8Array): Uint8Array | undefined {
  const r: Reader = { at: 0, b: body };
  const list = vector(r, 3);
  if (!list || r.at !== body.length) return undefined;
  const leaf = vector({ at: 0, b: list }, 3);
  return leaf && leaf.length > 0 ? leaf : undefined;
}

export type ServerKeyExchange = {
  curve: number;
  point: Uint8Array;
  /** curve_type + named_curve + point: what the server's signature covers after both randoms. */
  params: Uint8Array;
  scheme: number;
  signature: Uint8Array;
};

export function parseServerKeyExchange(body: Uint8Array): ServerKeyExchange | undefined {
  const r: Reader = { at: 0, b: body };
  if (num(r, 1) !== 3) return undefined; // named_curve: the only kind TLS 1.2 still allows
  const curve = num(r, 2);
  const point = vector(r, 1);
  if (curve === undefined || !point) return undefined;
  const params = body.subarray(0, r.at);
  const scheme = num(r, 2);
  const signature = vector(r, 2);
  if (scheme === undefined || !signature || r.at !== body.length) return undefined;
  return { curve, point, params, scheme, signature };
}

export function parseClientKeyExchange(body: Uint8Array): Uint8Array | undefined {
  const r: Reader = { at: 0, b: body };
  const point = vector(r, 1);
  return point && r.at === body.length ? point : undefined;
}

export function parseCertificateVerify(
  body: Uint8Array,
): { scheme: number; signature: Uint8Array } | undefined {
  const r: Reader = { at: 0, b: body };
  const scheme = num(r, 2);
  const signature = vector(r, 2);
  return scheme !== undefined && signature && r.at === body.length ? { scheme, signature } : undefined;
}
