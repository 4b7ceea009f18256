import type { DtlsSession } from '../../protocols/dtls/endpoint.ts';
import type { Remote } from '../../protocols/osc/udp.ts';
import { deviceIdFromCertDer, shortId } from '../../trust-store/device-id.ts';
import type { Identity } from '../../trust-store/identity.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import { confirmCode, decide } from '../../trust-store/policy.ts';
import type { LinkConfig } from '../config/link-schema.ts';
import { createRejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import type { ReasonCode } from '../reasons.ts';
import { realTimers, type Timers } from '../timers.ts';
import { type EnsembleRun, EXPORTER_LABEL, type Role, signBinding, startEnsembleRun } from './binding.ts';
import { createDialer } from './dialer.ts';
import { createIntroductions } from './introductions.ts';
import { createLiveness } from './liveness.ts';
import { createPairing, type JoinResult, type PairRole } from './pairing.ts';
import { createRotationAcks, type PendingRotation } from './rotation-acks.ts';
import { createRotationReceiver } from './rotation-receive.ts';
import {
  type BindBody,
  decodeLink,
  encodeLink,
  LINK_VERSION,
  type LinkMessage,
  type PairMessage,
  type RotateFromBody,
  SYNC_OF_LINK,
} from './v1/wire.ts';
import { judgeBind } from './verify.ts';

// Links to other daemons: every DTLS session must bind (prove its key over this session) and
// pass the one trust decision before anything else flows; then heartbeats keep it honest.

export type LinkPhase = 'binding' | 'pending' | 'trusted';

export type Link = {
  readonly session: DtlsSession;
  phase: LinkPhase;
  peerId?: string;
  name?: string;
  code?: string;
  rttMs?: number;
  lastHeard: number;
  /** The one pending timer of this link (bind timeout, then the heartbeat), re-armed, never piled up. */
  timer?: unknown;
  exporter: Uint8Array;
  /** A bind arrived (even if still being checked): a second one is a violation. */
  bound?: boolean;
  beating?: boolean;
  /** Sync messages that arrived before this side trusted the link, replayed once it does. */
  early?: Uint8Array[];
  /** Nothing heard for livenessMs: shown offline, kept until dropAfterMs. */
  silent?: boolean;
  /** The peer said it holds an open pairing code. */
  offersPairing?: boolean;
  /** It did at least once (the code may since be used or burned). */
  offeredPairing?: boolean;
  /**
   * An ensemble secret is set: our CPace run on this session, then (once the peer's share is
   * answered) its bind, held until its tag proves the secret.
   */
  ensemble?: { run: EnsembleRun; bind?: BindBody };
  /** A peer's rotation told before its bind (it missed it on the old link), judged after the bind. */
  rotateFrom?: RotateFromBody;
  /** Our device ID when the session began: the certificate the peer saw, and may pin. */
  readonly boundAs: string;
};

export type PeerView = {
  id: string;
  name: string;
  address: string | null;
  state: 'linked' | 'pending' | 'offline' | 'blocked';
  role: string;
  rttMs: number | null;
  lastHeard: string | null;
  code?: string;
  /** Unpaired and holding an open pairing code: `hana pair <code>` will try it here. */
  offersPairing?: boolean;
};

export type LinkManagerInit = {
  config: LinkConfig;
  identity: Identity;
  name: string;
  store: PeerStore;
  log: Logger;
  security: Logger;
  dial: (remote: Remote) => Promise<DtlsSession>;
  /** A link became trusted (sync attaches here) or went away. */
  onTrusted?: (link: Link) => void;
  onLost?: (link: Link) => void;
  /** A sync message (type byte ≥ 0x10) on a trusted link; the sync layer decodes it. */
  onSync?: (link: Link, bytes: Uint8Array) => void;
  now?: () => number;
  timers?: Timers;
  /** Keeps (or, with undefined, deletes) our own pending rotation: the old key and who owes an ack. */
  saveRotation?: (p: PendingRotation | undefined) => Promise<void>;
  /** How often our rotation is told again to a linked peer that has not acked (default 2 s). */
  rotationResendMs?: number;
};

/** Message types from here up belong to daemon/sync (its v1 starts at 0x10). */
const FIRST_SYNC_TYPE = 0x10;
const EARLY_SYNC_MAX = 32;
const BIND_TIMEOUT_MS = 5000;

const opposite = (r: Role): Role => (r === 'client' ? 'server' : 'client');

export function createLinkManager(init: LinkManagerInit) {
  const { config, store, log, security } = init;
  // Replaced by `hana trust rotate`; links made after that bind with the new key.
  let identity = init.identity;
  const now = init.now ?? Date.now;
  const timers = init.timers ?? realTimers;
  const links = new Set<Link>();
  let closed = false;
  const dialer = createDialer({
    store,
    log,
    dial: init.dial,
    linkedTo: (remote) => linkedTo(remote),
    now,
    ...(init.timers && { timers: init.timers }),
  });
  const pairing = createPairing<Link>({
    identity: () => identity,
    now,
    timers,
    log,
    security,
    send: (l, m) => send(l, m),
    pendingLinks: () => [...links].filter((l) => l.phase === 'pending'),
    paired: async (l, role) => {
      const id = l.peerId!;
      const where = addr(l.session.remote);
      const known = store.get(id);
      if (known) await store.allow(id, role);
      else await store.pin({ id, name: l.name ?? id, address: where, state: 'trusted', role });
      if (links.has(l) && l.phase === 'pending') trusted(l);
      introductions.vouched(id);
    },
  });
  // Pairings and `hana trust allow` introduce the new peer to our other trusted peers (and
  // them to it); an introduction accepted here promotes a pending link like an allow does.
  const introductions = createIntroductions<Link>({
    enabled: config.introductions,
    identity: () => identity,
    store,
    log,
    security,
    now,
    send: (l, m) => send(l, m),
    links: () => [...links],
    promote: (id) => promoteLinks(id),
    dial: (remote) => dialer.addTarget(remote),
  });
  function promoteLinks(id: string): void {
    for (const l of links) if (l.peerId === id && l.phase === 'pending') trusted(l);
  }
  // Our own rotation, told until each pinned peer acks (daemon/link/rotation-acks.ts).
  const rotationAcks = createRotationAcks<Link>({
    timers,
    resendMs: init.rotationResendMs ?? 2000,
    log,
    security,
    store,
    ownId: () => identity.deviceId,
    links: () => [...links],
    send: (l, m) => send(l, m),
    save: init.saveRotation ?? (async () => {}),
  });

  const send = (l: Link, m: LinkMessage) => l.session.send(encodeLink(m));
  const addr = (r: Remote) => `${r.address}:${r.port}`;

  function drop(l: Link, reason: string): void {
    if (!links.has(l)) return;
    links.delete(l);
    pairing.linkGone(l);
    timers.clear(l.timer);
    try {
      send(l, { type: 'close', reason });
    } catch {
      // the session may already be gone
    }
    l.session.close();
    if (l.phase === 'trusted') init.onLost?.(l);
    log.info(
      { event: 'link.closed', peer: l.peerId, remote: addr(l.session.remote), reason },
      `link to ${l.name ?? addr(l.session.remote)} closed: ${reason}`,
    );
  }

  // Counted by reason, one security line per (reason, source address) per 10 s: a redialling
  // peer or a flood of impostors must not flood the log.
  const refusals = createRejections({
    channel: 'link',
    log: security,
    security,
    intervalMs: 10_000,
    now,
  });
  function refuse(
    l: Link,
    reason: ReasonCode<'link'>,
    detail: string,
    fields: Record<string, unknown> = {},
  ): void {
    refusals.reject(reason, l.session.remote.address, detail, {
      remote: addr(l.session.remote),
      presented: l.peerId,
      ...fields,
    });
    drop(l, reason);
  }

  const liveness = createLiveness<Link>({
    config,
    now,
    timers,
    log,
    alive: (l) => links.has(l),
    ping: (l) => send(l, { type: 'ping', id: Math.floor(Math.random() * 2 ** 31), t: now() }),
    drop: (l, reason) => drop(l, reason),
  });
  const heard = (l: Link) => liveness.heard(l);
  const startHeartbeat = (l: Link) => liveness.start(l);

  function trusted(l: Link): void {
    l.phase = 'trusted';
    l.code = undefined;
    // One link per pair even when both dialled: keep the one whose client has the smaller ID.
    for (const other of links) {
      if (other === l || other.peerId !== l.peerId || other.phase === 'binding') continue;
      const clientId = (x: Link) => (x.session.role === 'client' ? identity.deviceId : x.peerId!);
      drop(clientId(other) < clientId(l) ? l : other, 'duplicate link');
    }
    // Before the links check: a pin written as the switch dropped this link is owed it too.
    rotationAcks.trusted(l, links.has(l));
    if (!links.has(l)) return;
    dialer.trustedAt(l.session.remote);
    log.info(
      { event: 'link.trusted', peer: l.peerId, name: l.name, remote: addr(l.session.remote) },
      `linked with ${l.name}`,
    );
    startHeartbeat(l);
    init.onTrusted?.(l);
    const early = l.early ?? [];
    l.early = undefined;
    for (const bytes of early) init.onSync?.(l, bytes);
    introductions.linkTrusted(l);
  }

  async function onBind(l: Link, body: Extract<LinkMessage, { type: 'bind' }>['body']): Promise<void> {
    const s = l.session;
    const v = judgeBind({
      body,
      peerRole: opposite(s.role),
      peerCertDer: s.peerCertDer,
      exporter: l.exporter,
      ownCertDer: identity.certDer,
      ownId: identity.deviceId,
      ensemble: { name: config.ensemble.name, hasSecret: config.ensemble.secret !== undefined },
      where: addr(s.remote),
    });
    l.peerId = v.presented;
    l.name = body.name;
    if (!v.ok) {
      if (v.violation) s.violation(v.violation);
      return refuse(l, v.reason, v.detail);
    }
    // A new session from the address of a live one starts beside it (the endpoint never lets a
    // ClientHello disturb a live session). Now that it has proven the same key, it replaces
    // the old one: the peer restarted, or lost its session while we kept ours.
    for (const other of [...links]) {
      if (other !== l && other.peerId === v.presented && addr(other.session.remote) === addr(s.remote))
        drop(other, 'replaced by a new session from the same device');
    }
    if (v.ensembleRun && l.ensemble && body.share !== undefined) {
      const tag = l.ensemble.run.answer(body.share);
      if (tag === null) {
        s.violation('invalid ensemble share');
        return refuse(l, 'ensemble-secret', `${body.name} (${v.presented}) sent an invalid ensemble share`);
      }
      // The trust decision waits for the peer's tag (onEnsembleConfirm). Ours goes now: it can
      // be checked only with the scalar of the share the peer sent, i.e. by a peer that made
      // that share from one guess of the secret.
      l.ensemble.bind = body;
      send(l, { type: 'ensemble-confirm', body: { tag } });
      return;
    }
    return admit(l, body);
  }

  /** The peer's CPace tag: refused unless both sides ran it with the same secret, then admitted. */
  function onEnsembleConfirm(l: Link, run: EnsembleRun, bind: BindBody, tag: string): void {
    l.ensemble = undefined;
    if (!run.check(tag)) {
      // Each wrong tag is one online guess (a guess costs a handshake): counted against the
      // address, so a guesser is banned from new handshakes like any other violator.
      l.session.violation('wrong ensemble secret');
      refuse(
        l,
        'ensemble-secret',
        `${bind.name} (${l.peerId}) did not prove the ensemble secret: its peers.ensemble.secret differs from this daemon's`,
      );
      return;
    }
    admit(l, bind).catch((err) => bindError(l, err));
  }

  function bindError(l: Link, err: unknown): void {
    log.error({ err, event: 'link.bind-error' }, 'binding failed unexpectedly');
    drop(l, 'internal error');
  }

  // Trust decisions under way: each awaits store writes, so one begun on a session showing our
  // old ID can pin that peer after a rotation's switch. The old key waits for them.
  let deciding = 0;
  const whenDecided: (() => void)[] = [];
  function afterDecisions(fn: () => void): void {
    if (deciding === 0) fn();
    else whenDecided.push(fn);
  }

  /** The bind (and the ensemble secret, if set) is proven: the one trust decision. */
  async function admit(l: Link, body: BindBody): Promise<void> {
    deciding++;
    try {
      await decideTrust(l, body);
    } finally {
      if (--deciding === 0) for (const fn of whenDecided.splice(0)) fn();
    }
  }

  async function decideTrust(l: Link, body: BindBody): Promise<void> {
    const s = l.session;
    const presented = l.peerId!;
    // A rotation the peer told before its bind moves the pin first, so the decision below sees
    // its new ID pinned rather than a key change under a pinned name (daemon/link/rotation.ts).
    if (l.rotateFrom) {
      await onRotateFrom(l, l.rotateFrom);
      if (!links.has(l)) return;
    }
    const d = decide({
      presentedId: presented,
      claimedName: body.name,
      ownId: identity.deviceId,
      policy: config.policy,
      store,
    });
    const where = addr(s.remote);
    if (d.kind === 'unpaired') {
      // Nothing is written: a stranger stays out of peers.json until its operator pairs it.
      l.phase = 'pending';
      l.code = confirmCode(identity.deviceId, presented, l.exporter);
      startHeartbeat(l);
      pairing.linkPending(l);
      security.info(
        { event: 'peer.unpaired', peer: presented, name: body.name, remote: where },
        `${body.name} (${shortId(presented)}) at ${where} is not paired: run \`hana pair\` here and \`hana pair <code>\` there, or \`hana trust allow ${shortId(presented)}\``,
      );
      return;
    }
    if (d.kind === 'refuse') {
      if (d.reason === 'pending') {
        l.phase = 'pending';
        l.code = confirmCode(identity.deviceId, presented, l.exporter);
        // A pending link is kept alive (and timed out) like any other, so it cannot hold a slot forever.
        startHeartbeat(l);
        pairing.linkPending(l);
        await store.upsertSeen({ id: presented, name: body.name, address: where });
        log.warn(
          { event: 'peer.pending', peer: presented, name: body.name, code: l.code },
          `${body.name} waits for \`hana trust allow ${presented}\` (code ${l.code})`,
        );
        return;
      }
      if (d.reason === 'key-change') {
        await store.hold({
          name: body.name,
          address: where,
          presentedId: presented,
          pinnedId: d.pinnedId ?? '',
        });
      }
      return refuse(l, d.reason, d.detail, d.pinnedId ? { pinned: d.pinnedId } : {});
    }
    if (d.kind === 'pin-new') {
      const code = d.state === 'pending' ? confirmCode(identity.deviceId, presented, l.exporter) : undefined;
      await store.pin({
        id: presented,
        name: body.name,
        address: where,
        state: d.state,
        role: config.newPeerRole,
        ...(code && { code }),
      });
      security.info(
        { event: 'peer.pinned', peer: presented, name: body.name, state: d.state, remote: where },
        `pinned ${body.name} (${presented}) as ${d.state}`,
      );
      if (d.state === 'pending') {
        l.phase = 'pending';
        l.code = code;
        startHeartbeat(l);
        return;
      }
    } else {
      await store.upsertSeen({ id: presented, name: body.name, address: where });
    }
    trusted(l);
  }

  const rotationReceiver = createRotationReceiver<Link>({
    identity: () => identity,
    store,
    security,
    now,
    send: (l, m) => send(l, m),
    alive: (l) => links.has(l),
    renamed: (oldId, newId) => rotationAcks.renamed(oldId, newId),
    promote: (id) => promoteLinks(id),
  });
  const onRotate = rotationReceiver.onRotate;
  const onRotateFrom = rotationReceiver.onRotateFrom;

  function onMessage(l: Link, bytes: Uint8Array): void {
    if (bytes.length > 0 && bytes[0]! >= FIRST_SYNC_TYPE) {
      // State flows only over a link that has passed the trust decision. The peer may have
      // decided first and started syncing while we still check its bind: keep a few of those
      // messages for when we agree, drop the rest (anti-entropy repairs what they carried).
      if (l.phase !== 'trusted') {
        l.early ??= [];
        if (l.early.length < EARLY_SYNC_MAX) l.early.push(bytes);
        return;
      }
      heard(l);
      init.onSync?.(l, bytes);
      return;
    }
    const r = decodeLink(bytes);
    if (!r.ok) {
      // Another hana version, not an attacker: refused by name so both operators see why.
      if (r.version !== undefined && l.phase === 'binding' && !l.bound) {
        l.bound = true;
        l.peerId = deviceIdFromCertDer(l.session.peerCertDer);
        refuse(
          l,
          'link-version',
          `${addr(l.session.remote)} speaks link version ${r.version}${SYNC_OF_LINK[r.version] ? ` (${SYNC_OF_LINK[r.version]})` : ''} and this daemon ${LINK_VERSION} (${SYNC_OF_LINK[LINK_VERSION]}, writes signed by their origin): run the same hana release on both`,
          { version: r.version },
        );
        return;
      }
      l.session.violation(r.error);
      return;
    }
    heard(l);
    const m = r.message;
    if (m.type === 'close') {
      drop(l, `peer closed: ${m.reason}`);
      return;
    }
    if (l.phase === 'binding') {
      const waiting = l.ensemble?.bind;
      if (m.type === 'ensemble-confirm' && waiting) {
        onEnsembleConfirm(l, l.ensemble!.run, waiting, m.body.tag);
        return;
      }
      // A peer's rotation comes before its bind and is judged after it (admit); an ack needs
      // only the ID its bind proved.
      if (m.type === 'rotate' && 'from' in m.body && !l.rotateFrom) {
        l.rotateFrom = m.body;
        return;
      }
      if (m.type === 'rotate-ack' && l.bound) {
        rotationAcks.acked(l, m.body);
        return;
      }
      if (m.type !== 'bind' || l.bound) {
        l.session.violation(m.type === 'bind' ? 'second bind' : `${m.type} before bind`);
        return;
      }
      l.bound = true;
      onBind(l, m.body).catch((err) => bindError(l, err));
      return;
    }
    if (m.type === 'bind' || m.type === 'ensemble-confirm') {
      l.session.violation(`second ${m.type}`);
      return;
    }
    if (m.type.startsWith('pair-')) {
      if (l.phase === 'pending' || l.phase === 'trusted') pairing.onMessage(l, m as PairMessage);
      return;
    }
    if (m.type === 'introduce') {
      introductions.onMessage(l, m.body);
      return;
    }
    if (m.type === 'rotate') {
      onRotate(l, m.body).catch((err) =>
        log.error({ err, event: 'link.rotate-error' }, 'could not apply a peer’s rotation'),
      );
      return;
    }
    if (m.type === 'rotate-ack') {
      rotationAcks.acked(l, m.body);
      return;
    }
    if (m.type === 'ping') send(l, { type: 'pong', id: m.id, t: m.t });
    else if (m.type === 'pong') l.rttMs = now() - m.t;
  }

  function onSession(s: DtlsSession): void {
    if (closed) {
      s.close();
      return;
    }
    const exporter = s.exporter(EXPORTER_LABEL, 32);
    const l: Link = { session: s, phase: 'binding', lastHeard: now(), exporter, boundAs: identity.deviceId };
    links.add(l);
    s.onData((b) => onMessage(l, b));
    s.onClose(() => {
      if (links.has(l)) drop(l, 'session ended');
    });
    l.timer = timers.set(BIND_TIMEOUT_MS, () => {
      if (l.phase !== 'binding') return;
      if (l.ensemble?.bind) {
        // It has our tag, so it could test its one guess: withholding its own tag must not
        // make that guess free of the violation a wrong tag costs.
        s.violation('ensemble secret not confirmed');
        refuse(
          l,
          'ensemble-secret',
          `${l.name} (${l.peerId}) did not finish proving the ensemble secret within 5 s`,
        );
      } else refuse(l, 'bind-timeout', `${addr(s.remote)} did not bind within 5 s`);
    });
    // With a secret, our bind carries a CPace share; the peer's share in its bind, then the two
    // tags (`ensemble-confirm`), prove the secret before the trust decision. The share alone
    // reveals nothing about the secret.
    const secret = config.ensemble.secret;
    const peerId = deviceIdFromCertDer(s.peerCertDer);
    if (secret !== undefined && peerId !== identity.deviceId) {
      l.ensemble = {
        run: startEnsembleRun({ secret, role: s.role, session: s, ownId: identity.deviceId, peerId }),
      };
    }
    // A peer that missed our rotation hears it before our bind shows it a new ID.
    const rotation = rotationAcks.greeting(peerId);
    if (rotation) send(l, rotation);
    send(l, {
      type: 'bind',
      body: {
        v: LINK_VERSION,
        name: init.name,
        ensemble: config.ensemble.name,
        sig: signBinding(identity.keyPem, s.role, exporter, identity.certDer, s.peerCertDer),
        ...(l.ensemble && { share: l.ensemble.run.share }),
      },
    });
  }

  function linkedTo(remote: Remote): boolean {
    for (const l of links) if (addr(l.session.remote) === addr(remote)) return true;
    return false;
  }

  return {
    onSession,
    addTarget: dialer.addTarget,
    removeTarget: dialer.removeTarget,
    staleTraffic: dialer.staleTraffic,
    links: () => [...links],
    /**
     * Our rotation begins (or resumes after a restart): told to each pinned peer in `pending`,
     * signed by the old key, until it acks. Resolves once the state is saved.
     */
    startRotation: (p: PendingRotation) => rotationAcks.start(p),
    /** Resolves when none of `ids` owes an ack any more, or after `ms`. */
    rotationSettled: (ids: readonly string[], ms: number) => rotationAcks.settled(ids, ms),
    rotationStatus: () => rotationAcks.status(),
    /**
     * Ends every link with a goodbye, resolving once the goodbyes are handed to the socket: a
     * rotation calls it before closing the socket, so no peer keeps a dead link until it goes
     * silent (and sends records no new session can read).
     */
    async closeLinks(reason: string): Promise<void> {
      for (const l of [...links]) drop(l, reason);
      // Sends go out through werift's promise chain and dgram's lookup tick, all drained by here.
      await new Promise<void>((r) => setImmediate(r));
    },
    /** Switches to the new identity; existing links end and are redialled with it. */
    useIdentity(next: Identity): void {
      identity = next;
      for (const l of [...links]) drop(l, 'identity rotated');
      afterDecisions(() => rotationAcks.switched());
      dialer.redialAll();
    },
    /** `hana pair`: open a code on this laptop. */
    pairOpen: (o: { role: PairRole; expiresMs: number }) => pairing.open(o),
    pairStatus: () => pairing.status(),
    /**
     * `hana pair <code>`: find the laptop holding it (mDNS already dialled every laptop on the
     * LAN, or `peer` names one) and pair. Waits up to `waitMs` for such a laptop to appear.
     */
    async pairJoin(code: string, o: { peer?: Remote; waitMs: number }): Promise<JoinResult> {
      if (o.peer) dialer.addTarget(o.peer);
      const at = o.peer && addr(o.peer);
      const candidates = () =>
        [...links]
          .filter(
            (l) =>
              l.phase === 'pending' &&
              (at ? addr(l.session.remote) === at : l.offersPairing === true || l.offeredPairing === true),
          )
          // Laptops with an open code first; one whose code was used or burned still answers why.
          .sort((x, y) => Number(y.offersPairing === true) - Number(x.offersPairing === true));
      // An operator waits on this, so it is bounded by real time, not the injected clock.
      const deadline = Date.now() + o.waitMs;
      while (candidates().length === 0 && Date.now() < deadline && !closed)
        await new Promise((r) => setTimeout(r, 20));
      return pairing.join(code, candidates);
    },
    /** The operator allowed a peer: promote its pending link at once, and introduce it. */
    promote(id: string): void {
      promoteLinks(id);
      introductions.vouched(id);
    },
    /** The operator blocked or forgot a peer: its link goes now. */
    disconnect(id: string, reason: string): void {
      for (const l of [...links]) if (l.peerId === id) drop(l, reason);
      // Nor does it owe an ack for our rotation any more.
      rotationAcks.prune();
    },
    peers(): PeerView[] {
      const byId = new Map<string, Link>();
      for (const l of links) if (l.peerId && l.phase !== 'binding') byId.set(l.peerId, l);
      const pinned = store.list();
      const unpaired: PeerView[] = [...links]
        .filter((l) => l.phase === 'pending' && l.peerId && !pinned.some((p) => p.id === l.peerId))
        .map((l) => ({
          id: l.peerId!,
          name: l.name ?? shortId(l.peerId!),
          address: addr(l.session.remote),
          state: 'pending',
          role: 'none',
          rttMs: l.rttMs ?? null,
          lastHeard: new Date(Date.now() - (now() - l.lastHeard)).toISOString(),
          ...(l.code && { code: l.code }),
          ...(l.offersPairing && { offersPairing: true }),
        }));
      return unpaired.concat(
        pinned.map((p) => {
          const l = byId.get(p.id);
          return {
            id: p.id,
            name: p.name,
            address: l ? addr(l.session.remote) : (p.lastAddress ?? null),
            state:
              p.state === 'blocked'
                ? 'blocked'
                : l
                  ? l.phase === 'trusted'
                    ? l.silent
                      ? 'offline'
                      : 'linked'
                    : 'pending'
                  : p.state === 'pending'
                    ? 'pending'
                    : 'offline',
            role: p.role,
            rttMs: l?.rttMs ?? null,
            lastHeard: l ? new Date(Date.now() - (now() - l.lastHeard)).toISOString() : p.lastSeen,
            ...((l?.code ?? p.code) && { code: l?.code ?? p.code }),
          };
        }),
      );
    },
    stats: () => ({
      linked: [...links].filter((l) => l.phase === 'trusted' && !l.silent).length,
      pending: [...links].filter((l) => l.phase === 'pending').length,
      refused: refusals.total(),
      /** Links refused by reason (daemon/reasons.ts, channel "link"). */
      refusals: refusals.counts(),
      rotationRefusals: rotationReceiver.refused(),
      held: store.held().length,
      targets: dialer.size(),
      introductions: introductions.counts(),
    }),
    /** Says goodbye to every peer, then waits a moment so the close messages leave before the socket does. */
    async close(): Promise<void> {
      closed = true;
      dialer.close();
      const saved = rotationAcks.close();
      const open = links.size;
      for (const l of [...links]) drop(l, 'daemon shutting down');
      if (open > 0) await new Promise((r) => setTimeout(r, 100));
      await saved;
    },
  };
}

export type LinkManager = ReturnType<typeof createLinkManager>;
