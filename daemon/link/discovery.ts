import { startDiscovery } from '../../protocols/mdns/index.ts';
import type { Remote } from '../../protocols/osc/udp.ts';
import { shortId } from '../../trust-store/device-id.ts';
import type { LinkConfig } from '../config/link-schema.ts';
import type { Logger } from '../log.ts';
import { ensembleTag } from './binding.ts';
import type { LinkManager } from './manager.ts';
import { LINK_VERSION } from './wire.ts';

// mDNS feeds the link manager: a discovered daemon becomes a target to dial (its device ID is
// only a hint), a lost one stops being dialled. The handshake and binding decide the rest.

export type PeerDiscoveryInit = {
  name: string;
  deviceId: string;
  port: number;
  config: LinkConfig;
  links: LinkManager;
  log: Logger;
};

export function startPeerDiscovery(init: PeerDiscoveryInit): { close(): Promise<void> } {
  const { config, links, log } = init;
  const found = new Map<string, Remote>();
  return startDiscovery({
    // mDNS instance names: letters, digits and '-', at most 63 bytes, unique per daemon.
    instance: `${init.name.replace(/[^A-Za-z0-9-]+/g, '-').slice(0, 40)}-${shortId(init.deviceId)}`,
    port: init.port,
    deviceId: init.deviceId,
    ensembleTag: ensembleTag(config.ensemble.name),
    protocolVersion: LINK_VERSION,
    ...(config.bind !== '0.0.0.0' && { interface: config.bind }),
    onFound: (p) => {
      const remote = { address: p.address, port: p.port };
      found.set(p.instance, remote);
      log.info(
        { event: 'mdns.found', instance: p.instance, hint: p.deviceId, remote: `${p.address}:${p.port}` },
        `discovered ${p.instance}`,
      );
      links.addTarget(remote, p.deviceId);
    },
    onLost: (instance) => {
      const remote = found.get(instance);
      found.delete(instance);
      if (remote) links.removeTarget(remote);
    },
    onWarning: (message) => log.warn({ event: 'mdns.warning' }, `discovery: ${message}`),
  });
}
