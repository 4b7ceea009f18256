import { createSocket, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Endpoint } from './v1/discovery.ts';
import { MULTICAST_GROUP, MULTICAST_PORT } from './v1/wire.ts';

// The sockets a Link peer needs on each LAN interface, as Link opens them: one unicast socket
// that sends the interface's announcements to the multicast group and takes the answers, and
// one that answers and sends measurement pings (its address and port are announced as 'mep4');
// plus one socket on the multicast port that every interface joins. Link needs a real
// interface: loopback carries no multicast route here, and Link peers skip it.

export type LanAddress = { address: string; netmask: string };

export type Gateway = LanAddress & {
  discovery: Socket;
  measurement: Socket;
  measurementEndpoint: Endpoint;
};

export type Received = (bytes: Buffer, from: Endpoint, gateway: Gateway) => void;

export type GatewaysInit = {
  addresses: LanAddress[];
  onDiscovery: Received;
  onMeasurement: Received;
  onError(err: Error, where: string): void;
};

export type Gateways = {
  gateways: Gateway[];
  /** Sends on a gateway's socket; a failed send is reported through onError, never thrown. */
  send(socket: Socket, bytes: Uint8Array, to: Endpoint): void;
  close(): Promise<void>;
};

/** This machine's non-loopback IPv4 addresses. */
export function lanAddresses(): LanAddress[] {
  const out: LanAddress[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? [])
      if (a.family === 'IPv4' && !a.internal) out.push({ address: a.address, netmask: a.netmask });
  }
  return out;
}

const toInt = (ip: string) => ip.split('.').reduce((n, p) => ((n << 8) | Number(p)) >>> 0, 0);

/** The gateway on whose subnet `address` lies, or the first. */
export function gatewayFor<G extends LanAddress>(gateways: G[], address: string): G | undefined {
  const a = toInt(address);
  return gateways.find((g) => ((a ^ toInt(g.address)) & toInt(g.netmask)) === 0) ?? gateways[0];
}

function bind(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address, exclusive: false }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

const closeSocket = (s: Socket) => new Promise<void>((r) => s.close(() => r()));

export async function openGateways(init: GatewaysInit): Promise<Gateways> {
  const sockets: Socket[] = [];
  const gateways: Gateway[] = [];
  const open = () => {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('error', (err) => init.onError(err, 'socket'));
    sockets.push(s);
    return s;
  };
  try {
    for (const a of init.addresses) {
      const discovery = open();
      await bind(discovery, 0, a.address);
      discovery.setMulticastInterface(a.address);
      // Link peers on this same machine (another app) must see us, as Link sets it.
      discovery.setMulticastLoopback(true);
      // One hop: Link is a LAN protocol, and nothing of ours should leave the subnet.
      discovery.setMulticastTTL(1);
      const measurement = open();
      await bind(measurement, 0, a.address);
      const gw: Gateway = {
        ...a,
        discovery,
        measurement,
        measurementEndpoint: { address: a.address, port: measurement.address().port },
      };
      discovery.on('message', (b, r) => init.onDiscovery(b, { address: r.address, port: r.port }, gw));
      measurement.on('message', (b, r) => init.onMeasurement(b, { address: r.address, port: r.port }, gw));
      gateways.push(gw);
    }
    if (gateways.length > 0) {
      const multicast = open();
      await bind(multicast, MULTICAST_PORT, '0.0.0.0');
      for (const g of gateways) {
        try {
          multicast.addMembership(MULTICAST_GROUP, g.address);
        } catch (err) {
          // Two addresses on one interface: the group is joined once per interface.
          if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        }
      }
      multicast.on('message', (b, r) => {
        const gw = gatewayFor(gateways, r.address);
        if (gw) init.onDiscovery(b, { address: r.address, port: r.port }, gw);
      });
    }
  } catch (err) {
    await Promise.all(sockets.map(closeSocket));
    throw err;
  }
  return {
    gateways,
    send(socket, bytes, to) {
      socket.send(bytes, to.port, to.address, (err) => {
        if (err) init.onError(err, `send to ${to.address}:${to.port}`);
      });
    },
    close: () => Promise.all(sockets.map(closeSocket)).then(() => undefined),
  };
}
