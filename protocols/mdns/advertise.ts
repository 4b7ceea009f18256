import { isIPv4 } from 'node:net';
import { Bonjour, type Service, type ServiceConfig } from 'bonjour-service';
import { bounded, describe, mdnsOf } from './discovery.ts';
import { isValidInstance, isValidPort, MAX_INSTANCE_BYTES } from './peer.ts';

// Publish-only services for other apps to find (OSCQuery's `_oscjson._tcp`, OSC's `_osc._udp`):
// nothing is browsed, so nothing from the LAN is read here beyond what bonjour answers to.
// Same bonjour-service 1.4.4 and the same pitfalls as discovery.ts (DESIGN.md §1).

export type AdvertisedService = {
  /** Instance name: one DNS label (no dots, ≤ 63 bytes). */
  readonly name: string;
  /** Service type without underscore, e.g. "oscjson". */
  readonly type: string;
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
};

export type AdvertiseInit = {
  services: readonly AdvertisedService[];
  /** IPv4 of the interface to announce on; default every interface. */
  interface?: string;
  onWarning: (message: string) => void;
};

export type Advertisement = { close(): Promise<void> };

/** Throws on a bad init (a programmer error); a network that refuses the packets only warns. */
export function advertise(init: AdvertiseInit): Advertisement {
  for (const s of init.services) {
    if (!isValidInstance(s.name)) {
      throw new RangeError(`mdns: instance must be one DNS label (no dots, 1–${MAX_INSTANCE_BYTES} bytes)`);
    }
    if (!isValidPort(s.port)) throw new RangeError('mdns: port must be an integer in 1–65535');
    if (!/^[a-z0-9-]{1,15}$/.test(s.type))
      throw new RangeError('mdns: service type must be 1–15 of a-z 0-9 -');
  }
  if (init.interface !== undefined && !isIPv4(init.interface)) {
    throw new RangeError('mdns: interface must be an IPv4 address');
  }
  let closed = false;
  const warn = (m: string) => {
    if (!closed) init.onWarning(m);
  };
  const opts: Record<string, unknown> = init.interface ? { interface: init.interface, bind: '0.0.0.0' } : {};
  // Without this callback a failed reply is thrown from a socket callback (a crash).
  const bonjour = new Bonjour(opts as Partial<ServiceConfig>, (err: unknown) =>
    warn(`mdns: reply not sent (${describe(err)})`),
  );
  const mdns = mdnsOf(bonjour);
  // Undecodable packets from the LAN are discovery's to count; here only our own faults matter.
  mdns.on('warning', () => {});
  mdns.on('error', (err) => warn(`mdns: cannot listen on UDP 5353 (${describe(err)}); not advertised`));
  const published: Service[] = init.services.map((s) =>
    bonjour.publish({ name: s.name, type: s.type, protocol: s.protocol, port: s.port, disableIPv6: true }),
  );
  // bonjour stops a service whose name is taken and only console.logs it; probing takes ~1 s.
  const check = setTimeout(() => {
    for (const service of published) {
      if (!service.activated)
        warn(`mdns: "${service.name}" (${service.type}) is already in use on the network; not advertised`);
    }
  }, 5000);
  check.unref();

  return {
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(check);
      // Goodbyes (TTL 0) first, so browsers drop us now rather than in 8 hours.
      await bounded(new Promise<void>((done) => bonjour.unpublishAll(() => done())));
      await bounded(new Promise<void>((done) => bonjour.destroy(() => done())));
    },
  };
}
