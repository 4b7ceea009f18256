import { createSocket, type Socket } from 'node:dgram';
import { realTimers, type Timers } from '../../daemon/timers.ts';
import type { Remote } from '../osc/udp.ts';
import { createAdmission } from './admission.ts';
import { createReplayWindow, type ReplayWindow } from './replay-window.ts';
import {
  ContentType,
  checkRecords,
  clientHelloRandom,
  isClientHello,
  type RecordView,
  splitRecords,
} from './v1/records.ts';
import { type HandshakeVerdict, verifyHandshake } from './verify-handshake.ts';
import {
  type Credentials,
  handshakeEvidence,
  pastCookie,
  stopRetransmitting,
  type WeriftSocket,
  type WeriftTransport,
  weriftClient,
  weriftServer,
} from './werift.ts';

// One UDP socket, many DTLS sessions, demultiplexed by remote address:port (a werift socket
// serves one remote). werift acts on whatever reaches it (a plaintext alert closes a session,
// an epoch-0 ClientHello renegotiates it), so records are routed here one by one and only what
// a session in its state may legitimately receive is handed to werift:
//  - a handshaking session gets its handshake records, bounded in count and fragment bytes;
//  - an open session gets only epoch-1 application data that is fresh in its replay window,
//    and the window moves only once werift has authenticated the record;
//  - alerts are never acted on (a peer's goodbye travels inside the link; silence does the rest);
//  - a session is handed up only after verifyHandshake has redone every check werift skips.
// A ClientHello from the address of an open session starts a second, "challenger" handshake
// beside it; the live session is untouched until the layer above has bound the challenger to
// the same device and closes the old one.

export type DtlsRejectCode =
  | 'banned'
  | 'oversize'
  | 'malformed'
  | 'not-client-hello'
  | 'handshake-flood'
  | 'half-open-full'
  | 'session-limit'
  | 'handshake-timeout'
  | 'no-certificate'
  | 'handshake-verify-failed'
  | 'fragment-flood'
  | 'plaintext-on-session'
  | 'alert-ignored'
  | 'replay'
  | 'bad-record';

export type DtlsSession = {
  readonly remote: Remote;
  readonly role: 'client' | 'server';
  /** The certificate the peer presented and proved it holds the key of, in this handshake. */
  readonly peerCertDer: Uint8Array;
  exporter(label: string, length: number): Uint8Array;
  send(bytes: Uint8Array): void;
  onData(fn: (bytes: Uint8Array) => void): void;
  onClose(fn: () => void): void;
  close(): void;
  /** Counts a protocol violation by this peer's address (new handshakes are banned after too many). */
  violation(detail: string): void;
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
  /** Handshake records one half-open session may send, and fragment bytes it may leave buffered. */
  maxHandshakeRecords?: number;
  maxFragmentBytes?: number;
  /** For the peer-link benchmark only: hand sessions up without verifying the handshake. */
  unverifiedForBenchmark?: boolean;
  onSession: (s: DtlsSession) => void;
  onReject: (code: DtlsRejectCode, from: Remote, detail: string) => void;
  now?: () => number;
  /** Handshake timeouts; werift's own retransmission timers are its own and cannot be injected. */
  timers?: Timers;
};

export type DtlsEndpointStats = {
  sessions: number;
  halfOpen: number;
  banned: number;
  /** Bytes of handshake fragments werift may hold for half-open sessions: at most maxHalfOpen × maxFragmentBytes. */
  fragmentBytes: number;
};

export type DtlsEndpoint = {
  readonly port: number;
  /** Dials `remote`; resolves with the session to it, whichever side's handshake won. */
  connect(remote: Remote): Promise<DtlsSession>;
  stats(): DtlsEndpointStats;
  close(): Promise<void>;
};

