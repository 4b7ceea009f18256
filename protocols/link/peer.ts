import { randomBytes } from 'node:crypto';
import { type Gateway, type Gateways, type LanAddress, lanAddresses, openGateways } from './gateways.ts';
import { createSourceLimiter } from './limiter.ts';
import { type LinkTimers, type Measured, type Measurement, startMeasurement } from './measure.ts';
import {
  beatsAt,
  makeTimeline,
  newerStartStop,
  phaseOf,
  proposeStartStop,
  proposeTempo,
  REMEASURE_MS,
  shouldJoin,
  supersedes,
} from './session.ts';
import {
  decodeDiscovery,
  type Endpoint,
  encodeAnnouncement,
  encodeByeBye,
  type PeerState,
  type WireStartStop,
  type WireTimeline,
} from './v1/discovery.ts';
import type { Decoded, LinkRefusal } from './v1/entries.ts';
import { decodeMeasurement, encodePong } from './v1/measurement.ts';
import {
  DEFAULT_TTL,
  MAX_BPM,
  MIN_BPM,
  MIN_BROADCAST_MS,
  MULTICAST_GROUP,
  MULTICAST_PORT,
  TTL_RATIO,
} from './v1/wire.ts';

// A Link peer: announces our state on every LAN interface, answers pings, measures the peers
// of other sessions and joins the one Link's rules pick (session.ts), and follows and proposes
// the session's tempo, beat and start/stop. Untrusted bytes go through the v1 decoders after a
// per-source token bucket; every refusal reaches `onReject` with a code. Time is the host's
// monotonic clock in µs (`now`), timers are injected.

export type LinkRejectCode = LinkRefusal | 'flood' | 'too-many-peers';

/** The session timeline on our host clock. */
export type HostTimeline = {
  bpm: number;
  microsPerBeat: number;
  /** Beats at timeOrigin. */
  beatOrigin: number;
  /** Host time, µs. */
  timeOrigin: number;
};

export type LinkSnapshot = {
  nodeId: string;
  sessionId: string;
  /** Other peers in our session. */
  peers: number;
  timeline: HostTimeline;
  playing: boolean;
  /** Host time of the last start or stop, µs; null before any. */
  startStopAt: number | null;
  /**
   * How far our reading of the session's ghost time can be off, µs: the half width of the last
   * measurement of a member (measure.ts). Null in a session we founded: its ghost time is ours,
   * and the other peers measure us with their own estimators.
   */
  interceptErrorUs: number | null;
};

export type LinkPeerInit = {
  /** Our tempo until we join a session. */
  tempo: number;
  /** Our beat now, until we join a session (default 0): an app that already counts keeps its phase. */
  beat?: number;
  /**
   * The interfaces to use, or a function giving them now: it is asked again every RESCAN_MS,
   * so a laptop that joins the network after hana started still finds the session. Default:
   * every non-loopback IPv4 interface.
   */
  addresses?: LanAddress[] | (() => LanAddress[]);
  /** The interfaces changed (after a rescan): what we use now. */
  onInterfaces?(addresses: string[]): void;
  /** Host time, µs: CLOCK_MONOTONIC by default, the clock Link uses on Linux. */
  now?: () => number;
  timers?: LinkTimers;
  /** Datagrams per second each source may send, and its burst (a measurement is ~50 at once). */
  perSourcePerSecond?: number;
  burst?: number;
  maxPeers?: number;
  onReject(code: LinkRejectCode, source: string, message: string): void;
  onChange?(snapshot: LinkSnapshot): void;
  onError?(err: Error, where: string): void;
};

export type LinkPeer = {
  snapshot(): LinkSnapshot;
  /** Proposes a tempo to the session; false when outside 20–999. */
  setTempo(bpm: number): boolean;
  setPlaying(playing: boolean): void;
  stats(): { received: number; refused: number; measurements: number; joined: number };
  /** Where we answer pings, one per interface (announced as 'mep4'). */
  endpoints(): Endpoint[];
  close(): Promise<void>;
};

type Known = { state: PeerState; gateway: Gateway; expires: number };
type OtherSession = { timeline: WireTimeline; measuring: boolean; retryAfter: number };

const defaultNow = () => Number(process.hrtime.bigint() / 1000n);
const realTimers: LinkTimers = {
  set: (d, f) => setTimeout(f, d),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};
