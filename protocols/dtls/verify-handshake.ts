import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  timingSafeEqual,
  verify,
  X509Certificate,
} from 'node:crypto';
import { extendedMasterSecret, finishedVerifyData, sha256 } from './tls-prf.ts';
import {
  CURVE_P256,
  CURVE_X25519,
  EXT_EXTENDED_MASTER_SECRET,
  type HandshakeMessage,
  parseCertificate,
  parseCertificateVerify,
  parseClientHello,
  parseClientKeyExchange,
  parseHandshake,
  parseServerHello,
  parseServerKeyExchange,
  SCHEME_ECDSA_P256_SHA256,
  HandshakeType as T,
} from './v1/handshake.ts';

// werift completes a DTLS handshake without checking the ServerKeyExchange signature, the
// CertificateVerify, either Finished, the peer's key share or that extended master secret was
// negotiated (DESIGN.md §1). A relay that strips EMS and swaps both key shares for the zero
// point then shares one master secret with both ends. This module redoes every one of those
// checks from the transcript werift kept, recomputes the premaster and master secret itself,
// and requires that what werift actually uses (certificate, key share, randoms, master secret)
// is what the transcript proves. Nothing flows on a session until this says ok.

export const HANDSHAKE_CHECKS = [
  'transcript',
  'extended-master-secret',
  'certificate',
  'key-share',
  'server-signature',
  'client-signature',
  'master-secret',
  'finished',
] as const;
export type HandshakeCheck = (typeof HANDSHAKE_CHECKS)[number];

export type HandshakeEvidence = {
  readonly role: 'client' | 'server';
  /** Every handshake message werift hashed, in transcript order. */
  readonly transcript: readonly Uint8Array[];
  /** The first Finished the peer sent (the client's is also in a server's transcript). */
  readonly peerFinished: Uint8Array | undefined;
  readonly localRandom: Uint8Array | undefined;
  readonly remoteRandom: Uint8Array | undefined;
  readonly masterSecret: Uint8Array | undefined;
  readonly curve: number | undefined;
  readonly localPrivateKey: Uint8Array | undefined;
  readonly localPublicKey: Uint8Array | undefined;
  readonly remotePublicKey: Uint8Array | undefined;
  readonly remoteCertDer: Uint8Array | undefined;
  /** werift's own flag: the peer's hello carried extended_master_secret. */
  readonly remoteOfferedEms: boolean;
};

export type HandshakeVerdict = { ok: true } | { ok: false; check: HandshakeCheck; detail: string };

/** Mutual-auth ECDHE flights, as both werift ends build them, up to and including the client's Finished. */
const EXPECTED = [
  T.clientHello,
  T.serverHello,
  T.certificate,
  T.serverKeyExchange,
  T.certificateRequest,
  T.serverHelloDone,
  T.certificate,
  T.clientKeyExchange,
  T.certificateVerify,
  T.finished,
];
const CKE_AT = 7;
const CV_AT = 8;
const CLIENT_FINISHED_AT = 9;

const fail = (check: HandshakeCheck, detail: string): HandshakeVerdict => ({ ok: false, check, detail });
const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a !== undefined && b !== undefined && a.length === b.length && timingSafeEqual(a, b);
const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** The ECDHE shared secret, or why the peer's share is unusable (RFC 7748 §6.1, RFC 8422 §5.11). */
export function ecdhe(
  curve: number,
  localPrivate: Uint8Array,
  localPublic: Uint8Array,
  remotePublic: Uint8Array,
): { ok: true; secret: Buffer } | { ok: false; detail: string } {
  let secret: Buffer;
  try {
    if (curve === CURVE_X25519) {
      if (remotePublic.length !== 32)
        return { ok: false, detail: `X25519 share of ${remotePublic.length} bytes` };
      secret = diffieHellman({
        privateKey: createPrivateKey({
          key: { kty: 'OKP', crv: 'X25519', d: b64u(localPrivate), x: b64u(localPublic) },
          format: 'jwk',
        }),
        publicKey: createPublicKey({
          key: { kty: 'OKP', crv: 'X25519', x: b64u(remotePublic) },
          format: 'jwk',
        }),
      });
    } else if (curve === CURVE_P256) {
      if (remotePublic.length !== 65 || remotePublic[0] !== 4)
        return { ok: false, detail: 'P-256 share is not an uncompressed point' };
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(Buffer.from(localPrivate));
      secret = ecdh.computeSecret(Buffer.from(remotePublic)); // throws for a point off the curve
    } else {
      return { ok: false, detail: `unsupported curve ${curve}` };
    }
  } catch {
    return { ok: false, detail: 'the peer’s key share is not a valid point (or a small-order one)' };
  }
  if (secret.every((x) => x === 0))
    return { ok: false, detail: 'the shared secret is all zero: a small-order key share' };
  return { ok: true, secret };
}

