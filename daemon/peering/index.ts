import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import type { Remote } from '../../protocols/osc/udp.ts';
import { createIdentity, saveIdentity } from '../../trust-store/identity.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import type { Config } from '../config/schema.ts';
import { linkHandlers } from '../control/link-handlers.ts';
import { controlError } from '../control/protocol.ts';
import type { Handlers } from '../control/server.ts';
import type { Rejections } from '../ingest/rejections.ts';
import { createMdnsRejections, startPeerDiscovery } from '../link/discovery.ts';
import { createLinkManager, type LinkManager } from '../link/manager.ts';
import type { RotationStatus } from '../link/rotation-acks.ts';
import type { Logger } from '../log.ts';
import type { Hlc } from '../state/hlc.ts';
import type { Registry } from '../state/registry.ts';
import type { Store } from '../state/store.ts';
import { createSyncService, type SyncLinkHandle, type SyncStatus } from '../sync/service.ts';
import type { IdentityRef } from './identity-ref.ts';
import { keptRotation, newRotation, rotationSaver } from './rotation.ts';

// Everything between this daemon and the others: the DTLS endpoint, the link manager (binding,
// trust decisions, heartbeats, dialling), mDNS discovery, replication over trusted links and
// identity rotation. One part of the composition root, shaped like storage and visuals.

export type PeeringInit = {
  home: string;
  config: Config;
  name: string;
  identity: IdentityRef;
  peerStore: PeerStore;
  registry: Registry;
  store: Store;
  hlc: Hlc;
  rejections: Rejections;
  log: Logger;
  security: Logger;
  /** Runs with the new device ID before a rotation writes identity.json. */
  beforeRotate?: (nextDeviceId: string) => Promise<void>;
  /** A linked peer's write that a person made there was applied (plugins give way: takeover.ts). */
  onPeerHuman?: (path: string) => void;
};

export type PeeringStatus = {
  peers: {
    deviceId: string;
    port: number;
    policy: string;
    ensemble: string;
    linked: number;
    pending: number;
    refused: number;
    /** Links and rotations refused, by reason (docs/reasons.md). */
    refusals: Record<string, number>;
    rotationRefusals: Record<string, number>;
    held: number;
    targets: number;
    /** Introductions accepted, already known, and refused by reason (daemon/link/introductions.ts). */
    introductions: { accepted: number; known: number; refused: Record<string, number> };
    /** Set when the policy trusts strangers (accept-new): shown by `hana status`. */
    warning?: string;
    pairing: {
      state: 'none' | 'open' | 'used' | 'burned' | 'expired';
      triesLeft: number;
      expires: string | null;
    };
    endpoint: { sessions: number; halfOpen: number; banned: number; fragmentBytes: number };
    /** This daemon's last rotation while pinned peers have yet to ack it (its old key is kept). */
    rotation: RotationStatus | null;
  };
  /** LAN discovery: announcements ignored, by reason code (a forged one is a hint, never a crash). */
  mdns: { enabled: boolean; peers: number; rejected: Record<string, number>; rejectedTotal: number };
  sync: SyncStatus;
};

/** How long the links still up get to ack a rotation before they end with the switch. */
const ROTATION_SWITCH_WAIT_MS = 5000;

async function resolveStatic(hp: string): Promise<Remote> {
  const at = hp.lastIndexOf(':');
  const host = hp.slice(0, at).replace(/^\[|\]$/g, '');
  const address =
    host === 'localhost' ? '127.0.0.1' : isIP(host) ? host : (await lookup(host, { family: 4 })).address;
  return { address, port: Number(hp.slice(at + 1)) };
}