type Entry = {
  readonly remote: Remote;
  readonly role: 'client' | 'server';
  readonly transport: WeriftTransport;
  readonly sock: WeriftSocket;
  state: 'handshaking' | 'open' | 'closed';
  timer: unknown;
  myHelloRandom?: string;
  /** A client's: the random of the peer's ClientHello it last kept its role against. */
  theirHelloRandom?: string;
  session?: DtlsSession;
  /** Set by werift's onData during one record's delivery: the record authenticated. */
  delivered: boolean;
  dataFns: ((b: Uint8Array) => void)[];
  closeFns: (() => void)[];
  window: ReplayWindow;
  handshakeRecords: number;
  fragmentBytes: number;
  /** Transcript messages that passed a partial check. */
  checked: number;
};

/** Per address:port: the session in use, and at most one newer handshake that may replace it. */
type Slot = { primary?: Entry; challenger?: Entry };

const keyOf = (r: Remote) => `${r.address}|${r.port}`;

/**
 * The handshake fragments in an epoch-0 handshake record, as werift will take them: it reads
 * every message in the record (not only the first) and buffers each fragment; when the last
 * one arrives it allocates the length the fragments claim (up to 16 MiB) and keeps the result
 * in the transcript. Returns the fragments' bytes and the largest message length claimed.
 */
function fragmentLoad(record: Buffer): { bytes: number; claimed: number } {
  let bytes = 0;
  let claimed = 0;
  for (let at = 13; at + 12 <= record.length; ) {
    const length = record.readUIntBE(at + 1, 3);
    const size = 12 + record.readUIntBE(at + 9, 3);
    if (size - 12 !== length) {
      bytes += Math.min(size, record.length - at);
      claimed = Math.max(claimed, length);
    }
    at += size;
  }
  return { bytes, claimed };
}

