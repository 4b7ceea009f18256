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
// left, and the switch is done, the old key is deleted.
//
// Who is owed is settled by the switch, not when the rotation begins: a link whose trust
// decision was still writing its pin then (the peer pinned our old ID a moment before) is owed
// it as much as the peers listed at the start.

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
export type AckLink = {
  peerId?: string;
  phase: string;
  /** Our device ID when its session began: the ID the peer may have pinned. */
  readonly boundAs: string;
};

export type RotationAcksInit<L extends AckLink> = {
  timers: Timers;
  /** How often the announcement is repeated to linked peers that have not acked. */
  resendMs: number;
  log: Logger;
  security: Logger;
  store: Pick<PeerStore, 'get' | 'list'>;
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
  // Whether anyone was ever owed this rotation: what the old key's deletion is logged as.
  let owedAny = false;

  const switched = () => current !== undefined && init.ownId() === current.nextId;

  /** Writes the current state, or (`removed`, once nobody is owed) deletes it. */
  function persist(removed?: { id: string; owedAny: boolean }): Promise<void> {
    const state: PendingRotation | undefined = current && { ...current, pending: [...current.pending] };
    const run = writing.then(async () => {
      await init.save(state);
      if (removed !== undefined) {
        security.info(
          { event: 'identity.previous-removed', previous: removed.id },
          removed.owedAny
            ? `every pinned peer moved its pin off ${removed.id}: the old key is deleted`
            : `no pinned peer was owed the rotation off ${removed.id}: the old key is deleted`,
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
    // Until the switch, a link still deciding may pin the old ID: the old key must stay.
    if (current.pending.size > 0 || !switched()) {
      persist().catch(() => {});
      return;
    }
    timers.clear(timer);
    timer = undefined;
    const removed = { id: current.previous.deviceId, owedAny };
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
      // Before the switch, also whoever was pinned trusted since the caller took its list (a
      // link's trust decision finished meanwhile): every session up to the switch shows the old ID.
      if (!switched()) {
        for (const peer of store.list()) if (peer.state === 'trusted') current.pending.add(peer.id);
        if (current.pending.size > p.pending.length) persist().catch(() => {});
      }
      owedAny = current.pending.size > 0;
      if (owedAny) {
        tick();
        return;
      }
      // Nobody listed yet: kept until the switch, for a peer whose pin is being written now.
      if (!switched()) return;
      // A resumed file with nobody left: nothing to keep.
      current = undefined;
      await init.save(undefined);
    },
    /**
     * A link became trusted (`alive`: it is still up). If its session showed our old ID, its peer
     * may have pinned that: it is owed the rotation like the peers listed at the start.
     */
    trusted(l: L, alive: boolean): void {
      const id = l.peerId;
      if (!current || id === undefined || l.boundAs !== current.previous.deviceId) return;
      if (current.pending.has(id) || store.get(id)?.state !== 'trusted') return;
      current.pending.add(id);
      owedAny = true;
      log.info(
        { event: 'identity.rotation-owed', peer: id },
        `${store.get(id)?.name ?? shortId(id)} was pinned as the rotation began: it is told too`,
      );
      persist().catch(() => {});
      // Told at once on a link still up before the switch; otherwise before the next bind.
      timers.clear(timer);
      if (alive && !switched()) tick();
      else timer = timers.set(init.resendMs, tick);
    },
    /** The switch is done: no session shows the old ID any more; the old key may go once nobody is owed. */
    switched(): void {
      if (current?.pending.size === 0) settle();
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
