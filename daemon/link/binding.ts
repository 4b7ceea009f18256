import {
  createHash,
  createHmac,
  createPrivateKey,
  sign,
  timingSafeEqual,
  verify,
  X509Certificate,
} from 'node:crypto';

// Channel binding (RFC 9266 style). werift does not verify handshake signatures, so a peer
// holding a victim's certificate but not its key completes the handshake under the victim's
// fingerprint. Each side therefore signs this session's exporter value, both certificates and
// its role with its long-term key; the other side verifies with the key in the certificate the
// session presented. An impostor cannot sign: the exporter is unique to this session.

export const EXPORTER_LABEL = 'EXPORTER-hana-link-binding';
const CONTEXT = 'hana link binding v1';
const ENSEMBLE_CONTEXT = 'hana ensemble proof v1';

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

/** Proof of the ensemble secret bound to this session: useless to replay anywhere else. */
export function ensembleProof(secret: string, role: Role, exporter: Uint8Array): string {
  return createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(ENSEMBLE_CONTEXT), Buffer.of(role === 'client' ? 0 : 1), exporter]))
    .digest('base64');
}

export function checkEnsembleProof(
  secret: string,
  peerRole: Role,
  exporter: Uint8Array,
  proofB64: string | undefined,
): boolean {
  if (proofB64 === undefined) return false;
  const want = Buffer.from(ensembleProof(secret, peerRole, exporter), 'base64');
  const got = Buffer.from(proofB64, 'base64');
  return got.length === want.length && timingSafeEqual(got, want);
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
