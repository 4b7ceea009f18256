import { type DiscoveredPeer, type MdnsRejectCode, parsePeer, quote, samePeer } from './peer.ts';

// What we know about the other daemons, fed by browser events; no sockets and no timers, so
// the found/lost/ignore rules are tested without a network.

export type PeerTableInit = {
  /** Our own instance, as advertised (we hear our own multicast back). */
  ownInstance: string;
  ensembleTag: string;
  onFound: (p: DiscoveredPeer) => void;
  onLost: (instance: string) => void;
  onWarning: (message: string) => void;
  /** Caps memory against a LAN flooding us with names; default 1024. */
  maxEntries?: number;
};

export type PeerTable = {
  /** A service appeared or changed: report it if it is new or different. */
  seen(service: unknown): void;
  /** A service said goodbye or expired. */
  gone(instance: unknown): void;
  known(): DiscoveredPeer[];
  /** Rejected announcements by reason, since start. */
  rejected(): Partial<Record<MdnsRejectCode, number>>;
  clear(): void;
};

export function createPeerTable(init: PeerTableInit): PeerTable {
  const max = init.maxEntries ?? 1024;
  const peers = new Map<string, DiscoveredPeer>();
  const reportedBad = new Set<string>();
  const rejected: Partial<Record<MdnsRejectCode, number>> = {};
  let warnedFull = false;

  const drop = (instance: string) => {
    if (peers.delete(instance)) init.onLost(instance);
  };

  const full = (what: string) => {
    if (!warnedFull) {
      warnedFull = true;
      init.onWarning(`mdns: more than ${max} ${what} on the network; ignoring the rest`);
    }
  };

  return {
    seen(service) {
      const name =
        typeof service === 'object' && service !== null ? (service as { name?: unknown }).name : undefined;
      if (name === init.ownInstance) return;
      const p = parsePeer(service);
      if ('bad' in p) {
        rejected[p.bad] = (rejected[p.bad] ?? 0) + 1;
        const key = typeof name === 'string' ? name : '';
        if (typeof name === 'string') drop(name);
        if (reportedBad.has(key)) return;
        if (reportedBad.size >= max) return full('malformed announcements');
        reportedBad.add(key);
        const total = Object.values(rejected).reduce((a, b) => a + b, 0);
        init.onWarning(
          `mdns: ignoring peer ${quote(name)}: ${p.bad} (${total} malformed announcement(s) ignored so far)`,
        );
        return;
      }
      // Another band on the same LAN: valid, not ours, and not worth a warning.
      if (p.ensembleTag !== init.ensembleTag) return drop(p.instance);
      const prev = peers.get(p.instance);
      if (prev && samePeer(prev, p)) return;
      if (!prev && peers.size >= max) return full('peers');
      peers.set(p.instance, p);
      init.onFound({ ...p });
    },
    gone(instance) {
      if (typeof instance === 'string') drop(instance);
    },
    known: () => [...peers.values()].map((p) => ({ ...p })),
    rejected: () => ({ ...rejected }),
    clear() {
      peers.clear();
    },
  };
}
