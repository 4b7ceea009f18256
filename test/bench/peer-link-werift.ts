// The baseline the endpoint is measured against: two werift sockets, each on its own bare dgram
// socket on loopback, with nothing of ours in between (no record routing, no replay window of
// ours, no handshake verification). werift still runs its own anti-replay window.
import { createSocket, type Socket } from 'node:dgram';
import { verifyHandshake } from '../../protocols/dtls/verify-handshake.ts';
import {
  type Credentials,
  handshakeEvidence,
  type WeriftSocket,
  type WeriftTransport,
  weriftClient,
  weriftServer,
} from '../../protocols/dtls/werift.ts';
import { now, within } from './peer-link-common.ts';

export type WeriftPair = {
  client: WeriftSocket;
  server: WeriftSocket;
  /** connect() → both sides open, in ms; and this process's CPU time over it (both sides). */
  bothMs: number;
  cpuMs: number;
  /** With `checks`: the endpoint's handshake checks, run and timed here (zero otherwise). */
  checks: Checks;
  close(): void;
};

export type Checks = { partialMs: number; partialCalls: number; completeMs: number; refused: number };

/** A transport over its own socket, sending only to `peer`, with what arrives passed to werift. */
async function bareTransport(
  host: string,
): Promise<{ t: WeriftTransport; s: Socket; to(port: number): void }> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  // The endpoint asks for the same 4 MB receive buffer (DESIGN.md §1: the default drops a third).
  s.setRecvBufferSize(4 * 1024 * 1024);
  let peer = 0;
  const t: WeriftTransport = {
    type: 'udp',
    get address() {
      const a = s.address();
      return { address: a.address, family: a.family, port: a.port };
    },
    closed: false,
    onData: () => {},
    send: (data) =>
      new Promise<void>((resolve) => {
        if (t.closed) return resolve();
        s.send(data, peer, '127.0.0.1', () => resolve());
      }),
    close: async () => {},
  };
  // werift replaces onData with its own handler when the socket is built, so look it up per datagram.
  s.on('message', (msg) => t.onData(msg));
  return {
    t,
    s,
    to: (port) => {
      peer = port;
    },
  };
}

/**
 * A mutual handshake between two fresh werift sockets; both sockets are left open. With
 * `checks`, each side runs what the endpoint runs on its own sockets, timed: the partial
 * verification after every handshake message werift takes in while handshaking, and the
 * complete one when werift says it is connected (both on handshakeEvidence, as the endpoint).
 */
export async function weriftPair(
  client: Credentials,
  server: Credentials,
  checks = false,
): Promise<WeriftPair> {
  const a = await bareTransport('127.0.0.1');
  const b = await bareTransport('127.0.0.1');
  a.to(b.s.address().port);
  b.to(a.s.address().port);
  const timed: Checks = { partialMs: 0, partialCalls: 0, completeMs: 0, refused: 0 };
  const check = (sock: WeriftSocket, role: 'client' | 'server', stage: 'partial' | 'complete') => {
    const t0 = now();
    const ok = verifyHandshake(handshakeEvidence(sock, role), stage).ok;
    const ms = now() - t0;
    if (!ok) timed.refused++;
    if (stage === 'complete') timed.completeMs += ms;
    else {
      timed.partialMs += ms;
      timed.partialCalls++;
    }
  };
  const open = { client: false, server: false };
  // The endpoint checks progress only while a session is handshaking, as here.
  const progress = (role: 'client' | 'server') =>
    checks ? () => open[role] || check(role === 'client' ? cli : srv, role, 'partial') : undefined;
  const srv: WeriftSocket = weriftServer(b.t, server, progress('server'));
  const cli: WeriftSocket & { connect(): Promise<void> } = weriftClient(a.t, client, progress('client'));
  for (const [sock, role] of [
    [cli, 'client'],
    [srv, 'server'],
  ] as const) {
    sock.onConnect.subscribe(() => {
      open[role] = true;
      if (checks) check(sock, role, 'complete');
    });
  }
  const close = () => {
    for (const x of [a, b]) x.t.closed = true;
    for (const sock of [cli, srv]) {
      try {
        sock.close();
      } catch {
        // werift may throw closing a half-built session
      }
    }
    a.s.close();
    b.s.close();
  };
  const up = (sock: WeriftSocket) => new Promise<number>((r) => sock.onConnect.subscribe(() => r(now())));
  const clientUp = up(cli);
  const serverUp = up(srv);
  const cpu0 = process.cpuUsage();
  const t0 = now();
  cli.connect().catch(() => {});
  try {
    const [c, s] = await within(Promise.all([clientUp, serverUp]), 10_000, 'bare werift handshake');
    const cpu = process.cpuUsage(cpu0);
    return {
      client: cli,
      server: srv,
      bothMs: Math.max(c, s) - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      checks: timed,
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}
