import { createSocket, type Socket } from 'node:dgram';
import type { Remote } from '../osc/udp.ts';
import { checkRecords, clientHelloRandom, isClientHello } from './v1/records.ts';
import {
  type Credentials,
  type WeriftSocket,
  type WeriftTransport,
  weriftClient,
  weriftServer,
} from './werift.ts';

// One UDP socket, many DTLS sessions, demultiplexed by remote address:port (a werift socket
// serves one remote). Admission is cheapest first: ban list, size, record framing, then
// handshake rate per source and a cap on half-open handshakes, so a stranger spraying
// ClientHellos costs a few map lookups, not our memory.

export type DtlsRejectCode =
  | 'banned'
  | 'oversize'
  | 'malformed'
  | 'not-client-hello'
  | 'handshake-flood'
  | 'half-open-full'
  | 'session-limit'
  | 'handshake-timeout'
  | 'no-certificate';

export type DtlsSession = {
  readonly remote: Remote;
  readonly role: 'client' | 'server';
  /** The certificate the peer presented: unauthenticated until channel binding checks it. */
  readonly peerCertDer: Uint8Array;
  exporter(label: string, length: number): Uint8Array;
  send(bytes: Uint8Array): void;
  onData(fn: (bytes: Uint8Array) => void): void;
  onClose(fn: () => void): void;
  close(): void;
  /** Counts a protocol violation by this peer's address (bans after too many). */
  violation(detail: string): void;
  /**
   * The layer above heard nothing for a while. A silent session is kept (a cable pulled for
   * a few seconds heals on it without a new handshake), but a new handshake from the same
   * address and port replaces it: that is the peer restarted. A session still heard from
   * ignores such a handshake, so a spoofed ClientHello cannot tear down a live link.
   */
  setSilent(silent: boolean): void;
};

export type DtlsEndpointInit = {
  host: string;
  port: number;
  credentials: Credentials;
  maxSessions?: number;
  maxHalfOpen?: number;
  handshakesPerSecond?: number;
  handshakeTimeoutMs?: number;
  maxDatagramBytes?: number;
  banAfterViolations?: number;
  banMs?: number;
  onSession: (s: DtlsSession) => void;
  onReject: (code: DtlsRejectCode, from: Remote, detail: string) => void;
  now?: () => number;
};

export type DtlsEndpoint = {
  readonly port: number;
  /** Dials `remote`; resolves with the session to it, whichever side's handshake won. */
  connect(remote: Remote): Promise<DtlsSession>;
  stats(): { sessions: number; halfOpen: number; banned: number };
  close(): Promise<void>;
};

type Entry = {
  readonly remote: Remote;
  readonly role: 'client' | 'server';
  readonly transport: WeriftTransport;
  readonly sock: WeriftSocket;
  state: 'handshaking' | 'open' | 'closed';
  timer: NodeJS.Timeout;
  myHelloRandom?: string;
  session?: DtlsSession;
  silent?: boolean;
};

const keyOf = (r: Remote) => `${r.address}|${r.port}`;

