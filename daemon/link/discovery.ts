import { type MdnsRejection, startDiscovery } from '../../protocols/mdns/index.ts';
import type { Remote } from '../../protocols/osc/udp.ts';
import { shortId } from '../../trust-store/device-id.ts';
import type { LinkConfig } from '../config/link-schema.ts';
import { createRejections, type Rejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import { ensembleTag } from './binding.ts';
import type { LinkManager } from './manager.ts';
import { LINK_VERSION } from './v1/wire.ts';

// mDNS feeds the link manager: a discovered daemon becomes a target to dial (its device ID is
// only a hint), a lost one stops being dialled. The handshake and binding decide the rest.

export type PeerDiscoveryInit = {
  name: string;
  deviceId: string;
  port: number;
  config: LinkConfig;
  links: LinkManager;
  log: Logger;
  /** From createMdnsRejections: outlives a restart of discovery (identity rotation). */
  rejections: Rejections<'mdns'>;
};

export type PeerDiscovery = { close(): Promise<void>; known(): number };

/**
 * Rejected announcements, counted by reason code for `hana status` and logged on the security
 * logger once per (reason, source) per minute: a forger repeating a packet, or an old daemon
 * re-announcing every few seconds, must not flood the log.
 */
export function createMdnsRejections(security: Logger, now?: () => number): Rejections<'mdns'> {
  return createRejections({
    channel: 'mdns',
    log: security,
    security,
    intervalMs: 60_000,
    ...(now && { now }),
  });
}

/** mDNS instance names: letters, digits and '-', at most 63 bytes, unique per daemon. */
export function mdnsInstance(name: string, deviceId: string): string {
  return `${name.replace(/[^A-Za-z0-9-]+/g, '-').slice(0, 40)}-${shortId(deviceId)}`;
}

export function startPeerDiscovery(init: PeerDiscoveryInit): PeerDiscovery {
  const { config, links, log } = init;
  const found = new Map<string, Remote>();
  const onReject = (r: MdnsRejection) =>
    init.rejections.reject(
      r.code,
      r.source,
      `discovery: ignored an mDNS announcement${r.instance ? ` of ${r.instance}` : ''} from ${r.source}: ${r.code}`,
      r.instance ? { instance: r.instance } : {},
    );
  const discovery = startDiscovery({
    instance: mdnsInstance(init.name, init.deviceId),
    port: init.port,
    deviceId: init.deviceId,
    ensembleTag: ensembleTag(config.ensemble.name),
    protocolVersion: LINK_VERSION,
    ...(config.bind !== '0.0.0.0' && { interface: config.bind }),
    onFound: (p) => {
      // Everything in p is validated (the address is the packet's source, the ID a well-formed
      // hint), and what follows never throws on it; this only keeps a future slip from
      // turning one announcement into a crash, since this runs in a socket callback.
      try {
        const remote = { address: p.address, port: p.port };
        found.set(p.instance, remote);
        log.info(
          { event: 'mdns.found', instance: p.instance, hint: p.deviceId, remote: `${p.address}:${p.port}` },
          `discovered ${p.instance}`,
        );
        links.addTarget(remote, p.deviceId);
      } catch (err) {
        log.error({ err, event: 'mdns.found-error' }, 'could not use a discovered peer');
      }
    },
    onLost: (instance) => {
      const remote = found.get(instance);
      found.delete(instance);
      if (remote) links.removeTarget(remote);
    },
    onWarning: (message) => log.warn({ event: 'mdns.warning' }, `discovery: ${message}`),
    onReject,
  });
  return { close: () => discovery.close(), known: () => discovery.known().length };
}
