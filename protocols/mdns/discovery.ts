import { isIPv4 } from 'node:net';
import { Bonjour, type Service, type ServiceConfig } from 'bonjour-service';
import { parseDeviceId } from '../../trust-store/device-id.ts';
import {
  type DiscoveredPeer,
  encodeTxt,
  isValidInstance,
  isValidPort,
  isValidToken,
  MAX_INSTANCE_BYTES,
  MAX_TXT_VALUE_CHARS,
  type MdnsRejectCode,
  type MdnsRejection,
} from './peer.ts';
import { createPeerTable } from './peer-table.ts';

// Advertise this daemon as `_hana._udp` and browse for the others of the same ensemble, over
// bonjour-service 1.4.4 (its pitfalls are in DESIGN.md §1).

export type { DiscoveredPeer } from './peer.ts';
export {
  MDNS_REJECT_CODES,
  type MdnsRejectCode,
  type MdnsRejection,
  type PeerRejection,
  parsePeer,
} from './peer.ts';

export type DiscoveryInit = {
  /** Our unique instance name (one DNS label: no dots, ≤ 63 bytes); all namespaces on a host share one hostname. */
  instance: string;
  port: number;
  deviceId: string;
  /** A non-secret tag of the ensemble name: two bands on one LAN must not see each other. */
  ensembleTag: string;
  protocolVersion: number;
  /** IPv4 of the interface to use; we then also bind 0.0.0.0, or nothing is received. */
  interface?: string;
  /** Re-query period; default 5000. A browser can miss a peer for 10+ s under loss. */
  requeryMs?: number;
  onFound: (p: DiscoveredPeer) => void;
  onLost: (instance: string) => void;
  onWarning: (message: string) => void;
  /**
   * Every announcement (or packet) we ignored, with a stable code and its source IP. Without it,
   * one onWarning per (code, source) per minute.
   */
  onReject?: (r: MdnsRejection) => void;
};

export type Discovery = {
  close(): Promise<void>;
  known(): DiscoveredPeer[];
  /** Rejected announcements by reason, since start. */
  rejected(): Partial<Record<MdnsRejectCode, number>>;
};

const SERVICE_TYPE = 'hana';
const QUERY_NAME = '_hana._udp.local';
const WARN_EVERY_MS = 60_000;
const CLOSE_STEP_MS = 2_000;
const MAX_WARN_KEYS = 256;

type Mdns = {
  on(event: 'warning' | 'error', listener: (err: unknown) => void): unknown;
  query(name: string, type: string, cb: (err: Error | null) => void): void;
};

/** Throws on a bad init (a programmer error); never throws on what arrives from the network. */
export function startDiscovery(init: DiscoveryInit): Discovery {
  checkInit(init);
  const requeryMs = init.requeryMs ?? 5000;
  let closing: Promise<void> | undefined;
  const warn = rateLimited((m) => {
    if (closing === undefined) init.onWarning(m);
  });

  const onReject =
    init.onReject ??
    ((r: MdnsRejection) =>
      warn(
        `${r.code} ${r.source}`,
        `mdns: ignoring an announcement${r.instance ? ` of ${r.instance}` : ''} from ${r.source}: ${r.code}`,
      ));
  const table = createPeerTable({
    ownInstance: init.instance,
    ensembleTag: init.ensembleTag,
    onReject: (r) => {
      if (closing === undefined) onReject(r);
    },
    // Events racing close() would reach a caller that has already let go of us.
    onFound: (p) => {
      if (closing === undefined) init.onFound(p);
    },
    onLost: (i) => {
      if (closing === undefined) init.onLost(i);
    },
    onWarning: (m) => {
      if (closing === undefined) init.onWarning(m);
    },
  });

  const mdnsOpts: Record<string, unknown> = init.interface
    ? { interface: init.interface, bind: '0.0.0.0' }
    : {};
  // Without this callback a failed reply to a query is thrown from a socket callback (a crash).
  const bonjour = new Bonjour(mdnsOpts as Partial<ServiceConfig>, (err: unknown) =>
    warn('reply', `mdns: reply not sent (${describe(err)})`),
  );
  const mdns = mdnsOf(bonjour);
  // multicast-dns reports a packet it cannot decode as a 'warning' too: that one is input to
  // count, not a fault of ours to warn about (socket errors carry an errno code, E…).
  mdns.on('warning', (err) => {
    if (/^E[A-Z0-9]+$/.test(codeOf(err))) warn(codeOf(err), `mdns: ${describe(err)}`);
    else table.reject({ code: 'undecodable', source: 'unknown' });
  });
  // 'error' is a failed bind (EADDRINUSE/EACCES): discovery is dead, but the daemon is not.
  mdns.on('error', (err) =>
    warn('bind', `mdns: cannot listen on UDP 5353 (${describe(err)}); discovery is off`),
  );

  const service: Service = bonjour.publish({
    name: init.instance,
    type: SERVICE_TYPE,
    protocol: 'udp',
    port: init.port,
    txt: encodeTxt(init),
    // We only dial IPv4; AAAA records would only make every answer bigger.
    disableIPv6: true,
  });
  const browser = bonjour.find({ type: SERVICE_TYPE, protocol: 'udp' });
  // These run inside the socket's message handler: a throw there, from our code or a caller's
  // callback, would end the process. An announcement is a hint, never a reason to crash.
  const guarded = (what: string, f: () => void) => {
    try {
      f();
    } catch (err) {
      warn(`internal ${what}`, `mdns: handling an announcement failed (${describe(err)})`);
    }
  };
  browser.on('up', (s) => guarded('up', () => table.seen(s)));
  browser.on('srv-update', (s) => guarded('up', () => table.seen(s)));
  browser.on('txt-update', (s) => guarded('up', () => table.seen(s)));
  browser.on('down', (s) => guarded('down', () => table.gone(s?.name)));

  // The same query as browser.update(), but bonjour drops send errors: with no multicast route
  // every send fails with ENETUNREACH and nothing else tells us (measured: no 'warning' event).
  const requery = () =>
    mdns.query(QUERY_NAME, 'PTR', (err) => {
      if (err) warn(codeOf(err), `mdns: cannot send a multicast query (${describe(err)}); ${routeHint(err)}`);
    });
  let conflictReported = false;
  const tick = () => {
    requery();
    // bonjour only expires on request; its PTR TTL is 8 h counted from first sight, so
    // peer liveness belongs to the session layer, not here.
    browser.expire();
    // bonjour stops a service whose name is taken and only console.logs it.
    if (!service.activated && !conflictReported) {
      conflictReported = true;
      init.onWarning(
        `mdns: instance name "${service.name}" is already in use on the network; not advertised`,
      );
    }
  };
  // bonjour's browser has just sent this query too, but blind: ours reports a missing route now.
  requery();
  const timer = setInterval(tick, requeryMs);
  timer.unref();

  const close = async () => {
    clearInterval(timer);
    browser.stop();
    browser.removeAllListeners();
    // Goodbye (TTL 0) first, so peers drop us now rather than in 8 hours.
    await bounded(
      new Promise<void>((done) =>
        service.stop((err?: unknown) => {
          if (err) init.onWarning(`mdns: goodbye not sent (${describe(err)})`);
          done();
        }),
      ),
    );
    await bounded(new Promise<void>((done) => bonjour.destroy(() => done())));
    table.clear();
  };

  return {
    close() {
      closing ??= close();
      return closing;
    },
    known: () => table.known(),
    rejected: () => table.rejected(),
  };
}