export function openDtlsEndpoint(init: DtlsEndpointInit): Promise<DtlsEndpoint> {
  const now = init.now ?? Date.now;
  const maxSessions = init.maxSessions ?? 64;
  const maxHalfOpen = init.maxHalfOpen ?? 16;
  const handshakeTimeoutMs = init.handshakeTimeoutMs ?? 10_000;
  const maxDatagram = init.maxDatagramBytes ?? 2048;
  const banAfter = init.banAfterViolations ?? 20;
  const banMs = init.banMs ?? 60_000;
  const perSecond = init.handshakesPerSecond ?? 5;

  const entries = new Map<string, Entry>();
  const waiters = new Map<string, { resolve: (s: DtlsSession) => void; reject: (e: Error) => void }[]>();
  const handshakeLog = new Map<string, number[]>();
  const violations = new Map<string, { count: number; since: number }>();
  const bans = new Map<string, number>();
  const socket: Socket = createSocket({ type: init.host.includes(':') ? 'udp6' : 'udp4' });
  let closing = false;

  const halfOpen = () => [...entries.values()].filter((e) => e.state === 'handshaking').length;
  const openCount = () => [...entries.values()].filter((e) => e.state === 'open').length;

  function violation(remote: Remote, detail: string): void {
    // Counts fade after banMs, so a long-lived peer's rare slip never adds up to a ban, and the
    // table is bounded, so spoofed sources cannot grow it.
    const t = now();
    const prev = violations.get(remote.address);
    const n = prev && t - prev.since < banMs ? prev.count + 1 : 1;
    if (!prev && violations.size >= 4096) violations.delete(violations.keys().next().value!);
    violations.set(remote.address, { count: n, since: prev && t - prev.since < banMs ? prev.since : t });
    if (n < banAfter) return;
    violations.delete(remote.address);
    if (bans.size >= 1024) bans.delete(bans.keys().next().value!);
    bans.set(remote.address, now() + banMs);
    init.onReject(
      'banned',
      remote,
      `banned for ${banMs / 1000} s after ${banAfter} protocol violations (last: ${detail})`,
    );
    for (const e of [...entries.values()]) if (e.remote.address === remote.address) destroy(e);
  }

  function settle(key: string, session: DtlsSession | Error): void {
    const list = waiters.get(key);
    if (!list) return;
    waiters.delete(key);
    for (const w of list) session instanceof Error ? w.reject(session) : w.resolve(session);
  }

  function destroy(e: Entry, why?: Error): void {
    if (e.state === 'closed') return;
    const wasOpen = e.state === 'open';
    e.state = 'closed';
    clearTimeout(e.timer);
    if (entries.get(keyOf(e.remote)) === e) entries.delete(keyOf(e.remote));
    e.transport.closed = true;
    try {
      e.sock.close();
    } catch {
      // werift may throw closing a half-built session; it is gone either way.
    }
    if (!wasOpen)
      settle(
        keyOf(e.remote),
        why ?? new Error(`DTLS handshake with ${e.remote.address}:${e.remote.port} failed`),
      );
    if (wasOpen) for (const fn of closeFns.get(e) ?? []) fn();
    closeFns.delete(e);
  }

  const closeFns = new WeakMap<Entry, (() => void)[]>();

  function makeEntry(remote: Remote, role: 'client' | 'server'): Entry {
    const transport: WeriftTransport = {
      type: 'udp',
      get address() {
        const a = socket.address();
        return { address: a.address, family: a.family, port: a.port };
      },
      closed: false,
      onData: () => {},
      send: (data) =>
        new Promise<void>((resolve) => {
          if (transport.closed || closing) return resolve();
          if (role === 'client' && entry.myHelloRandom === undefined)
            entry.myHelloRandom = clientHelloRandom(data);
          socket.send(data, remote.port, remote.address, () => resolve());
        }),
      close: async () => {},
    };
    const cred = init.credentials;
    const sock = role === 'client' ? weriftClient(transport, cred) : weriftServer(transport, cred);
    const entry: Entry = {
      remote,
      role,
      transport,
      sock,
      state: 'handshaking',
      timer: setTimeout(() => {
        init.onReject('handshake-timeout', remote, `no complete handshake within ${handshakeTimeoutMs} ms`);
        destroy(entry, new Error(`DTLS handshake with ${remote.address}:${remote.port} timed out`));
      }, handshakeTimeoutMs),
    };
    sock.onConnect.subscribe(() => opened(entry));
    sock.onClose.subscribe(() => destroy(entry));
    entries.set(keyOf(remote), entry);
    return entry;
  }

  function opened(e: Entry): void {
    if (e.state !== 'handshaking') return;
    const der = e.sock.remoteCertificate;
    if (!der || der.length === 0) {
      init.onReject('no-certificate', e.remote, 'peer completed the handshake without a certificate');
      violation(e.remote, 'no certificate');
      destroy(e);
      return;
    }
    e.state = 'open';
    clearTimeout(e.timer);
    const dataFns: ((b: Uint8Array) => void)[] = [];
    closeFns.set(e, []);
    e.sock.onData.subscribe((buf) => {
      for (const fn of dataFns) fn(buf);
    });
    const session: DtlsSession = {
      remote: e.remote,
      role: e.role,
      peerCertDer: new Uint8Array(der),
      exporter: (label, length) => new Uint8Array(e.sock.exportKeyingMaterial(label, length)),
      send: (bytes) => {
        if (e.state === 'open') e.sock.send(Buffer.from(bytes)).catch(() => {});
      },
      onData: (fn) => dataFns.push(fn),
      onClose: (fn) => closeFns.get(e)?.push(fn),
      close: () => destroy(e),
      violation: (detail) => violation(e.remote, detail),
      setSilent: (silent) => {
        e.silent = silent;
      },
    };
    e.session = session;
    init.onSession(session);
    settle(keyOf(e.remote), session);
  }

  function admitHandshake(remote: Remote): boolean {
    const t = now();
    const recent = (handshakeLog.get(remote.address) ?? []).filter((at) => t - at < 1000);
    if (recent.length >= perSecond) {
      init.onReject('handshake-flood', remote, `more than ${perSecond} handshakes/s from ${remote.address}`);
      return false;
    }
    recent.push(t);
    if (handshakeLog.size >= 4096 && !handshakeLog.has(remote.address)) handshakeLog.clear();
    handshakeLog.set(remote.address, recent);
    // One source may hold only a few half-open slots, so it cannot fill the table alone.
    const fromSource = [...entries.values()].filter(
      (e) => e.state === 'handshaking' && e.remote.address === remote.address,
    ).length;
    if (fromSource >= Math.max(1, Math.floor(maxHalfOpen / 4))) {
      init.onReject(
        'half-open-full',
        remote,
        `${fromSource} handshakes from ${remote.address} already in progress`,
      );
      return false;
    }
    if (halfOpen() >= maxHalfOpen) {
      init.onReject('half-open-full', remote, `${maxHalfOpen} handshakes already in progress`);
      return false;
    }
    if (openCount() >= maxSessions) {
      init.onReject('session-limit', remote, `${maxSessions} sessions already open`);
      return false;
    }
    return true;
  }

  function onDatagram(msg: Buffer, remote: Remote): void {
    const until = bans.get(remote.address);
    if (until !== undefined) {
      if (now() < until) {
        init.onReject('banned', remote, 'datagram from a banned address');
        return;
      }
      bans.delete(remote.address);
    }
    if (msg.length > maxDatagram) {
      init.onReject('oversize', remote, `${msg.length}-byte datagram, limit ${maxDatagram}`);
      violation(remote, 'oversize datagram');
      return;
    }
    if (checkRecords(msg) !== 'ok') {
      init.onReject('malformed', remote, 'datagram is not well-formed DTLS records');
      violation(remote, 'malformed records');
      return;
    }
    const key = keyOf(remote);
    let e = entries.get(key);
    if (e && e.role === 'client' && e.state === 'handshaking' && isClientHello(msg)) {
      // Both sides dialled at once. The larger ClientHello random keeps the client role; the
      // other side yields and answers as server. Both compute the same answer.
      const theirs = clientHelloRandom(msg)!;
      if (e.myHelloRandom !== undefined && theirs < e.myHelloRandom) return;
      // Our dial's waiters are served by the session the peer's handshake produces.
      const dialling = waiters.get(key);
      waiters.delete(key);
      destroy(e);
      if (dialling) waiters.set(key, dialling);
      e = undefined;
    }
    if (e && e.state === 'open' && e.silent && isClientHello(msg)) {
      destroy(e); // the peer came back with a new handshake: it restarted
      e = undefined;
    }
    if (!e) {
      if (!isClientHello(msg)) {
        init.onReject('not-client-hello', remote, 'data for no session (a stale peer?)');
        return;
      }
      if (!admitHandshake(remote)) return;
      e = makeEntry(remote, 'server');
    }
    e.transport.onData(msg, remote);
  }

  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.on('message', (msg, rinfo) => onDatagram(msg, { address: rinfo.address, port: rinfo.port }));
    socket.bind({ port: init.port, address: init.host, exclusive: true }, () => {
      socket.off('error', reject);
      socket.on('error', () => {}); // ICMP unreachable on send: the link layer's liveness handles it
      try {
        socket.setRecvBufferSize(4 * 1024 * 1024);
      } catch {
        // capped by net.core.rmem_max; works, drops sooner under bursts
      }
      resolve({
        port: socket.address().port,
        connect(remote) {
          const key = keyOf(remote);
          const existing = entries.get(key);
          if (existing?.state === 'open' && existing.session) return Promise.resolve(existing.session);
          const p = new Promise<DtlsSession>((res, rej) => {
            waiters.set(key, [...(waiters.get(key) ?? []), { resolve: res, reject: rej }]);
          });
          if (!existing) {
            const e = makeEntry(remote, 'client');
            (e.sock as WeriftSocket & { connect(): Promise<void> }).connect().catch(() => {});
          }
          return p;
        },
        stats: () => ({ sessions: openCount(), halfOpen: halfOpen(), banned: bans.size }),
        close: async () => {
          closing = true;
          for (const e of [...entries.values()]) destroy(e, new Error('endpoint closed'));
          await new Promise<void>((r) => socket.close(() => r()));
        },
      });
    });
  });
}
