import type { TrustStoreError } from '../../trust-store/errors.ts';
import type { Identity } from '../../trust-store/identity.ts';
import type { Peer, PeerStore } from '../../trust-store/peers.ts';
import { createRejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import { judgeRotation, judgeRotationFrom, type RotationRefusal, type RotationVerdict } from './rotation.ts';
import type { LinkMessage, RotateFromBody } from './v1/wire.ts';

// The receiving side of a peer's identity rotation: judge it (daemon/link/rotation.ts), move
// the pin in one write, and acknowledge it so the rotating peer can drop its old key.

/** What the receiver needs of a link; the manager's Link satisfies it. */
export type RotatingLink = {
  phase: string;
  readonly session: {
    readonly peerCertDer: Uint8Array;
    readonly remote: { address: string; port: number };
    violation(detail: string): void;
  };
};

export type RotationReceiverInit<L extends RotatingLink> = {
  identity: () => Identity;
  store: PeerStore;
  security: Logger;
  now: () => number;
  send: (l: L, m: LinkMessage) => void;
  /** The link is still up (an ack is pointless on a dropped one). */
  alive: (l: L) => boolean;
  /** A pin moved from an old to a new ID: rotation acks owed by the old one follow it. */
  renamed: (oldId: string, newId: string) => void;
  /** Promote every pending link of this (now trusted) device. */
  promote: (id: string) => void;
};

export function createRotationReceiver<L extends RotatingLink>(init: RotationReceiverInit<L>) {
  const { store, security, now, send } = init;
  const addr = (r: { address: string; port: number }) => `${r.address}:${r.port}`;
  // Every refused rotation is a security event: counted by reason, one line per (reason,
  // address) per 10 s, and a violation of the session, so a peer that keeps trying is banned.
  const rotationRefusals = createRejections({
    channel: 'rotation',
    log: security,
    security,
    intervalMs: 10_000,
    now,
  });
  function refuseRotation(l: L, reason: RotationRefusal, detail: string, fields: object): void {
    l.session.violation(`rotation refused: ${reason}`);
    rotationRefusals.reject(reason, l.session.remote.address, detail, {
      remote: addr(l.session.remote),
      ...fields,
    });
  }

  /** A trusted peer announces its next identity, signed by the key we pinned: move the pin. */
  async function onRotate(l: L, body: Extract<LinkMessage, { type: 'rotate' }>['body']): Promise<void> {
    if ('from' in body) return onRotateFrom(l, body);
    const v = judgeRotation({
      linkTrusted: l.phase === 'trusted',
      oldCertDer: l.session.peerCertDer,
      body,
      ownId: init.identity().deviceId,
      store,
    });
    if (!v.ok) return refuseRotation(l, v.reason, v.detail, rotationIds(v));
    await moveAndAck(l, v);
  }

  /**
   * The rotation of a peer that this session already shows under its next certificate: before
   * the trust decision (from admit: the bind proved the new key), or on a link that is up. Only
   * bad faith is a violation here: a peer whose pin we lost or never trusted gets a log line.
   */
  async function onRotateFrom(l: L, body: RotateFromBody): Promise<void> {
    const v = judgeRotationFrom({
      sessionCertDer: l.session.peerCertDer,
      body,
      ownId: init.identity().deviceId,
      store,
    });
    if (!v.ok) {
      if (v.reason === 'bad-signature' || v.reason === 'not-a-certificate')
        return refuseRotation(l, v.reason, v.detail, rotationIds(v));
      rotationRefusals.reject(v.reason, l.session.remote.address, v.detail, {
        remote: addr(l.session.remote),
        ...rotationIds(v),
      });
      return;
    }
    if (await moveAndAck(l, v)) init.promote(v.newId);
  }

  const rotationIds = (v: RotationVerdict) => ({
    peer: v.oldId,
    ...(v.newId !== undefined && { next: v.newId }),
  });

  /** Applies an accepted rotation (unless it was applied before) and acks it; true once moved. */
  async function moveAndAck(l: L, v: Extract<RotationVerdict, { ok: true }>): Promise<boolean> {
    const ids = rotationIds(v);
    if (v.already) {
      if (init.alive(l)) send(l, { type: 'rotate-ack', body: { from: v.oldId, to: v.newId } });
      return false;
    }
    let moved: Peer;
    try {
      // One write: the pin is never gone, nor its name free, between forgetting and re-pinning.
      moved = await store.rotate(v.oldId, v.newId);
    } catch (err) {
      const code = (err as TrustStoreError).code;
      if (code !== 'known-peer' && code !== 'unknown-peer' && code !== 'invalid-peer') throw err;
      // The same rotation, heard at once on the old link and before a new bind, was moved by
      // the other delivery between our verdict and this write: done, so ack it like a resend.
      if (store.get(v.oldId) === undefined && store.get(v.newId)?.state === 'trusted') {
        if (init.alive(l)) send(l, { type: 'rotate-ack', body: { from: v.oldId, to: v.newId } });
        return false;
      }
      refuseRotation(
        l,
        'conflict',
        `${v.oldId} could not move to ${v.newId}: ${(err as Error).message}`,
        ids,
      );
      return false;
    }
    security.info(
      { event: 'peer.rotated', ...ids, name: moved.name, state: moved.state, role: moved.role },
      `${moved.name} moved to a new identity ${v.newId}, signed by its old key`,
    );
    // Said once the pin is on disk: the peer deletes its old key when everyone has said it.
    if (init.alive(l)) send(l, { type: 'rotate-ack', body: { from: v.oldId, to: v.newId } });
    init.renamed(v.oldId, v.newId);
    return true;
  }

  return { onRotate, onRotateFrom, refused: () => rotationRefusals.counts() };
}