function checkInit(init: DiscoveryInit): void {
  if (!isValidInstance(init.instance)) {
    throw new RangeError(`mdns: instance must be one DNS label (no dots, 1–${MAX_INSTANCE_BYTES} bytes)`);
  }
  if (!isValidPort(init.port)) throw new RangeError('mdns: port must be an integer in 1–65535');
  if (!isValidToken(init.ensembleTag)) {
    throw new RangeError(`mdns: ensembleTag must be 1–${MAX_TXT_VALUE_CHARS} printable ASCII chars`);
  }
  // Peers reject an announcement whose id is not a device ID: better to learn it here.
  if (typeof init.deviceId !== 'string' || !parseDeviceId(init.deviceId).ok) {
    throw new RangeError('mdns: deviceId must be a device ID');
  }
  if (
    !Number.isInteger(init.protocolVersion) ||
    init.protocolVersion < 1 ||
    init.protocolVersion > 999_999_999
  ) {
    throw new RangeError('mdns: protocolVersion must be a positive integer');
  }
  if (init.interface !== undefined && !isIPv4(init.interface)) {
    throw new RangeError('mdns: interface must be an IPv4 address');
  }
  const r = init.requeryMs;
  if (r !== undefined && (!Number.isInteger(r) || r < 100 || r > 3_600_000)) {
    throw new RangeError('mdns: requeryMs must be an integer in 100–3600000');
  }
}

// bonjour-service keeps its multicast-dns instance private, yet it is the only place its
// warnings are emitted and the only way to learn that a send failed. Pinned at 1.4.4.
export function mdnsOf(bonjour: Bonjour): Mdns {
  const mdns = (bonjour as unknown as { server?: { mdns?: Partial<Mdns> } }).server?.mdns;
  if (typeof mdns?.on !== 'function' || typeof mdns.query !== 'function') {
    throw new Error('bonjour-service internals changed: server.mdns not found (expected 1.4.4)');
  }
  return mdns as Mdns;
}

/** At most one message per key per minute: a LAN sending garbage must not flood the log. */
function rateLimited(onWarning: (message: string) => void) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key: string, message: string) => {
    const now = Date.now();
    const entry = last.get(key);
    if (entry && now - entry.at < WARN_EVERY_MS) {
      entry.suppressed++;
      return;
    }
    const more = entry?.suppressed ? ` (${entry.suppressed} more since the last report)` : '';
    // Keys include source addresses: a LAN of forgers must not grow this without bound.
    if (last.size >= MAX_WARN_KEYS) last.clear();
    last.set(key, { at: now, suppressed: 0 });
    onWarning(message + more);
  };
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'other';
}

export function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 200);
  const code = codeOf(err);
  return code !== 'other' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}

function routeHint(err: unknown): string {
  return codeOf(err) === 'ENETUNREACH'
    ? 'no route to 224.0.0.251: add a multicast route (224.0.0.0/4) or set the interface'
    : 'peers may not see us';
}

export function bounded(p: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((done) => {
    timer = setTimeout(done, CLOSE_STEP_MS);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}
