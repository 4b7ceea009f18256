import type { DtlsSession } from '../../protocols/dtls/endpoint.ts';
import type { Remote } from '../../protocols/osc/udp.ts';
import { deviceIdFromCertDer, parseDeviceId } from '../../trust-store/device-id.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import type { Logger } from '../log.ts';
import { realTimers, type Timers } from '../timers.ts';

// Which addresses to dial and when: static config, mDNS hints and addresses a trusted peer was
// last seen at, each with its own backoff. Nothing here decides trust; a dial only starts a
// handshake, and the link manager judges what answers.

export type DialerInit = {
  store: PeerStore;
  log: Logger;
  dial: (remote: Remote) => Promise<DtlsSession>;
  /** A link (any phase) runs to this address: no need to dial it. */
  linkedTo: (remote: Remote) => boolean;
  now?: () => number;
  timers?: Timers;
  /** Dial tick; fixed, so dial timing never depends on how many targets there are. */
  tickMs?: number;
};

export type Target = {
  remote: Remote;
  /** Who mDNS says is there: anyone on the LAN can say anything, so it is for logs only. */
  hintId?: string;
  /** A handshake at this address presented this device, blocked by the operator. */
  blockedId?: string;
  backoffMs: number;
  nextAt: number;
  dialling: boolean;
  /** A trusted link has run to this address: redial it briskly when it drops (a cable pulled on stage). */
  known?: boolean;
  /** From the operator's config: never evicted to make room. */
  fixed?: boolean;
};

/** Redial backoff caps: a peer we linked with comes back within seconds; a stranger is not hammered. */
const KNOWN_BACKOFF_MAX_MS = 2000;
const BACKOFF_MAX_MS = 30_000;
/** Addresses to dial, at most: far above any stage, far below what hurts a dial tick. */
const MAX_TARGETS = 256;

const addr = (r: Remote) => `${r.address}:${r.port}`;