const FAILED_SESSION_RETRY_US = 5_000_000;
/**
 * A measurement whose bound is wider than this (a loaded laptop: most pongs read late) is
 * repeated after LOOSE_REMEASURE_MS instead of REMEASURE_MS, until one comes back tight.
 */
const TIGHT_INTERCEPT_US = 250;
const LOOSE_REMEASURE_MS = 2000;
/** How often the interfaces are looked at again. */
export const RESCAN_MS = 5000;
const keyOf = (as: readonly LanAddress[]) =>
  as
    .map((a) => `${a.address}/${a.netmask}`)
    .sort()
    .join(' ');

export async function startLinkPeer(init: LinkPeerInit): Promise<LinkPeer> {
  const now = init.now ?? defaultNow;
  const timers = init.timers ?? realTimers;
  const rate = init.perSourcePerSecond ?? 400;
  const burst = init.burst ?? 300;
  const maxPeers = init.maxPeers ?? 64;
  const nodeId = randomBytes(8).toString('hex');
  let sessionId = nodeId;
  // Ghost time starts at 0 now, as a fresh Link peer's does.
  let intercept = -now();
  let interceptErrorUs = 0;
  let timeline = makeTimeline(init.tempo, Math.round((init.beat ?? 0) * 1e6), 0);
  let startStop: WireStartStop = { playing: false, beats: 0, timestamp: 0 };
  let startStopSeen = false;
  const peers = new Map<string, Known>();
  const others = new Map<string, OtherSession>();
  const measuring = new Map<string, Measurement>();
  const limiter = createSourceLimiter(rate, burst);
  const stats = { received: 0, refused: 0, measurements: 0, joined: 0 };
  let closed = false;
  let lastBroadcast = -Infinity;
  let broadcastTimer: unknown;
  let pruneTimer: unknown;
  let rescanTimer: unknown;
  let remeasureTimer: unknown;
  let lastNotified = '';

  const ghostNow = () => now() + intercept;
  const reject = (code: LinkRejectCode, from: Endpoint, message: string) => {
    stats.refused++;
    init.onReject(code, from.address, message);
  };

  function snapshot(): LinkSnapshot {
    let count = 0;
    for (const p of peers.values()) if (p.state.sessionId === sessionId) count++;
    return {
      nodeId,
      sessionId,
      peers: count,
      timeline: {
        bpm: timeline.bpm,
        microsPerBeat: timeline.microsPerBeat,
        beatOrigin: timeline.beatOrigin / 1e6,
        timeOrigin: timeline.timeOrigin - intercept,
      },
      playing: startStop.playing,
      startStopAt: startStopSeen ? startStop.timestamp - intercept : null,
      interceptErrorUs: sessionId === nodeId ? null : interceptErrorUs,
    };
  }

  function notify(): void {
    const s = snapshot();
    const key = `${s.sessionId} ${s.peers} ${timeline.microsPerBeat} ${timeline.beatOrigin} ${s.timeline.timeOrigin} ${s.playing} ${s.startStopAt}`;
    if (key === lastNotified) return;
    lastNotified = key;
    init.onChange?.(s);
  }

  const ownState = (gw: Gateway): PeerState => ({
    sessionId,
    timeline,
    startStop,
    measurement: gw.measurementEndpoint,
  });

  function broadcastNow(): void {
    lastBroadcast = now();
    for (const gw of gws.gateways) {
      gws.send(gw.discovery, encodeAnnouncement('alive', DEFAULT_TTL, nodeId, ownState(gw)), {
        address: MULTICAST_GROUP,
        port: MULTICAST_PORT,
      });
    }
  }

  /** Announces at once (at most every MIN_BROADCAST_MS), then every TTL/TTL_RATIO. */
  function broadcast(): void {
    if (closed) return;
    timers.clear(broadcastTimer);
    const waitMs = MIN_BROADCAST_MS - (now() - lastBroadcast) / 1000;
    if (waitMs >= 1) {
      broadcastTimer = timers.set(waitMs, broadcast);
      return;
    }
    broadcastNow();
    broadcastTimer = timers.set((DEFAULT_TTL * 1000) / TTL_RATIO, broadcast);
  }

  function measure(target: Known, sid: string, done: (result: Measured | null) => void): void {
    const ep = target.state.measurement;
    if (!ep) {
      done(null);
      return;
    }
    const key = `${ep.address}:${ep.port}`;
    measuring.get(key)?.cancel();
    stats.measurements++;
    measuring.set(
      key,
      startMeasurement({
        target: ep,
        sessionId: sid,
        now,
        timers,
        send: (b, to) => gws.send(target.gateway.measurement, b, to),
        done: (r) => {
          measuring.delete(key);
          if (!closed) done(r);
        },
      }),
    );
  }

  /** A member of session `sid` to measure, its founder first (as Link prefers). */
  function memberOf(sid: string): Known | undefined {
    const founder = peers.get(sid);
    if (founder && founder.state.sessionId === sid) return founder;
    for (const p of peers.values()) if (p.state.sessionId === sid) return p;
    return undefined;
  }

  function joinOrNot(sid: string, result: Measured | null): void {
    const other = others.get(sid);
    if (!other) return;
    other.measuring = false;
    if (result === null) {
      other.retryAfter = now() + FAILED_SESSION_RETRY_US;
      return;
    }
    if (!shouldJoin(now(), { sessionId, intercept }, { sessionId: sid, intercept: result.intercept })) {
      // Measured and not joined: Link leaves such a session be until its peers go.
      other.retryAfter = Number.POSITIVE_INFINITY;
      return;
    }
    others.delete(sid);
    others.set(sessionId, { timeline, measuring: false, retryAfter: Number.POSITIVE_INFINITY });
    sessionId = sid;
    intercept = result.intercept;
    interceptErrorUs = result.errorUs;
    timeline = other.timeline;
    // A new session's start/stop comes from its members; ours no longer counts.
    startStop = { playing: false, beats: 0, timestamp: 0 };
    startStopSeen = false;
    const member = memberOf(sid);
    if (member && newerStartStop(member.state.startStop, startStop)) {
      startStop = member.state.startStop!;
      startStopSeen = true;
    }
    stats.joined++;
    scheduleRemeasure();
    broadcast();
    notify();
  }

  function scheduleRemeasure(): void {
    timers.clear(remeasureTimer);
    const loose = sessionId !== nodeId && interceptErrorUs > TIGHT_INTERCEPT_US;
    remeasureTimer = timers.set(loose ? LOOSE_REMEASURE_MS : REMEASURE_MS, () => {
      const member = memberOf(sessionId);
      if (member && sessionId !== nodeId) {
        const sid = sessionId;
        measure(member, sid, (r) => {
          if (r !== null && sid === sessionId) {
            intercept = r.intercept;
            interceptErrorUs = r.errorUs;
            // The next one when this one's bound says (a failed or cancelled one keeps the
            // schedule set when it began).
            scheduleRemeasure();
            notify();
          }
        });
      }
      scheduleRemeasure();
    });
  }

  function onPeerState(id: string, ttl: number, state: PeerState, gw: Gateway, from: Endpoint): void {
    if (!peers.has(id) && peers.size >= maxPeers) {
      reject('too-many-peers', from, `Link peer ${id} ignored: ${maxPeers} peers already known`);
      return;
    }
    peers.set(id, { state, gateway: gw, expires: now() + ttl * 1e6 });
    if (state.sessionId === sessionId) {
      if (supersedes(state.timeline, timeline)) timeline = state.timeline;
      if (newerStartStop(state.startStop, startStop)) {
        startStop = state.startStop!;
        startStopSeen = true;
      }
    } else {
      const other = others.get(state.sessionId);
      if (!other) {
        others.set(state.sessionId, { timeline: state.timeline, measuring: false, retryAfter: 0 });
      } else if (supersedes(state.timeline, other.timeline)) {
        other.timeline = state.timeline;
      }
      const o = others.get(state.sessionId)!;
      if (!o.measuring && now() >= o.retryAfter) {
        const member = memberOf(state.sessionId);
        if (member) {
          o.measuring = true;
          const sid = state.sessionId;
          measure(member, sid, (r) => joinOrNot(sid, r));
        }
      }
    }
    notify();
  }

  /** The rate limit and the decoder, with refusals counted; the message or undefined. */
  function intake<T>(from: Endpoint, decoded: () => Decoded<T>, what: string): T | undefined {
    if (closed) return undefined;
    if (!limiter.admit(from.address, now())) {
      reject('flood', from, `Link datagrams from ${from.address} over the rate limit`);
      return undefined;
    }
    stats.received++;
    const d = decoded();
    if (d.ok) return d.value;
    reject(d.code, from, `Link ${what} datagram from ${from.address} refused: ${d.code}`);
    return undefined;
  }

  function onDiscovery(bytes: Buffer, from: Endpoint, gw: Gateway): void {
    const m = intake(from, () => decodeDiscovery(bytes), 'discovery');
    if (!m) return;
    if (m.nodeId === nodeId) return;
    if (m.type === 'byebye') {
      peers.delete(m.nodeId);
      notify();
      return;
    }
    // An announcement to the group is answered straight to its sender, as Link does.
    if (m.type === 'alive')
      gws.send(gw.discovery, encodeAnnouncement('response', DEFAULT_TTL, nodeId, ownState(gw)), from);
    onPeerState(m.nodeId, m.ttl, m.state, gw, from);
  }

  function onMeasurement(bytes: Buffer, from: Endpoint, gw: Gateway): void {
    const m = intake(from, () => decodeMeasurement(bytes), 'measurement');
    if (!m) return;
    if (m.type === 'ping') {
      gws.send(gw.measurement, encodePong(sessionId, ghostNow(), m.payload), from);
      return;
    }
    measuring.get(`${from.address}:${from.port}`)?.onPong(m);
  }

  function prune(): void {
    const t = now();
    let changed = false;
    for (const [id, p] of peers) {
      if (p.expires < t) {
        peers.delete(id);
        changed = true;
      }
    }
    limiter.sweep(t);
    for (const [sid, o] of others) {
      if (!o.measuring && !memberOf(sid)) others.delete(sid);
    }
    if (changed) notify();
    pruneTimer = timers.set(1000, prune);
  }

  const given = init.addresses;
  const addressesNow = typeof given === 'function' ? given : given ? () => given : lanAddresses;
  const open = (addresses: LanAddress[]) =>
    openGateways({
      addresses,
      onDiscovery,
      onMeasurement,
      onError: (err, where) => init.onError?.(err, where),
    });
  const none: Gateways = { gateways: [], send() {}, close: async () => {} };
  const first = addressesNow();
  let gws: Gateways = await open(first);
  let gwKey = keyOf(first);

  /** Reopens the sockets when the interfaces changed; peers are found again within a broadcast. */
  async function rescan(): Promise<void> {
    const next = addressesNow();
    if (closed || keyOf(next) === gwKey) return;
    const old = gws;
    gws = none;
    gwKey = '';
    for (const m of measuring.values()) m.cancel();
    measuring.clear();
    for (const o of others.values()) o.measuring = false;
    peers.clear();
    await old.close();
    try {
      const opened = await open(next);
      if (closed) return void (await opened.close());
      gws = opened;
      gwKey = keyOf(next);
      init.onInterfaces?.(next.map((a) => a.address));
    } catch (err) {
      // Retried at the next rescan (gwKey stays empty).
      init.onError?.(err as Error, 'rescan');
    }
    broadcast();
    notify();
  }
  const rescanLoop = () => {
    rescanTimer = timers.set(RESCAN_MS, () => {
      void rescan().finally(() => {
        if (!closed) rescanLoop();
      });
    });
  };

  broadcast();
  pruneTimer = timers.set(1000, prune);
  rescanLoop();

  return {
    snapshot,
    setTempo(bpm) {
      if (!(bpm >= MIN_BPM && bpm <= MAX_BPM)) return false;
      timeline = proposeTempo(timeline, bpm, ghostNow());
      broadcast();
      notify();
      return true;
    },
    setPlaying(playing) {
      startStop = proposeStartStop(timeline, playing, ghostNow());
      startStopSeen = true;
      broadcast();
      notify();
    },
    stats: () => ({ ...stats }),
    endpoints: () => gws.gateways.map((g) => g.measurementEndpoint),
    async close() {
      if (closed) return;
      for (const gw of gws.gateways)
        gws.send(gw.discovery, encodeByeBye(nodeId), { address: MULTICAST_GROUP, port: MULTICAST_PORT });
      closed = true;
      for (const m of measuring.values()) m.cancel();
      timers.clear(broadcastTimer);
      timers.clear(pruneTimer);
      timers.clear(remeasureTimer);
      timers.clear(rescanTimer);
      // Let the goodbye leave before the sockets close.
      await new Promise((r) => setImmediate(r));
      await gws.close();
    },
  };
}

/** The beat on a host timeline at host time `t` (µs), and its phase within `quantum`. */
export function beatAtHost(tl: HostTimeline, t: number): number {
  return tl.beatOrigin + (t - tl.timeOrigin) / tl.microsPerBeat;
}

export { beatsAt, phaseOf };
