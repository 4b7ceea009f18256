import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';

// DTLS 1.2 wire formats and key schedule, as far as a man in the middle needs them (see
// dtls-relay.ts): records, handshake messages, hello extensions, ECDHE key exchange,
// certificates, the PRF, and AES-128-GCM record protection. Plain functions over bytes, so
// they are tested on captured handshakes without sockets. Lengths follow RFC 6347 §4.1 and
// §4.2.2; the key schedule RFC 5246 §5–6, RFC 7627 and RFC 5705.

export const CONTENT_HANDSHAKE = 22;
export const CONTENT_APPLICATION_DATA = 23;

export const HANDSHAKE = {
  clientHello: 1,
  serverHello: 2,
  helloVerifyRequest: 3,
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
const NAMED_CURVE = 3;
const RECORD_HEADER = 13;
const HANDSHAKE_HEADER = 12;
const RANDOM_AT = 2; // after client_version / server_version
const RANDOM_LENGTH = 32;

// ---------------------------------------------------------------------------------------------
// Records and handshake messages

export type DtlsRecord = {
  type: number;
  version: number;
  epoch: number;
  /** The 48-bit sequence number, kept as its 6 wire bytes. */
  seq: Uint8Array;
  fragment: Uint8Array;
};

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u24 = (b: Uint8Array, at: number) => (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
const put16 = (b: Uint8Array, at: number, v: number) => {
  b[at] = v >>> 8;
  b[at + 1] = v & 0xff;
};
const put24 = (b: Uint8Array, at: number, v: number) => {
  b[at] = v >>> 16;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = v & 0xff;
};
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** Every record of a datagram; undefined when a header or length does not fit. */
export function parseRecords(d: Uint8Array): DtlsRecord[] | undefined {
  const out: DtlsRecord[] = [];
  for (let at = 0; at < d.length; ) {
    if (at + RECORD_HEADER > d.length) return undefined;
    const length = u16(d, at + 11);
    const end = at + RECORD_HEADER + length;
    if (end > d.length) return undefined;
    out.push({
      type: d[at]!,
      version: u16(d, at + 1),
      epoch: u16(d, at + 3),
      seq: d.slice(at + 5, at + 11),
      fragment: d.slice(at + RECORD_HEADER, end),
    });
    at = end;
  }
  return out;
}

export function encodeRecords(records: readonly DtlsRecord[]): Uint8Array {
  return concat(
    ...records.map((r) => {
      const head = new Uint8Array(RECORD_HEADER);
      head[0] = r.type;
      put16(head, 1, r.version);
      put16(head, 3, r.epoch);
      head.set(r.seq, 5);
      put16(head, 11, r.fragment.length);
      return concat(head, r.fragment);
    }),
  );
}

export type HandshakeMessage = {
  msgType: number;
  /** Length of the whole message; equals body.length unless this is a fragment. */
  length: number;
  messageSeq: number;
  fragmentOffset: number;
  body: Uint8Array;
};

export const isWhole = (m: HandshakeMessage) => m.fragmentOffset === 0 && m.body.length === m.length;

/** The handshake messages (or fragments) in one plaintext handshake record. */
export function parseHandshakes(fragment: Uint8Array): HandshakeMessage[] | undefined {
  const out: HandshakeMessage[] = [];
  for (let at = 0; at < fragment.length; ) {
    if (at + HANDSHAKE_HEADER > fragment.length) return undefined;
    const fragmentLength = u24(fragment, at + 9);
    const end = at + HANDSHAKE_HEADER + fragmentLength;
    if (end > fragment.length) return undefined;
    out.push({
      msgType: fragment[at]!,
      length: u24(fragment, at + 1),
      messageSeq: u16(fragment, at + 4),
      fragmentOffset: u24(fragment, at + 6),
      body: fragment.slice(at + HANDSHAKE_HEADER, end),
    });
    at = end;
  }
  return out;
}

export function encodeHandshakes(messages: readonly HandshakeMessage[]): Uint8Array {
  return concat(
    ...messages.map((m) => {
      const head = new Uint8Array(HANDSHAKE_HEADER);
      head[0] = m.msgType;
      put24(head, 1, m.length);
      put16(head, 4, m.messageSeq);
      put24(head, 6, m.fragmentOffset);
      put24(head, 9, m.body.length);
      return concat(head, m.body);
    }),
  );
}

/** A whole message with a new body: both length fields follow it. */
export const withBody = (m: HandshakeMessage, body: Uint8Array): HandshakeMessage => ({
  ...m,
  length: body.length,
  fragmentOffset: 0,
  body,
});

// ---------------------------------------------------------------------------------------------
// Hellos

export const helloRandom = (body: Uint8Array) => body.slice(RANDOM_AT, RANDOM_AT + RANDOM_LENGTH);

/** Offset of the 2-byte extensions length in a ClientHello or ServerHello body, if it has one. */
function extensionsAt(msgType: number, body: Uint8Array): number | undefined {
  let at = RANDOM_AT + RANDOM_LENGTH;
  const skip8 = () => {
    if (at >= body.length) return false;
    at += 1 + body[at]!;
    return at <= body.length;
  };
  if (!skip8()) return undefined; // session_id
  if (msgType === HANDSHAKE.clientHello) {
    if (!skip8()) return undefined; // cookie
    if (at + 2 > body.length) return undefined;
    at += 2 + u16(body, at); // cipher_suites
    if (!skip8()) return undefined; // compression_methods
  } else if (msgType === HANDSHAKE.serverHello) {
    at += 3; // cipher_suite, compression_method
  } else {
    return undefined;
  }
  return at + 2 <= body.length ? at : undefined;
}

/** Extension types of a hello, in order; [] when it has none. */
export function helloExtensions(msgType: number, body: Uint8Array): number[] {
  const at = extensionsAt(msgType, body);
  if (at === undefined) return [];
  const types: number[] = [];
  const end = Math.min(body.length, at + 2 + u16(body, at));
  for (let p = at + 2; p + 4 <= end; p += 4 + u16(body, p + 2)) types.push(u16(body, p));
  return types;
}

/** The hello without extension `type`, every length fixed; undefined when it had none. */
export function stripHelloExtension(msgType: number, body: Uint8Array, type: number): Uint8Array | undefined {
  const at = extensionsAt(msgType, body);
  if (at === undefined) return undefined;
  const end = at + 2 + u16(body, at);
  if (end > body.length) return undefined;
  const kept: Uint8Array[] = [];
  let removed = false;
  for (let p = at + 2; p < end; ) {
    if (p + 4 > end) return undefined;
    const next = p + 4 + u16(body, p + 2);
    if (next > end) return undefined;
    if (u16(body, p) === type) removed = true;
    else kept.push(body.subarray(p, next));
    p = next;
  }
  if (!removed) return undefined;
  const exts = concat(...kept);
  const len = new Uint8Array(2);
  put16(len, 0, exts.length);
  return concat(body.subarray(0, at), len, exts, body.subarray(end));
}

// ---------------------------------------------------------------------------------------------
// Key exchange and certificates

export type ServerKeyExchange = {
  curveType: number;
  namedCurve: number;
  point: Uint8Array;
  /** SignatureAndHashAlgorithm as on the wire: hash byte, then signature byte. */
  signatureAlgorithm: number;
  signature: Uint8Array;
};

export function parseServerKeyExchange(body: Uint8Array): ServerKeyExchange | undefined {
  if (body.length < 4 || body[0] !== NAMED_CURVE) return undefined;
  const pointEnd = 4 + body[3]!;
  if (pointEnd + 4 > body.length) return undefined;
  const sigEnd = pointEnd + 4 + u16(body, pointEnd + 2);
  if (sigEnd !== body.length) return undefined;
  return {
    curveType: body[0]!,
    namedCurve: u16(body, 1),
    point: body.slice(4, pointEnd),
    signatureAlgorithm: u16(body, pointEnd),
    signature: body.slice(pointEnd + 4, sigEnd),
  };
}

/** ServerECDHParams: what the server's signature covers after the two randoms. */
function ecParams(namedCurve: number, point: Uint8Array): Uint8Array {
  const head = new Uint8Array(4);
  head[0] = NAMED_CURVE;
  put16(head, 1, namedCurve);
  head[3] = point.length;
  return concat(head, point);
}

export function encodeServerKeyExchange(ske: ServerKeyExchange): Uint8Array {
  const tail = new Uint8Array(4);
  put16(tail, 0, ske.signatureAlgorithm);
  put16(tail, 2, ske.signature.length);
  return concat(ecParams(ske.namedCurve, ske.point), tail, ske.signature);
}

/** The bytes a ServerKeyExchange signature covers (RFC 4492 §5.4). */
export const serverKeyExchangeSignedData = (
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  namedCurve: number,
  point: Uint8Array,
) => concat(clientRandom, serverRandom, ecParams(namedCurve, point));

export function parseClientKeyExchange(body: Uint8Array): Uint8Array | undefined {
  return body.length >= 1 && body.length === 1 + body[0]! ? body.slice(1) : undefined;
}

export const encodeClientKeyExchange = (point: Uint8Array) => concat(Uint8Array.of(point.length), point);

/** The DER certificates of a Certificate message body. */
export function parseCertificates(body: Uint8Array): Uint8Array[] | undefined {
  if (body.length < 3 || u24(body, 0) !== body.length - 3) return undefined;
  const out: Uint8Array[] = [];
  for (let at = 3; at < body.length; ) {
    if (at + 3 > body.length) return undefined;
    const end = at + 3 + u24(body, at);
    if (end > body.length) return undefined;
    out.push(body.slice(at + 3, end));
    at = end;
  }
  return out;
}

export function encodeCertificates(ders: readonly Uint8Array[]): Uint8Array {
  const items = ders.map((d) => {
    const len = new Uint8Array(3);
    put24(len, 0, d.length);
    return concat(len, d);
  });
  const total = new Uint8Array(3);
  put24(
    total,
    0,
    items.reduce((n, i) => n + i.length, 0),
  );
  return concat(total, ...items);
}

// ---------------------------------------------------------------------------------------------
// Key schedule (RFC 5246 §5–6, RFC 7627, RFC 5705) for TLS_ECDHE_*_WITH_AES_128_GCM_SHA256

export function prfSha256(secret: Uint8Array, label: string, seed: Uint8Array, length: number): Uint8Array {
  const labelled = concat(Buffer.from(label), seed);
  const out: Buffer[] = [];
  let a: Uint8Array = labelled;
  for (let got = 0; got < length; got += 32) {
    a = createHmac('sha256', secret).update(a).digest();
    out.push(createHmac('sha256', secret).update(concat(a, labelled)).digest());
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, length));
}

/** The master secret without extended_master_secret: the transcript plays no part. */
export const plainMasterSecret = (
  premaster: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
) => prfSha256(premaster, 'master secret', concat(clientRandom, serverRandom), 48);

export const exporterValue = (
  master: Uint8Array,
  label: string,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  length: number,
) => prfSha256(master, label, concat(clientRandom, serverRandom), length);

const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

/** RFC 7627: the master secret over the hash of the transcript up to ClientKeyExchange. */
export const extendedMasterSecret = (premaster: Uint8Array, transcript: readonly Uint8Array[]) =>
  prfSha256(premaster, 'extended master secret', sha256(concat(...transcript)), 48);

export type RecordKeys = {
  clientWriteKey: Uint8Array;
  serverWriteKey: Uint8Array;
  /** The implicit 4-byte part of each side's GCM nonce. */
  clientSalt: Uint8Array;
  serverSalt: Uint8Array;
};

export function recordKeys(
  master: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): RecordKeys {
  const block = prfSha256(master, 'key expansion', concat(serverRandom, clientRandom), 40);
  return {
    clientWriteKey: block.slice(0, 16),
    serverWriteKey: block.slice(16, 32),
    clientSalt: block.slice(32, 36),
    serverSalt: block.slice(36, 40),
  };
}

const EXPLICIT_NONCE = 8;
const TAG = 16;

/** The GCM additional data: epoch and sequence number, type, version, plaintext length. */
function additionalData(r: DtlsRecord, plaintextLength: number): Uint8Array {
  const aad = new Uint8Array(13);
  put16(aad, 0, r.epoch);
  aad.set(r.seq, 2);
  aad[8] = r.type;
  put16(aad, 9, r.version);
  put16(aad, 11, plaintextLength);
  return aad;
}

/** The plaintext of a protected record, or undefined when it does not authenticate under `key`. */
export function openRecord(key: Uint8Array, salt: Uint8Array, r: DtlsRecord): Uint8Array | undefined {
  if (r.fragment.length < EXPLICIT_NONCE + TAG) return undefined;
  const explicit = r.fragment.subarray(0, EXPLICIT_NONCE);
  const sealed = r.fragment.subarray(EXPLICIT_NONCE, r.fragment.length - TAG);
  const decipher = createDecipheriv('aes-128-gcm', key, concat(salt, explicit), { authTagLength: TAG });
  decipher.setAuthTag(r.fragment.subarray(r.fragment.length - TAG));
  decipher.setAAD(additionalData(r, sealed.length));
  try {
    return concat(decipher.update(sealed), decipher.final());
  } catch {
    return undefined;
  }
}

/** `r` with `plaintext` sealed under `key`, keeping its explicit nonce and header. */
export function sealRecord(
  key: Uint8Array,
  salt: Uint8Array,
  r: DtlsRecord,
  plaintext: Uint8Array,
): DtlsRecord {
  const explicit = r.fragment.subarray(0, EXPLICIT_NONCE);
  const cipher = createCipheriv('aes-128-gcm', key, concat(salt, explicit), { authTagLength: TAG });
  cipher.setAAD(additionalData(r, plaintext.length));
  const sealed = concat(cipher.update(plaintext), cipher.final());
  return { ...r, fragment: concat(explicit, sealed, cipher.getAuthTag()) };
}
