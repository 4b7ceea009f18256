import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { deviceIdFromCertDer } from '../../trust-store/device-id.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import { verifyRotation } from './binding.ts';
import type { RotateBody, RotateFromBody } from './v1/wire.ts';

// Whether a peer's announced rotation may move its pin. A rotation is a self-vouch: the old key
// signs the next certificate, so it can only ever speak for the pin of the device that signed
// it. Anything the store already knows is someone else's (or was): moving onto it would rename
// another pin and free that pin's name for an impostor, or slip a held key change past the
// operator. Pure: the manager applies the verdict, and the store re-checks it in the write.
//
// The same rotation reaches a peer two ways: over a link bound with the old certificate (the
// body carries the next one), or, for a peer that missed that, over a new session whose bind
// proved the next certificate (the body carries the old one, whose hash must be the pin). The
// signature is the old key's over (old, next) either way, so the rules are the same.

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
  /**
   * The next ID is in a held key change, presented or pinned. Not the change this rotation
   * explains (the next ID presented under the old one's name): that one it resolves.
   */
  'held-id',
  /** The store changed between this verdict and the write (a second rotation, the operator). */
  'conflict',
]);
export type RotationRefusal = z.infer<typeof RotationRefusal>;

export type RotationVerdict =
  /**
   * `already`: the pin moved before (a resend whose ack was lost): nothing to write, ack again.
   * Answering it costs nothing: an ack only lets the peer stop announcing.
   */
  | { ok: true; oldId: string; newId: string; already?: true }
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

/** The rotation told over the old link: the session is the old certificate, the body the next. */
export function judgeRotation(input: RotationInput): RotationVerdict {
  return judgeMove({
    linkTrusted: input.linkTrusted,
    oldCertDer: input.oldCertDer,
    newDer: new Uint8Array(Buffer.from(input.body.cert, 'base64')),
    sig: input.body.sig,
    ownId: input.ownId,
    store: input.store,
  });
}

export type RotationFromInput = {
  /** The certificate this session bound (its key proven by the bind): the next identity. */
  sessionCertDer: Uint8Array;
  body: RotateFromBody;
  ownId: string;
  store: Pick<PeerStore, 'get' | 'held'>;
};

/**
 * The rotation told over a session with the new certificate, to a peer that missed it. Called
 * only once the bind proved the session's key, so the one question left is the link's trust
 * question with the old pin: did the key the pin names vouch for this certificate?
 */
export function judgeRotationFrom(input: RotationFromInput): RotationVerdict {
  return judgeMove({
    linkTrusted: true,
    oldCertDer: new Uint8Array(Buffer.from(input.body.from, 'base64')),
    newDer: input.sessionCertDer,
    sig: input.body.sig,
    ownId: input.ownId,
    store: input.store,
  });
}

function judgeMove(input: {
  linkTrusted: boolean;
  oldCertDer: Uint8Array;
  newDer: Uint8Array;
  sig: string;
  ownId: string;
  store: Pick<PeerStore, 'get' | 'held'>;
}): RotationVerdict {
  const oldId = deviceIdFromCertDer(input.oldCertDer);
  const newDer = input.newDer;
  const refuse = (reason: RotationRefusal, detail: string, newId?: string): RotationVerdict => ({
    ok: false,
    reason,
    detail,
    oldId,
    ...(newId !== undefined && { newId }),
  });
  const pinned = input.store.get(oldId);
  if (!input.linkTrusted || pinned?.state !== 'trusted') {
    // The same announcement again after the pin moved: the old ID is gone and the one it vouched
    // for is trusted. Only the signature makes it ours to answer.
    if (
      input.linkTrusted &&
      pinned === undefined &&
      verifyRotation(input.sig, input.oldCertDer, newDer) &&
      isCertificate(newDer)
    ) {
      const newId = deviceIdFromCertDer(newDer);
      if (input.store.get(newId)?.state === 'trusted') return { ok: true, oldId, newId, already: true };
    }
    return refuse('not-trusted', `${oldId} announced a rotation without a trusted pin`);
  }
  if (!verifyRotation(input.sig, input.oldCertDer, newDer)) {
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
  const explained = (h: { presentedId: string; pinnedId: string }) =>
    h.presentedId === newId && h.pinnedId === oldId;
  if (input.store.held().some((h) => (h.presentedId === newId || h.pinnedId === newId) && !explained(h))) {
    return refuse('held-id', `${onto}, which is in a key change held for the operator`, newId);
  }
  return { ok: true, oldId, newId };
}
