import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { deviceIdFromCertDer } from '../../trust-store/device-id.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import { verifyRotation } from './binding.ts';
import type { RotateBody } from './wire.ts';

// Whether a peer's announced rotation may move its pin. A rotation is a self-vouch: the old key
// signs the next certificate, so it can only ever speak for the pin of the device that signed
// it. Anything the store already knows is someone else's (or was): moving onto it would rename
// another pin and free that pin's name for an impostor, or slip a held key change past the
// operator. Pure: the manager applies the verdict, and the store re-checks it in the write.

export const RotationRefusal = z.enum([
  /** The link is not trusted, or its pin is gone or no longer trusted. */
  'not-trusted',
  /** The announcement is not signed by the key of the certificate this session bound. */
  'bad-signature',
  /** The vouched-for bytes are not a certificate. */
  'not-a-certificate',
  /** The next certificate is this daemon's own. */
  'own-id',
  /** The next ID is pinned already, in any state (the peer's current ID included). */
  'pinned-id',
  /** The next ID is in a held key change, presented or pinned. */
  'held-id',
  /** The store changed between this verdict and the write (a second rotation, the operator). */
  'conflict',
]);
export type RotationRefusal = z.infer<typeof RotationRefusal>;

export type RotationVerdict =
  | { ok: true; oldId: string; newId: string }
  | { ok: false; reason: RotationRefusal; detail: string; oldId: string; newId?: string };

export type RotationInput = {
  /** The link passed the trust decision. */
  linkTrusted: boolean;
  /** The certificate this session bound: the only key whose rotation we would take. */
  oldCertDer: Uint8Array;
  body: RotateBody;
  ownId: string;
  store: Pick<PeerStore, 'get' | 'held'>;
};

const isCertificate = (der: Uint8Array) => {
  try {
    new X509Certificate(der);
    return true;
  } catch {
    return false;
  }
};

export function judgeRotation(input: RotationInput): RotationVerdict {
  const oldId = deviceIdFromCertDer(input.oldCertDer);
  const refuse = (reason: RotationRefusal, detail: string, newId?: string): RotationVerdict => ({
    ok: false,
    reason,
    detail,
    oldId,
    ...(newId !== undefined && { newId }),
  });
  const pinned = input.store.get(oldId);
  if (!input.linkTrusted || pinned?.state !== 'trusted') {
    return refuse('not-trusted', `${oldId} announced a rotation without a trusted pin`);
  }
  const newDer = new Uint8Array(Buffer.from(input.body.cert, 'base64'));
  if (!verifyRotation(input.body.sig, input.oldCertDer, newDer)) {
    return refuse('bad-signature', `${pinned.name} (${oldId}) sent a rotation not signed by its pinned key`);
  }
  if (!isCertificate(newDer)) {
    return refuse(
      'not-a-certificate',
      `${pinned.name} (${oldId}) vouched for bytes that are not a certificate`,
    );
  }
  const newId = deviceIdFromCertDer(newDer);
  const onto = `${pinned.name} (${oldId}) tried to rotate onto ${newId}`;
  if (newId === input.ownId) return refuse('own-id', `${onto}, this daemon's own ID`, newId);
  const other = input.store.get(newId);
  if (other !== undefined) {
    return refuse(
      'pinned-id',
      newId === oldId
        ? `${onto}, the ID it already has`
        : `${onto}, already pinned as ${JSON.stringify(other.name)} (${other.state})`,
      newId,
    );
  }
  if (input.store.held().some((h) => h.presentedId === newId || h.pinnedId === newId)) {
    return refuse('held-id', `${onto}, which is in a key change held for the operator`, newId);
  }
  return { ok: true, oldId, newId };
}
