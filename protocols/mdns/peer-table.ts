import {
  type DiscoveredPeer,
  type MdnsRejectCode,
  type MdnsRejection,
  parsePeer,
  quote,
  samePeer,
  sourceOf,
} from './peer.ts';

// What we know about the other daemons, fed by browser events; no sockets and no timers, so
// the found/lost/ignore rules are tested without a network.

export type PeerTableInit = {
  /** Our own instance, as advertised (we hear our own multicast back). */
  ownInstance: string;
  ensembleTag: string;
  onFound: (p: DiscoveredPeer) => void;
  onLost: (instance: string) => void;
  onWarning: (message: string) => void;
  /** Every rejected announcement (counted here too); whoever logs it rate-limits by code and source. */
  onReject: (r: MdnsRejection) => void;
  /** Caps memory against a LAN flooding us with names; default 1024. */
  maxEntries?: number;
};

export type PeerTable = {
  /** A service appeared or changed: report it if it is new or different. */
  seen(service: unknown): void;
  /** A service said goodbye or expired. */
  gone(instance: unknown): void;
  /** Counts and reports a rejection found outside the table (a packet that is not DNS). */
  reject(r: MdnsRejection): void;
  known(): DiscoveredPeer[];
  /** Rejected announcements by reason, since start. */
  rejected(): Partial<Record<MdnsRejectCode, number>>;
  clear(): void;
};

export function createPeerTable(init: PeerTableInit): PeerTable {
  const max = init.maxEntries ?? 1024;
  const peers = new Map<string, DiscoveredPeer>();
  const rejected: Partial<Record<MdnsRejectCode, number>> = {};
  let warnedFull = false;

  const drop = (instance: string) => {
    if (peers.delete(instance)) init.onLost(instance);
  };
  // Anyone can announce any instance name: only news from the address we dial for it may take
  // a peer away, or one forged packet would stop us dialling a real peer.
  const dropIfFrom = (instance: string, source: string) => {
    if (peers.get(instance)?.address === source) drop(instance);
  };
  const reject = (r: MdnsRejection) => {
    rejected[r.code] = (rejected[r.code] ?? 0) + 1;
    init.onReject(r);
  };

  return {
    seen(service) {
      const name =
        typeof service === 'object' && service !== null ? (service as { name?: unknown }).name : undefined;
      if (name === init.ownInstance) return;
      const p = parsePeer(service);
      if ('bad' in p) {
        const source = sourceOf(service);
        if (typeof name === 'string') dropIfFrom(name, source);
        return reject({ code: p.bad, source, ...(typeof name === 'string' && { instance: quote(name) }) });
      }
      // Another band on the same LAN: valid, not ours, and not worth a warning.
      if (p.ensembleTag !== init.ensembleTag) return dropIfFrom(p.instance, p.address);
      const prev = peers.get(p.instance);
      if (prev && samePeer(prev, p)) return;
      if (!prev && peers.size >= max) {
        if (!warnedFull) {
          warnedFull = true;
          init.onWarning(`mdns: more than ${max} peers on the network; ignoring the rest`);
        }
        return;
      }
      peers.set(p.instance, p);
      init.onFound({ ...p });
    },
    gone(instance) {
      if (typeof instance === 'string') drop(instance);
    },
    reject,
    known: () => [...peers.values()].map((p) => ({ ...p })),
    rejected: () => ({ ...rejected }),
    clear() {
      peers.clear();
    },
  };
}
