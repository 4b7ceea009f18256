import { shortId } from '../../trust-store/device-id.ts';
import type { Identity } from '../../trust-store/identity.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import type { Logger } from '../log.ts';
import type { Timers } from '../timers.ts';
import type { LinkMessage, RotateAckBody } from './v1/wire.ts';

// This daemon's own rotation, told until every peer that pinned it has moved its pin. One
// announcement lost (a peer offline, a datagram dropped) must not leave that peer holding a key
// change for the operator, with the only key that could explain it gone: so the old key stays
// (trust-store/previous-identity.ts) and the announcement, signed by it, is repeated until each
// pinned trusted peer answers `rotate-ack`.
//
//  - Before the switch, over the links still bound with the old certificate: `rotate` with the
//    next certificate, every resendMs.
//  - After it, over sessions showing the next certificate: `rotate` with the old certificate,
//    sent before our bind to a peer still owed it, so it can move its pin before judging our new
//    ID; and every resendMs on a trusted link to such a peer (it moved, but its ack was lost).
//
// A peer the operator forgets or blocks (or no longer trusts) is owed nothing. When none is
// left the old key is deleted.

export type PendingRotation = {
  /** The identity rotated away from: its key made `sig`, and its certificate rides along later. */
  previous: Identity;
  nextId: string;
  nextCertDer: Uint8Array;
  /** The old key's signature over (previous, next) (daemon/link/binding.ts signRotation). */
  sig: string;
  rotatedAt: string;
  pending: readonly string[];
};

/** What is shown in `hana status`. */
export type RotationStatus = {
  previous: string;
  next: string;
  since: string;
  /** Peers that pinned the previous ID and have not moved their pin yet. */
  pending: { id: string; name: string | null }[];
};

/** What this needs of a link; the manager's Link satisfies it. */
export type AckLink = { peerId?: string; phase: string };

export type RotationAcksInit<L extends AckLink> = {
  timers: Timers;
  /** How often the announcement is repeated to linked peers that have not acked. */
  resendMs: number;
  log: Logger;
  security: Logger;
  store: Pick<PeerStore, 'get'>;
  /** This daemon's current device ID: tells which side of the switch we are on. */
  ownId: () => string;
  links: () => L[];
  send: (l: L, m: LinkMessage) => void;
  /** Writes the state (the old key and who still owes an ack), or deletes it (undefined). */
  save: (p: PendingRotation | undefined) => Promise<void>;
};

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