export async function startPeering(init: PeeringInit) {
  const { config, identity, peerStore, rejections, log, security } = init;
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    let links: LinkManager | undefined;
    const handshakeFailures = new Map<string, string>();
    const openEndpoint = (port: number) =>
      openDtlsEndpoint({
        host: config.peers.bind,
        port,
        credentials: identity.current,
        maxSessions: config.peers.maxPeers,
        handshakesPerSecond: config.peers.handshakesPerSecond,
        onSession: (s) => (links ? links.onSession(s) : s.close()),
        onReject: (code, from, detail) => {
          rejections.reject(`peer-${code}`, from.address, detail);
          if (code === 'not-client-hello') links?.staleTraffic(from);
          if (code === 'handshake-verify-failed') {
            // Kept so `hana pair --peer` can say why that laptop never showed up (bounded).
            if (handshakeFailures.size >= 256)
              handshakeFailures.delete(handshakeFailures.keys().next().value!);
            handshakeFailures.set(`${from.address}:${from.port}`, detail);
          }
        },
      });
    if (config.peers.policy === 'accept-new')
      security.warn(
        { event: 'peers.accept-new', newPeerRole: config.peers.newPeerRole },
        `peers.policy is accept-new: every hana on this network is trusted as ${config.peers.newPeerRole} on first contact. Fine for a rehearsal room; for a show, remove it and pair laptops with \`hana pair\``,
      );
    // Replaced when the identity rotates (a DTLS endpoint's certificate is fixed).
    let endpoint = await openEndpoint(config.peers.port);
    closers.push(() => endpoint.close());

    const linksByPeer = new Map<string, { session: { violation(reason: string): void } }>();
    const sync = createSyncService({
      identity: () => identity.current,
      ownIds: () => identity.history,
      security,
      onPeerHuman: (path) => init.onPeerHuman?.(path),
      onViolation(origin, reason) {
        // Counted against its address, and the link ends: it may link again, and is caught again.
        linksByPeer.get(origin)?.session.violation(reason);
        linkManager.disconnect(origin, `sync violation: ${reason}`);
        if (config.sync.onEquivocation === 'block' && peerStore.get(origin)?.state !== 'blocked')
          void peerStore
            .block(origin)
            .catch((err: Error) =>
              log.error(
                { err, event: 'sync.block-failed', origin },
                `could not block ${origin}: ${err.message}`,
              ),
            );
      },
      config: config.sync,
      registry: init.registry,
      store: init.store,
      hlc: init.hlc,
      peers: peerStore,
      rejections,
      log,
    });
    closers.push(() => sync.close());

    const syncLinks = new Map<object, SyncLinkHandle>();
    const saveRotation = rotationSaver(init.home);
    const linkManager = createLinkManager({
      config: config.peers,
      identity: identity.current,
      name: init.name,
      store: peerStore,
      log,
      security,
      dial: (remote) => endpoint.connect(remote),
      onTrusted: (l) => {
        linksByPeer.set(l.peerId!, l);
        syncLinks.set(
          l,
          sync.attach(l.peerId!, (bytes) => l.session.send(bytes), l.session.peerCertDer),
        );
      },
      onLost: (l) => {
        syncLinks.get(l)?.close();
        syncLinks.delete(l);
        if (l.peerId && linksByPeer.get(l.peerId) === l) linksByPeer.delete(l.peerId);
      },
      onSync: (l, bytes) => syncLinks.get(l)?.receive(bytes),
      saveRotation,
    });
    links = linkManager;
    closers.push(() => linkManager.close());
    // A rotation a previous run left unacked goes on before any peer is dialled.
    const kept = await keptRotation({ home: init.home, current: identity.current, log, security });
    if (kept) await linkManager.startRotation(kept);
    for (const hp of config.peers.static) linkManager.addTarget(await resolveStatic(hp), undefined, true);

    // Counted across restarts of discovery, so `hana status` keeps the totals since start.
    const mdnsRejections = createMdnsRejections(security);
    const discover = () =>
      config.peers.discovery
        ? startPeerDiscovery({
            name: init.name,
            deviceId: identity.deviceId,
            port: endpoint.port,
            config: config.peers,
            links: linkManager,
            log,
            rejections: mdnsRejections,
          })
        : undefined;
    // Restarted on rotation, so it announces the new device ID.
    let discovery = discover();
    closers.push(() => discovery?.close());

    async function rotate(): Promise<{ previous: string; deviceId: string }> {
      // Only the last old key is kept: a second rotation now would leave the peers still on the
      // first one with nothing that could tell them where this daemon went.
      const unfinished = linkManager.rotationStatus();
      if (unfinished) {
        throw controlError(
          'rotation-pending',
          `the last rotation still waits for ${unfinished.pending.length} peer(s) to move their pin (see \`hana status\`): let them link once, or \`hana trust forget\` the ones that will not come back`,
        );
      }
      const current = identity.current;
      const next = await createIdentity();
      const pinned = peerStore
        .list()
        .filter((p) => p.state === 'trusted')
        .map((p) => p.id);
      const rotation = newRotation(current, next, pinned);
      // On disk first the old key (and who owes an ack), then the new identity, and only then
      // does anyone hear of it: a crash at any point leaves a home that restarts as either
      // identity, and, as the new one, goes on telling the peers that missed it.
      // Saved even with nobody listed: a link deciding now may pin the old ID before the switch
      // (daemon/link/rotation-acks.ts), and the old key is deleted after it if nobody did.
      await init.beforeRotate?.(next.deviceId);
      await saveRotation(rotation);
      await saveIdentity(init.home, next);
      await linkManager.startRotation(rotation);
      // The links still up carry it (repeated until acked) until they end with the switch;
      // whoever has not acked by then hears it on its first session with the new identity.
      const owed = new Set(linkManager.rotationStatus()?.pending.map((p) => p.id));
      const linked = linkManager
        .links()
        .filter((l) => l.phase === 'trusted' && l.peerId !== undefined && owed.has(l.peerId))
        .map((l) => l.peerId!);
      await linkManager.rotationSettled(linked, ROTATION_SWITCH_WAIT_MS);
      await linkManager.closeLinks('identity rotated');
      identity.replace(next);
      const port = endpoint.port;
      await endpoint.close();
      endpoint = await openEndpoint(port).catch((err: Error) => {
        // Never leave the daemon without a peer port: take any free one and say so.
        log.error(
          { err, event: 'link.port-lost', port },
          `could not reopen peer port ${port}; using a free port instead`,
        );
        return openEndpoint(0);
      });
      linkManager.useIdentity(next);
      await discovery?.close();
      discovery = discover();
      security.info(
        { event: 'identity.rotated', previous: current.deviceId, deviceId: next.deviceId },
        `rotated identity: now ${next.deviceId}`,
      );
      return { previous: current.deviceId, deviceId: next.deviceId };
    }

    const handlers: Handlers = linkHandlers({
      identity: () => identity.current,
      name: init.name,
      store: peerStore,
      links: linkManager,
      port: () => endpoint.port,
      syncView: (id) => sync.peerView(id),
      maxDriftMs: config.sync.maxDriftMs,
      handshakeFailure: (remote) => handshakeFailures.get(`${remote.address}:${remote.port}`),
      rotate,
    });

    return {
      handlers,
      clock: sync.clock,
      port: () => endpoint.port,
      /** Trusted links syncing now (cheap: polled each second for whether plugin writes have an audience). */
      linked: () => syncLinks.size,
      status: (): PeeringStatus => ({
        peers: {
          deviceId: identity.deviceId,
          port: endpoint.port,
          policy: config.peers.policy,
          ensemble: config.peers.ensemble.name,
          ...linkManager.stats(),
          ...(config.peers.policy === 'accept-new' && {
            warning: 'peers.policy is accept-new: every hana on this network is trusted on first contact',
          }),
          pairing: linkManager.pairStatus(),
          rotation: linkManager.rotationStatus(),
          endpoint: endpoint.stats(),
        },
        mdns: {
          enabled: discovery !== undefined,
          peers: discovery?.known() ?? 0,
          rejected: mdnsRejections.counts(),
          rejectedTotal: mdnsRejections.total(),
        },
        sync: sync.status(),
      }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export type Peering = Awaited<ReturnType<typeof startPeering>>;
