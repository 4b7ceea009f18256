import { createHash, createPrivateKey, sign, verify, X509Certificate } from 'node:crypto';
import {
  ENSEMBLE_EXPORTER_BYTES,
  ENSEMBLE_EXPORTER_LABEL,
  ensembleContext,
} from '../../trust-store/pairing/context.ts';
import { cpaceStart } from '../../trust-store/pairing/cpace.ts';

// Channel binding (RFC 9266 style). werift does not verify handshake signatures, so a peer
// holding a victim's certificate but not its key completes the handshake under the victim's
// fingerprint. Each side therefore signs this session's exporter value, both certificates and
// its role with its long-term key; the other side verifies with the key in the certificate the
// session presented. An impostor cannot sign: the exporter is unique to this session.

export const EXPORTER_LABEL = 'EXPORTER-hana-link-binding';
const CONTEXT = 'hana link binding v1';

export type Role = 'client' | 'server';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

function transcript(
  role: Role,
  exporter: Uint8Array,
  signerCertDer: Uint8Array,
  otherCertDer: Uint8Array,
): Buffer {
  return Buffer.concat([
    Buffer.from(CONTEXT),
    Buffer.of(role === 'client' ? 0 : 1),
    exporter,
    sha256(signerCertDer),
    sha256(otherCertDer),
  ]);
}

export function signBinding(
  keyPem: string,
  role: Role,
  exporter: Uint8Array,
  ownCertDer: Uint8Array,
  peerCertDer: Uint8Array,
): string {
  return sign(
    'sha256',
    transcript(role, exporter, ownCertDer, peerCertDer),
    createPrivateKey(keyPem),
  ).toString('base64');
}

/** True when `sig` was made by the key of `peerCertDer` for this session and the peer's role. */
export function verifyBinding(
  sigB64: string,
  peerRole: Role,
  exporter: Uint8Array,
  peerCertDer: Uint8Array,
  ownCertDer: Uint8Array,
): boolean {
  try {
    const key = new X509Certificate(peerCertDer).publicKey;
    return verify(
      'sha256',
      transcript(peerRole, exporter, peerCertDer, ownCertDer),
      key,
      Buffer.from(sigB64, 'base64'),
    );
  } catch {
    return false;
  }
}

// The ensemble secret is proven with CPace (trust-store/pairing/cpace.ts), PRS = the secret.
// An HMAC of the secret over public values would let anyone who completes one handshake test
// guesses offline; a CPace share is a uniformly random element, and a tag can be checked only
// with the ephemeral scalar of the run it answers, so each handshake tests one guess at most.
// The DTLS client is the initiator, the server the responder; CI names both device IDs with
// those roles under "hana ensemble v1", sid is this session's exporter under its own label.

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

export type EnsembleRun = {
  /** Our CPace share (base64), sent in our bind. */
  readonly share: string;
  /**
   * The peer's share arrived: our key-confirmation tag (base64) to send, or null for a share
   * that is not a valid element. Call once: the scalar is erased.
   */
  answer(peerShare: string): string | null;
  /** The peer's tag: true only if it ran CPace with the same secret on this session. One call. */
  check(peerTag: string): boolean;
};

export function startEnsembleRun(o: {
  secret: string;
  role: Role;
  session: { exporter(label: string, length: number): Uint8Array };
  ownId: string;
  peerId: string;
}): EnsembleRun {
  const [initiatorId, responderId] = o.role === 'client' ? [o.ownId, o.peerId] : [o.peerId, o.ownId];
  const run = cpaceStart({
    prs: new TextEncoder().encode(o.secret),
    ...ensembleContext({
      exporter: o.session.exporter(ENSEMBLE_EXPORTER_LABEL, ENSEMBLE_EXPORTER_BYTES),
      initiatorId,
      responderId,
    }),
    role: o.role === 'client' ? 'initiator' : 'responder',
  });
  let checkPeerTag: ((tag: Uint8Array) => boolean) | undefined;
  return {
    share: b64(run.share),
    answer(peerShare) {
      const fin = run.finish(unb64(peerShare));
      if (!fin.ok) return null;
      checkPeerTag = fin.checkPeerTag;
      return b64(fin.tag);
    },
    check(peerTag) {
      const once = checkPeerTag;
      checkPeerTag = undefined;
      return once?.(unb64(peerTag)) ?? false;
    },
  };
}

/** A non-secret tag of the ensemble name for mDNS TXT records (scopes discovery only). */
export function ensembleTag(name: string): string {
  return createHash('sha256').update(`hana ensemble tag v1\u0000${name}`).digest('base64url').slice(0, 12);
}

const ROTATE_CONTEXT = 'hana identity rotation v1';

function rotation(newCertDer: Uint8Array, oldCertDer: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(ROTATE_CONTEXT), sha256(oldCertDer), sha256(newCertDer)]);
}

/** The old key vouches for the new certificate, so peers can move their pin without asking. */
export function signRotation(oldKeyPem: string, oldCertDer: Uint8Array, newCertDer: Uint8Array): string {
  return sign('sha256', rotation(newCertDer, oldCertDer), createPrivateKey(oldKeyPem)).toString('base64');
}

export function verifyRotation(sigB64: string, oldCertDer: Uint8Array, newCertDer: Uint8Array): boolean {
  try {
    const key = new X509Certificate(oldCertDer).publicKey;
    return verify('sha256', rotation(newCertDer, oldCertDer), key, Buffer.from(sigB64, 'base64'));
  } catch {
    return false;
  }
}