function verifyEcdsa(certDer: Uint8Array, data: readonly Uint8Array[], sig: Uint8Array): boolean {
  try {
    const key = new X509Certificate(Buffer.from(certDer)).publicKey;
    if (key.asymmetricKeyType !== 'ec') return false;
    return verify('sha256', Buffer.concat(data), key, sig);
  } catch {
    return false;
  }
}

/**
 * `complete`: the whole handshake, at the moment werift says it is connected. `partial`: what
 * has arrived so far (a prefix of the flights), so a tampered handshake is refused by name as
 * soon as the evidence is there; many never complete at all, since a relay that changed the
 * transcript leaves the two ends with different keys.
 */
export function verifyHandshake(
  e: HandshakeEvidence,
  stage: 'complete' | 'partial' = 'complete',
  /** Partial only: this many leading messages passed an earlier partial check; their signature and share checks are not redone. */
  checkedBefore = 0,
): HandshakeVerdict {
  const complete = stage === 'complete';
  const parsed = e.transcript.map(parseHandshake);
  if (parsed.some((m) => m === undefined))
    return fail('transcript', 'a handshake message is malformed or fragmented');
  const msgs = parsed as HandshakeMessage[];
  const types = msgs.map((m) => m.type);
  const ownServerFinished =
    e.role === 'server' && types.length === EXPECTED.length + 1 && types.at(-1) === T.finished;
  const expected = ownServerFinished ? [...EXPECTED, T.finished] : EXPECTED;
  const prefix = types.length <= expected.length && types.every((t, i) => t === expected[i]);
  if (!prefix || (complete && types.length !== expected.length))
    return fail('transcript', `unexpected handshake messages [${types.join(',')}]`);
  const bytes = msgs.map((m) => m.bytes);
  const has = (n: number) => msgs.length > n;
  const ok: HandshakeVerdict = { ok: true };

  if (!has(0)) return ok;
  const ch = parseClientHello(msgs[0]!.body);
  if (!ch) return fail('transcript', 'the ClientHello is malformed');
  if (!ch.extensions.includes(EXT_EXTENDED_MASTER_SECRET))
    return fail(
      'extended-master-secret',
      'the ClientHello lacks extended_master_secret (RFC 7627), stripped on the way?',
    );
  if (!has(1)) return ok;
  const sh = parseServerHello(msgs[1]!.body);
  if (!sh) return fail('transcript', 'the ServerHello is malformed');
  if (!sh.extensions.includes(EXT_EXTENDED_MASTER_SECRET))
    return fail(
      'extended-master-secret',
      'the ServerHello lacks extended_master_secret (RFC 7627), stripped on the way?',
    );
  if (complete && !e.remoteOfferedEms)
    return fail('extended-master-secret', 'the session was keyed without extended master secret');
  const [clientRandom, serverRandom] =
    e.role === 'client' ? [e.localRandom, e.remoteRandom] : [e.remoteRandom, e.localRandom];
  if (complete && (!same(clientRandom, ch.random) || !same(serverRandom, sh.random)))
    return fail('transcript', 'the randoms in use are not the ones in the hellos');

  if (!has(3)) return ok;
  const serverCert = parseCertificate(msgs[2]!.body);
  const ske = parseServerKeyExchange(msgs[3]!.body);
  if (!serverCert) return fail('certificate', 'the server’s Certificate message is malformed or empty');
  if (!ske) return fail('key-share', 'the ServerKeyExchange is malformed');
  if (e.role === 'client' && (complete || checkedBefore <= 3)) {
    if (ske.scheme !== SCHEME_ECDSA_P256_SHA256)
      return fail('server-signature', `ServerKeyExchange signed with scheme 0x${ske.scheme.toString(16)}`);
    if (!verifyEcdsa(serverCert, [ch.random, sh.random, ske.params], ske.signature))
      return fail(
        'server-signature',
        'the ServerKeyExchange signature does not verify with the server’s certificate',
      );
    if (!complete && e.localPrivateKey && e.localPublicKey) {
      const shared = ecdhe(ske.curve, e.localPrivateKey, e.localPublicKey, ske.point);
      if (!shared.ok) return fail('key-share', shared.detail);
    }
  }

  if (!has(CV_AT)) return ok;
  const clientCert = parseCertificate(msgs[6]!.body);
  const ckePoint = parseClientKeyExchange(msgs[CKE_AT]!.body);
  if (!clientCert) return fail('certificate', 'the client’s Certificate message is malformed or empty');
  if (!ckePoint) return fail('key-share', 'the ClientKeyExchange is malformed');
  if (e.role === 'server' && (complete || checkedBefore <= CV_AT)) {
    const cv = parseCertificateVerify(msgs[CV_AT]!.body);
    if (!cv || cv.scheme !== SCHEME_ECDSA_P256_SHA256)
      return fail('client-signature', 'CertificateVerify is malformed or uses another scheme');
    if (!verifyEcdsa(clientCert, bytes.slice(0, CV_AT), cv.signature))
      return fail('client-signature', 'CertificateVerify does not verify with the client’s certificate');
    if (!complete && e.localPrivateKey && e.localPublicKey) {
      const shared = ecdhe(ske.curve, e.localPrivateKey, e.localPublicKey, ckePoint);
      if (!shared.ok) return fail('key-share', shared.detail);
    }
  }
  if (!complete) return ok;

  if (!same(e.remoteCertDer, e.role === 'client' ? serverCert : clientCert))
    return fail('certificate', 'the certificate in use is not the one in the transcript');
  const [localShare, remoteShare] = e.role === 'client' ? [ckePoint, ske.point] : [ske.point, ckePoint];
  if (e.curve !== ske.curve || !same(e.localPublicKey, localShare) || !same(e.remotePublicKey, remoteShare))
    return fail('key-share', 'the key shares in use are not the ones in the transcript');

  if (!e.localPrivateKey || !e.localPublicKey || !e.remotePublicKey)
    return fail('key-share', 'the session has no ephemeral keys');
  const shared = ecdhe(ske.curve, e.localPrivateKey, e.localPublicKey, e.remotePublicKey);
  if (!shared.ok) return fail('key-share', shared.detail);
  const master = extendedMasterSecret(shared.secret, sha256(bytes.slice(0, CKE_AT + 1)));
  if (!same(e.masterSecret, master))
    return fail(
      'master-secret',
      'the session keys are not derived from this transcript with extended master secret',
    );

  const peerFinished = e.peerFinished && parseHandshake(e.peerFinished);
  if (!peerFinished || peerFinished.type !== T.finished) return fail('finished', 'no Finished from the peer');
  if (e.role === 'server' && !same(peerFinished.bytes, bytes[CLIENT_FINISHED_AT]))
    return fail('finished', 'the client’s Finished in the transcript is not the one received');
  const want =
    e.role === 'client'
      ? finishedVerifyData(master, 'server', sha256(bytes.slice(0, CLIENT_FINISHED_AT + 1)))
      : finishedVerifyData(master, 'client', sha256(bytes.slice(0, CLIENT_FINISHED_AT)));
  if (!same(peerFinished.body, want))
    return fail('finished', 'the peer’s Finished does not match the transcript');
  return { ok: true };
}
