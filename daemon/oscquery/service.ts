import { isIPv4 } from 'node:net';
import { type Advertisement, advertise } from '../../protocols/mdns/advertise.ts';
import type { Config } from '../config/schema.ts';
import { mdnsInstance } from '../link/discovery.ts';
import { type OscQueryServerInit, type OscQueryStats, startOscQueryServer } from './server.ts';

// OSCQuery in the daemon: the server where OSC listens, and its mDNS announcements
// (`_oscjson._tcp` for the server, `_osc._udp` for the OSC port), so apps on the LAN find both.

export type OscQueryServiceInit = Pick<
  OscQueryServerInit,
  'registry' | 'store' | 'ingest' | 'filter' | 'name' | 'oscPort' | 'log' | 'security'
> & { config: Config; deviceId: string };

export type OscQueryService = { status(): OscQueryStats | null; close(): Promise<void> };

export async function startOscQuery(init: OscQueryServiceInit): Promise<OscQueryService> {
  const { config, log } = init;
  if (!config.oscquery.enabled) return { status: () => null, close: async () => {} };
  const server = await startOscQueryServer({
    config: config.oscquery,
    bind: config.osc.bind,
    filter: init.filter,
    registry: init.registry,
    store: init.store,
    ingest: init.ingest,
    maxPacketBytes: config.osc.maxPacketBytes,
    name: init.name,
    oscPort: init.oscPort,
    log,
    security: init.security,
    rejectIntervalMs: config.log.rejectIntervalMs,
  });
  let ad: Advertisement | undefined;
  if (config.oscquery.advertise) {
    const bind = config.osc.bind;
    const name = mdnsInstance(init.name, init.deviceId);
    try {
      ad = advertise({
        services: [
          { name, type: 'oscjson', protocol: 'tcp', port: server.port },
          { name, type: 'osc', protocol: 'udp', port: init.oscPort },
        ],
        // A LAN address: announce there only. Loopback or a wildcard: every interface, so local
        // apps (which browse on whatever interface) find it too.
        ...(isIPv4(bind) && bind !== '0.0.0.0' && !bind.startsWith('127.') && { interface: bind }),
        onWarning: (message) => log.warn({ event: 'oscquery.mdns-warning' }, message),
      });
    } catch (err) {
      log.warn({ err, event: 'oscquery.mdns-warning' }, 'OSCQuery is not advertised over mDNS');
    }
  }
  return {
    status: () => server.stats(),
    async close() {
      await ad?.close();
      await server.close();
    },
  };
}