export function openDtlsEndpoint(init: DtlsEndpointInit): Promise<DtlsEndpoint> {
  const timers = init.timers ?? realTimers;
  const maxSessions = init.maxSessions ?? 64;
  const maxHalfOpen = init.maxHalfOpen ?? 16;
  const handshakeTimeoutMs = init.handshakeTimeoutMs ?? 10_000;
  const maxDatagram = init.maxDatagramBytes ?? 2048;
  const maxHandshakeRecords = init.maxHandshakeRecords ?? 64;
  const maxFragmentBytes = init.maxFragmentBytes ?? 16 * 1024;

  const slots = new Map<string, Slot>();
  const all = new Set<Entry>();
  const waiters = new Map<string, { resolve: (s: DtlsSession) => void; reject: (e: Error) => void }[]>();
  const socket: Socket = createSocket({ type: init.host.includes(':') ? 'udp6' : 'udp4' });
  let closing = false;

  const count = (state: Entry['state'], address?: string) => {
    let n = 0;
    for (const e of all)
      if (e.state === state && (address === undefined || e.remote.address === address)) n++;
    return n;
  };
  const admission = createAdmission({
    now: init.now ?? Date.now,
    perSecond: init.handshakesPerSecond ?? 5,
    banAfter: init.banAfterViolations ?? 20,
    banMs: init.banMs ?? 60_000,
    maxHalfOpen,
    maxSessions,
    halfOpen: (address) => count('handshaking', address),
    open: () => count('open'),
    reject: init.onReject,
    onBan: (address) => {
      // A ban stops new handshakes from the address; a verified session there is left alone,
      // since the source of unauthenticated violations can be forged.
      for (const e of [...all]) if (e.remote.address === address && e.state === 'handshaking') destroy(e);
    },
  });

  // A ban shuts an address out of new handshakes, and any datagram's source can be forged: a
  // spoofer could otherwise get a real peer's address banned. So only a source that has shown
  // it receives at its address (it echoed our cookie, or it holds a verified session) can earn
  // violations; whatever else it sends is counted and dropped.
  const proven = (e: Entry) => e.state === 'open' || (e.role === 'server' && pastCookie(e.sock));

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
    timers.clear(e.timer);
    all.delete(e);
    const key = keyOf(e.remote);
    const slot = slots.get(key);
    if (slot?.challenger === e) slot.challenger = undefined;
    if (slot?.primary === e) {
      slot.primary = slot.challenger;
      slot.challenger = undefined;
    }
    if (slot && !slot.primary) slots.delete(key);
    e.transport.closed = true;
    stopRetransmitting(e.sock);
    try {
      e.sock.close();
    } catch {
      // werift may throw closing a half-built session; it is gone either way.
    }
    if (!wasOpen && !slots.get(key)?.primary)
      settle(key, why ?? new Error(`DTLS handshake with ${e.remote.address}:${e.remote.port} failed`));
    if (wasOpen) for (const fn of e.closeFns) fn();
  }

  function makeEntry(remote: Remote, role: 'client' | 'server', asChallenger: boolean): Entry {
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
    const progress = () => {
      if (entry.state === 'handshaking') refuseIfTampered(entry);
    };
    const sock =
      role === 'client' ? weriftClient(transport, cred, progress) : weriftServer(transport, cred, progress);
    const entry: Entry = {
      remote,
      role,
      transport,
      sock,
      state: 'handshaking',
      delivered: false,
      dataFns: [],
      closeFns: [],
      window: createReplayWindow(),
      handshakeRecords: 0,
      fragmentBytes: 0,
      checked: 0,
      timer: timers.set(handshakeTimeoutMs, () => {
        if (refuseIfTampered(entry)) return;
        init.onReject('handshake-timeout', remote, `no complete handshake within ${handshakeTimeoutMs} ms`);
        destroy(entry, new Error(`DTLS handshake with ${remote.address}:${remote.port} timed out`));
      }),
    };
    sock.onConnect.subscribe(() => opened(entry));
    // werift calls this synchronously while it handles a record, so `delivered` tells whether
    // the record just fed decrypted and authenticated.
    sock.onData.subscribe((buf) => {
      entry.delivered = true;
      if (entry.state === 'open') for (const fn of entry.dataFns) fn(buf);
    });
    const key = keyOf(remote);
    const slot = slots.get(key) ?? {};
    if (asChallenger) slot.challenger = entry;
    else slot.primary = entry;
    slots.set(key, slot);
    all.add(entry);
    return entry;
  }

  function refuse(e: Entry, verdict: Exclude<HandshakeVerdict, { ok: true }>): void {
    init.onReject('handshake-verify-failed', e.remote, `${verdict.check}: ${verdict.detail}`);
    if (proven(e)) admission.violation(e.remote, `handshake ${verdict.check}`);
    destroy(
      e,
      new Error(
        `DTLS handshake with ${e.remote.address}:${e.remote.port} failed verification (${verdict.check}): ${verdict.detail}`,
      ),
    );
  }

  /** Checks what has arrived so far; a relay that changed the transcript is named before any timeout. */
  function refuseIfTampered(e: Entry): boolean {
    if (init.unverifiedForBenchmark) return false;
    const evidence = handshakeEvidence(e.sock, e.role);
    // Only what arrived since the last check costs a signature or a key agreement: werift
    // reports progress after every flight, and ECDSA dominates the handshake's CPU.
    if (evidence.transcript.length === e.checked) return false;
    const verdict = verifyHandshake(evidence, 'partial', e.checked);
    e.checked = evidence.transcript.length;
    if (verdict.ok) return false;
    refuse(e, verdict);
    return true;
  }

  function opened(e: Entry): void {
    if (e.state !== 'handshaking') return;
    const der = e.sock.remoteCertificate;
    if (!der || der.length === 0) {
      init.onReject('no-certificate', e.remote, 'peer completed the handshake without a certificate');
      if (proven(e)) admission.violation(e.remote, 'no certificate');
      destroy(e);
      return;
    }
    if (!init.unverifiedForBenchmark) {
      const verdict = verifyHandshake(handshakeEvidence(e.sock, e.role));
      if (!verdict.ok) {
        refuse(e, verdict);
        return;
      }
    }
    e.state = 'open';
    timers.clear(e.timer);
    const session: DtlsSession = {
      remote: e.remote,
      role: e.role,
      peerCertDer: new Uint8Array(der),
      exporter: (label, length) => new Uint8Array(e.sock.exportKeyingMaterial(label, length)),
      send: (bytes) => {
        if (e.state === 'open') e.sock.send(Buffer.from(bytes)).catch(() => {});
      },
      onData: (fn) => e.dataFns.push(fn),
      onClose: (fn) => e.closeFns.push(fn),
      close: () => destroy(e),
      violation: (detail) => admission.violation(e.remote, detail),
    };
    e.session = session;
    init.onSession(session);
    settle(keyOf(e.remote), session);
  }

  function feed(e: Entry, r: RecordView): boolean {
    e.delivered = false;
    e.transport.onData(r.bytes, e.remote);
    return e.delivered;
  }

  /** An epoch-0 handshake record for a handshaking session, within its bounds. */
  function feedHandshake(e: Entry, r: RecordView): void {
    e.handshakeRecords++;
    const load = fragmentLoad(r.bytes);
    e.fragmentBytes += load.bytes;
    if (
      e.handshakeRecords > maxHandshakeRecords ||
      e.fragmentBytes > maxFragmentBytes ||
      load.claimed > maxFragmentBytes
    ) {
      init.onReject(
        'fragment-flood',
        e.remote,
        load.claimed > maxFragmentBytes
          ? `a handshake fragment of a ${load.claimed}-byte message, limit ${maxFragmentBytes}`
          : `more than ${maxHandshakeRecords} handshake records or ${maxFragmentBytes} fragment bytes in one handshake`,
      );
      if (proven(e)) admission.violation(e.remote, 'handshake record flood');
      destroy(e);
      return;
    }
    feed(e, r);
  }

  function onClientHello(key: string, remote: Remote, r: RecordView): void {
    let slot = slots.get(key);
    const p = slot?.primary;
    if (p && p.role === 'client' && p.state === 'handshaking') {
      // Both sides dialled at once. The larger ClientHello random keeps the client role; the
      // other side yields and answers as server. Both compute the same answer.
      // Unless this handshake has already heard from that address and the hello is one it has
      // not seen: whoever answered it is gone (a peer restarted on its port), the new process
      // has not yielded to us and cannot finish what the old one began, and keeping the role
      // stalled both sides until the handshake timeout. A retransmission of a hello already
      // kept against carries the same random and is still ignored.
      const theirs = clientHelloRandom(r.bytes)!;
      const restarted = p.handshakeRecords > 0 && theirs !== p.theirHelloRandom;
      if (!restarted && p.myHelloRandom !== undefined && theirs < p.myHelloRandom) {
        p.theirHelloRandom = theirs;
        return;
      }
      const dialling = waiters.get(key); // served by the session the peer's handshake produces
      waiters.delete(key);
      destroy(p);
      if (dialling) waiters.set(key, dialling);
      slot = slots.get(key);
    }
    const handshaking =
      slot?.challenger ?? (slot?.primary?.state === 'handshaking' ? slot.primary : undefined);
    if (handshaking?.state === 'handshaking') {
      feedHandshake(handshaking, r);
      return;
    }
    if (slot?.challenger) {
      init.onReject(
        'half-open-full',
        remote,
        'a ClientHello while a newer session from this address is still binding',
      );
      return;
    }
    if (!admission.admit(remote)) return;
    feedHandshake(makeEntry(remote, 'server', slot?.primary !== undefined), r);
  }

  function onApplicationData(slot: Slot, remote: Remote, r: RecordView): void {
    // The challenger is tried first: once it is open, the peer speaks on it. Trying a record
    // on the other costs one failed AEAD check, only while both exist.
    let replayed = false;
    for (const e of [slot.challenger, slot.primary]) {
      if (e?.state !== 'open') continue;
      if (!e.window.fresh(r.seq)) {
        replayed = true;
        continue;
      }
      if (feed(e, r)) {
        e.window.accept(r.seq);
        return;
      }
    }
    if (replayed) init.onReject('replay', remote, `record ${r.seq} was already received or is too old`);
    else init.onReject('bad-record', remote, 'an encrypted record that authenticates for no session');
  }

  function onRecord(key: string, remote: Remote, r: RecordView): void {
    if (r.type === ContentType.handshake && r.epoch === 0 && isClientHello(r.bytes)) {
      onClientHello(key, remote, r);
      return;
    }
    const slot = slots.get(key);
    if (!slot) {
      init.onReject('not-client-hello', remote, 'data for no session (a stale peer?)');
      return;
    }
    if (r.type === ContentType.alert) {
      init.onReject(
        'alert-ignored',
        remote,
        'alerts are never acted on; a peer says goodbye inside the link',
      );
      return;
    }
    const handshaking = [slot.challenger, slot.primary].find((e) => e?.state === 'handshaking');
    if (r.epoch === 0) {
      if (handshaking && r.type === ContentType.handshake) feedHandshake(handshaking, r);
      else if (handshaking) feed(handshaking, r);
      else
        init.onReject(
          'plaintext-on-session',
          remote,
          `a plaintext record (type ${r.type}) on an established session`,
        );
      return;
    }
    if (r.epoch !== 1) {
      init.onReject('bad-record', remote, `a record for epoch ${r.epoch}; sessions never renegotiate`);
      return;
    }
    if (r.type === ContentType.applicationData) {
      onApplicationData(slot, remote, r);
      return;
    }
    // An encrypted handshake record is a Finished: for the handshake under way, or a client
    // repeating its last flight because our Finished was lost (werift's server answers it).
    const target = handshaking ?? (slot.primary?.role === 'server' ? slot.primary : undefined);
    if (r.type !== ContentType.handshake || !target) {
      init.onReject('bad-record', remote, `an epoch-1 record of type ${r.type} outside a handshake`);
      return;
    }
    // Its fragments are encrypted, so fragmentLoad cannot see them, yet werift buffers them
    // for good on an open session: only the count bounds them. No violation and no close: a
    // replayed Finished reaches here too, and must not cost the live session anything.
    if (++target.handshakeRecords > maxHandshakeRecords) {
      init.onReject(
        'fragment-flood',
        remote,
        `more than ${maxHandshakeRecords} handshake records on one session`,
      );
      return;
    }
    feed(target, r);
  }

  function onDatagram(msg: Buffer, remote: Remote): void {
    if (msg.length > maxDatagram) {
      init.onReject('oversize', remote, `${msg.length}-byte datagram, limit ${maxDatagram}`);
      return;
    }
    if (checkRecords(msg) !== 'ok') {
      init.onReject('malformed', remote, 'datagram is not well-formed DTLS records');
      return;
    }
    const key = keyOf(remote);
    for (const r of splitRecords(msg)) onRecord(key, remote, r);
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
          const existing = slots.get(key)?.primary;
          if (existing?.state === 'open' && existing.session) return Promise.resolve(existing.session);
          const p = new Promise<DtlsSession>((res, rej) => {
            waiters.set(key, [...(waiters.get(key) ?? []), { resolve: res, reject: rej }]);
          });
          if (!existing) {
            const e = makeEntry(remote, 'client', false);
            (e.sock as WeriftSocket & { connect(): Promise<void> }).connect().catch(() => {});
          }
          return p;
        },
        stats: () => {
          let fragmentBytes = 0;
          for (const e of all) if (e.state === 'handshaking') fragmentBytes += e.fragmentBytes;
          return {
            sessions: count('open'),
            halfOpen: count('handshaking'),
            banned: admission.banned(),
            fragmentBytes,
          };
        },
        close: async () => {
          closing = true;
          for (const e of [...all]) destroy(e, new Error('endpoint closed'));
          await new Promise<void>((r) => socket.close(() => r()));
        },
      });
    });
  });
}