export function createRotationAcks<L extends AckLink>(init: RotationAcksInit<L>) {
  const { timers, log, security, store } = init;
  let current: (Omit<PendingRotation, 'pending'> & { pending: Set<string> }) | undefined;
  let timer: unknown;
  // Writes run one at a time, in order: the last state asked for is the one on disk.
  let writing: Promise<void> = Promise.resolve();
  const waiters = new Set<() => void>();

  const switched = () => current !== undefined && init.ownId() === current.nextId;

  /** Writes the current state, or (`removed`, the old ID, once nobody is owed) deletes it. */
  function persist(removed?: string): Promise<void> {
    const state: PendingRotation | undefined = current && { ...current, pending: [...current.pending] };
    const run = writing.then(async () => {
      await init.save(state);
      if (removed !== undefined) {
        security.info(
          { event: 'identity.previous-removed', previous: removed },
          `every pinned peer moved its pin off ${removed}: the old key is deleted`,
        );
      }
    });
    writing = run.catch((err) => {
      log.error({ err, event: 'identity.previous-save-failed' }, 'could not update identity.previous.json');
    });
    return run;
  }

  function announcement(): LinkMessage {
    const c = current!;
    // The links before the switch show the old certificate: tell them the next one. After it,
    // the session shows the next one and the peer needs the certificate it pinned to check it.
    return switched()
      ? { type: 'rotate', body: { from: b64(c.previous.certDer), sig: c.sig } }
      : { type: 'rotate', body: { cert: b64(c.nextCertDer), sig: c.sig } };
  }

  /** Drops the peers no longer trusted here: nothing they say about our old ID matters now. */
  function prune(): void {
    if (!current) return;
    let changed = false;
    for (const id of [...current.pending]) {
      const p = store.get(id);
      if (p?.state === 'trusted') continue;
      current.pending.delete(id);
      changed = true;
      log.info(
        { event: 'identity.rotation-ack-dropped', peer: id, state: p?.state ?? 'forgotten' },
        `no longer waiting for ${p?.name ?? shortId(id)} to move its pin: it is ${p?.state ?? 'forgotten'}`,
      );
    }
    if (changed) settle();
  }

  function settle(): void {
    for (const w of [...waiters]) w();
    if (!current) return;
    if (current.pending.size > 0) {
      persist().catch(() => {});
      return;
    }
    timers.clear(timer);
    timer = undefined;
    const removed = current.previous.deviceId;
    current = undefined;
    persist(removed).catch(() => {});
  }

  function tick(): void {
    timer = undefined;
    if (!current) return;
    prune();
    if (!current) return;
    const m = announcement();
    for (const l of init.links()) {
      if (l.phase === 'trusted' && l.peerId !== undefined && current.pending.has(l.peerId)) init.send(l, m);
    }
    timer = timers.set(init.resendMs, tick);
  }

  return {
    /**
     * A rotation begins (or resumes after a restart). The caller has saved it already: the old
     * key must be on disk before the new identity is, and that before anyone hears of it.
     */
    async start(p: PendingRotation): Promise<void> {
      timers.clear(timer);
      current = { ...p, pending: new Set(p.pending) };
      if (current.pending.size > 0) {
        tick();
        return;
      }
      // Nobody pinned it: nothing to keep (a resumed file with nobody left goes too).
      current = undefined;
      await init.save(undefined);
    },
    /** Resolves once none of `ids` is owed an ack any more, or after `ms`. */
    settled(ids: readonly string[], ms: number): Promise<void> {
      return new Promise((resolve) => {
        let t: unknown;
        const check = () => {
          if (current && ids.some((id) => current!.pending.has(id))) return;
          waiters.delete(check);
          timers.clear(t);
          resolve();
        };
        waiters.add(check);
        t = timers.set(ms, () => {
          waiters.delete(check);
          resolve();
        });
        check();
      });
    },
    /** A new session to `peerId`: what to send before our bind, if this peer is owed the rotation. */
    greeting(peerId: string): LinkMessage | undefined {
      return switched() && current!.pending.has(peerId) ? announcement() : undefined;
    },
    /** A peer's ack, on a link whose bind proved its ID. Anything else is ignored: it is harmless. */
    acked(l: L, body: RotateAckBody): void {
      const id = l.peerId;
      if (!current || id === undefined || !current.pending.has(id)) return;
      if (body.from !== current.previous.deviceId || body.to !== current.nextId) return;
      current.pending.delete(id);
      log.info(
        { event: 'identity.rotation-acked', peer: id, left: current.pending.size },
        `${store.get(id)?.name ?? shortId(id)} moved its pin to ${shortId(current.nextId)} (${current.pending.size} to go)`,
      );
      settle();
    },
    /** A peer we owe an ack to rotated too: it is owed under its new ID. */
    renamed(oldId: string, newId: string): void {
      if (!current?.pending.delete(oldId)) return;
      current.pending.add(newId);
      persist().catch(() => {});
    },
    /** The operator forgot or blocked a peer: it is owed nothing. */
    prune,
    pending: () => (current ? [...current.pending] : []),
    status(): RotationStatus | null {
      if (!current) return null;
      return {
        previous: current.previous.deviceId,
        next: current.nextId,
        since: current.rotatedAt,
        pending: [...current.pending].map((id) => ({ id, name: store.get(id)?.name ?? null })),
      };
    },
    /** Stops announcing (shutdown); the state stays on disk for the next start. */
    close(): Promise<void> {
      timers.clear(timer);
      timer = undefined;
      current = undefined;
      for (const w of [...waiters]) w();
      return writing;
    },
  };
}

export type RotationAcks<L extends AckLink> = ReturnType<typeof createRotationAcks<L>>;