export function createDialer(init: DialerInit) {
  const { store, log, linkedTo } = init;
  const now = init.now ?? Date.now;
  const timers = init.timers ?? realTimers;
  const tickMs = init.tickMs ?? 250;
  const targets = new Map<string, Target>();
  let closed = false;

  // Forged announcements can name any number of addresses: the table is capped, and a full
  // one makes room by forgetting the longest-unanswered address no link ever ran to.
  function evictTarget(): boolean {
    let victim: string | undefined;
    let latest = -1;
    for (const [key, t] of targets) {
      if (t.fixed || t.known || linkedTo(t.remote)) continue;
      if (t.backoffMs > latest) {
        latest = t.backoffMs;
        victim = key;
      }
    }
    if (victim === undefined) return false;
    targets.delete(victim);
    return true;
  }

  // Never throws: an unusable ID (a hint, a certificate) is "not blocked", and the dial goes on.
  function isBlocked(id: string): boolean {
    try {
      return store.get(id)?.state === 'blocked';
    } catch {
      return false;
    }
  }

  function dialTick(): void {
    if (closed) return;
    const t = now();
    for (const target of targets.values()) {
      if (target.dialling || t < target.nextAt || linkedTo(target.remote)) continue;
      // Only a handshake at this address may stop us dialling it, never the mDNS hint: anyone on
      // the LAN can announce any device ID for any address, so skipping on a hint that names a
      // blocked device would let a forger silence every address on the LAN. Once a handshake
      // there did present a blocked device, we wait until the operator unblocks it or the
      // address announces another device (which can only make us look again, never stop us).
      if (target.blockedId !== undefined && isBlocked(target.blockedId)) continue;
      target.blockedId = undefined;
      target.dialling = true;
      let dialled: Promise<DtlsSession>;
      try {
        dialled = init.dial(target.remote);
      } catch (err) {
        dialled = Promise.reject(err);
      }
      dialled
        .then((s) => {
          const presented = deviceIdFromCertDer(s.peerCertDer);
          if (isBlocked(presented)) target.blockedId = presented;
        })
        .catch((err: unknown) =>
          log.debug({
            event: 'link.dial-failed',
            remote: addr(target.remote),
            hint: target.hintId,
            err: err instanceof Error ? err.message : String(err),
          }),
        )
        .finally(() => {
          target.dialling = false;
          // Backoff grows on every attempt and resets once a link is trusted.
          const cap = target.known ? KNOWN_BACKOFF_MAX_MS : BACKOFF_MAX_MS;
          target.backoffMs = Math.min(cap, Math.max(500, target.backoffMs * 2));
          target.nextAt = now() + target.backoffMs * (0.75 + Math.random() * 0.5);
        });
    }
  }
  // The tick runs only while there is something to dial: with no peer configured or announced
  // it would wake an idle daemon four times a second for an empty loop (issue 18).
  let tick: unknown;
  const arm = () => {
    if (closed || tick !== undefined || targets.size === 0) return;
    tick = timers.set(tickMs, () => {
      tick = undefined;
      dialTick();
      arm();
    });
  };

  return {
    /** Adds or refreshes a peer to dial (static config or mDNS). */
    addTarget(remote: Remote, hintId?: string, fixed = false): void {
      // The hint arrived unauthenticated from the LAN: one that is not a device ID is dropped
      // here, so nothing later (a store lookup, a log) can trip over it.
      const parsed = typeof hintId === 'string' && hintId.length <= 128 ? parseDeviceId(hintId) : undefined;
      const hint = parsed?.ok ? parsed.id : undefined;
      const key = addr(remote);
      const t = targets.get(key);
      if (t) {
        if (hint !== undefined && hint !== t.hintId) {
          t.hintId = hint;
          t.blockedId = undefined;
        }
        return;
      }
      if (targets.size >= MAX_TARGETS && !evictTarget()) {
        log.warn(
          { event: 'link.targets-full', remote: key },
          `not dialling ${key}: ${MAX_TARGETS} addresses already known`,
        );
        return;
      }
      targets.set(key, { remote, hintId: hint, backoffMs: 0, nextAt: 0, dialling: false, fixed });
      dialTick();
      arm();
    },
    /**
     * mDNS says the peer left. A goodbye is unauthenticated: a configured address stays, and
     * one a trusted link ran to is only demoted to the slow redial, so a forged goodbye cannot
     * take a real peer off the dial list.
     */
    removeTarget(remote: Remote): void {
      const t = targets.get(addr(remote));
      if (!t || t.fixed) return;
      if (t.known || linkedTo(remote)) t.known = false;
      else targets.delete(addr(remote));
    },
    /**
     * Encrypted data arrived from an address we hold no session with. If a trusted peer was last
     * seen there, it is that peer still talking to a session we lost (we restarted, and it only
     * knows the link went silent): dial it now, and our new handshake replaces its silent
     * session. Anything else is ignored, so forged datagrams cannot make us dial a stranger.
     */
    staleTraffic(remote: Remote): void {
      if (closed || linkedTo(remote)) return;
      const where = addr(remote);
      const peer = store.list().find((p) => p.state === 'trusted' && p.lastAddress === where);
      if (!peer) return;
      const t = targets.get(where);
      if (!t) {
        targets.set(where, {
          remote,
          hintId: peer.id,
          backoffMs: 0,
          nextAt: 0,
          dialling: false,
          known: true,
        });
        dialTick();
        arm();
      } else if (!t.dialling && t.nextAt > now() + 1000) {
        t.nextAt = now();
        dialTick();
      }
    },
    /** A trusted link ran to this address: redial briskly if it drops. */
    trustedAt(remote: Remote): void {
      const t = targets.get(addr(remote));
      if (t) {
        t.backoffMs = 0;
        t.known = true;
      }
    },
    /** Dial everything again now (after a rotation, with the new identity). */
    redialAll(): void {
      for (const t of targets.values()) t.nextAt = 0;
    },
    size: () => targets.size,
    close(): void {
      closed = true;
      timers.clear(tick);
      tick = undefined;
    },
  };
}

export type Dialer = ReturnType<typeof createDialer>;
