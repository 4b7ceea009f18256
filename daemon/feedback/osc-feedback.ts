import { encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';
import type { Remote } from '../../protocols/osc/udp.ts';
import { type ControlHandler, type IngestSource, sourceLabel } from '../ingest/osc-ingest.ts';
import type { Logger } from '../log.ts';
import type { Value } from '../state/coerce.ts';
import type { Registry } from '../state/registry.ts';
import type { Change, Store } from '../state/store.ts';
import { realTimers, type Timers } from '../timers.ts';
import {
  DEFAULT_FORMAT,
  type FeedbackFormat,
  FORMAT_OPTIONS,
  formatWords,
  parseFormat,
  valueToArgs,
} from './feedback-format.ts';

// Feedback out: every changed value goes to the configured OSC targets and to clients that
// subscribed with `/hana/subscribe [port]`, so a TouchOSC fader follows changes made elsewhere.
// A change is not echoed to the address:port it came from, which keeps faders from jittering,
// unless hana stored something else than it sent (a clamp): then the sender gets the truth.
// A subscription lives `ttlMs` from its last `/hana/subscribe`: a client that stops renewing is
// warned about in the log a fifth of the TTL before it ends, and its end is logged too, so
// feedback never stops without a word.

export type OscFeedbackInit = {
  registry: Registry;
  store: Store;
  targets: readonly Remote[];
  subscribe: { enabled: boolean; max: number; ttlMs: number };
  sendUdp: (bytes: Uint8Array, to: Remote) => void;
  log?: Logger;
  now?: () => number;
  /** Runs the expiry sweep; injected so tests drive it on a fake clock. */
  timers?: Timers;
};

type Subscriber = {
  /** UDP destination, or a TCP connection to reply on. */
  readonly to?: Remote;
  readonly conn?: { readonly id: number; send(packet: Uint8Array): boolean };
  /** The source label of the subscriber's own writes, not echoed back. */
  readonly origin: string;
  readonly since: number;
  format: FeedbackFormat;
  expires: number;
  /** The coming expiry was logged. */
  warned: boolean;
};

/** One subscription as `hana status` shows it. */
export type SubscriptionInfo = {
  /** "udp 127.0.0.1:9000" or "tcp 127.0.0.1:50123". */
  to: string;
  ageS: number;
  expiresInS: number;
  /** Option words, "" for the default types. */
  format: string;
};

export type OscFeedback = {
  readonly onControl: ControlHandler;
  /** A TCP client went away: forget its subscription. */
  dropConnection(id: number): void;
  /** Sends `from` the values its writes were stored as (clamped, normalised), if it listens. */
  echo(from: IngestSource, writes: readonly { path: string; value: Value }[]): void;
  stats(): {
    targets: number;
    subscribers: number;
    sent: number;
    dropped: number;
    expired: number;
    /** Applied values sent back to a sender whose value was clamped or normalised. */
    echoed: number;
    subscriptions: SubscriptionInfo[];
  };
  close(): void;
};

export function createOscFeedback(init: OscFeedbackInit): OscFeedback {
  const now = init.now ?? Date.now;
  const timers = init.timers ?? realTimers;
  const ttl = init.subscribe.ttlMs;
  const subs = new Map<string, Subscriber>();
  let sent = 0;
  let dropped = 0;
  let expired = 0;
  let echoed = 0;
  let sweep: unknown;

  function encode(path: string, value: Value, format: FeedbackFormat = DEFAULT_FORMAT): Uint8Array {
    return encodeOscPacket(oscMessage(path, valueToArgs(init.registry.get(path)!.type, value, format)));
  }

  function deliver(sub: { to?: Remote; conn?: Subscriber['conn'] }, bytes: Uint8Array): void {
    if (sub.conn) {
      if (sub.conn.send(bytes)) sent++;
      else dropped++;
    } else if (sub.to) {
      init.sendUdp(bytes, sub.to);
      sent++;
    }
  }

  const describe = (sub: Subscriber) =>
    sub.conn ? `tcp ${sub.origin.replace(/^osc:tcp:/, '')}` : `udp ${sub.to!.address}:${sub.to!.port}`;

  /** Ends expired subscriptions and warns, once, about those a fifth of the TTL from ending. */
  function expire(t: number): void {
    for (const [key, sub] of subs) {
      const left = sub.expires - t;
      if (left <= 0) {
        subs.delete(key);
        expired++;
        init.log?.warn(
          { event: 'osc.subscription-expired', to: describe(sub), ageS: Math.round((t - sub.since) / 1000) },
          `OSC feedback to ${describe(sub)} stopped: not renewed within ${ttl / 1000} s (send /hana/subscribe again)`,
        );
      } else if (!sub.warned && left <= ttl / 5) {
        sub.warned = true;
        init.log?.warn(
          { event: 'osc.subscription-expiring', to: describe(sub), leftS: Math.ceil(left / 1000) },
          `OSC feedback to ${describe(sub)} ends in ${Math.ceil(left / 1000)} s unless it renews /hana/subscribe`,
        );
      }
    }
  }

  /** A sweep runs only while someone is subscribed, ten times per TTL. */
  function armSweep(): void {
    if (sweep !== undefined || subs.size === 0) return;
    sweep = timers.set(Math.max(100, ttl / 10), () => {
      sweep = undefined;
      expire(now());
      armSweep();
    });
    (sweep as { unref?: () => void }).unref?.();
  }

  function onChanges(changes: readonly Change[]): void {
    if (subs.size > 0) expire(now());
    // Nobody listening: skip encoding (it costs more than the rest of the ingest path).
    if (init.targets.length === 0 && subs.size === 0) return;
    for (const ch of changes) {
      // The store also holds hana's own values (/hana/timeline), which are no OSC parameter.
      if (!ch.changed || !init.registry.get(ch.path)) continue;
      const bytes = encode(ch.path, ch.value);
      for (const to of init.targets) {
        if (ch.source !== sourceLabel({ transport: 'udp', ...to })) deliver({ to }, bytes);
      }
      for (const sub of subs.values()) {
        if (ch.source === sub.origin) continue;
        deliver(sub, sub.format === DEFAULT_FORMAT ? bytes : encode(ch.path, ch.value, sub.format));
      }
    }
  }

  const unsubscribe = init.store.subscribe(onChanges);

  function snapshotTo(sub: Subscriber): void {
    for (const [path, entry] of init.store.entries()) {
      const type = init.registry.get(path)?.type;
      if (type !== undefined && type !== 'trigger') deliver(sub, encode(path, entry.value, sub.format));
    }
  }

  const onControl: ControlHandler = (msg, from: IngestSource) => {
    if (
      (msg.address !== '/hana/subscribe' && msg.address !== '/hana/unsubscribe') ||
      !init.subscribe.enabled
    ) {
      return {
        reason: 'unknown-address',
        message: `${msg.address} is not a hana control address or is disabled`,
      };
    }
    // A WebSocket client has LISTEN for this; a subscription would send UDP to the port its
    // TCP connection happens to come from.
    if (from.transport === 'ws') {
      return {
        reason: 'unknown-address',
        message: `${msg.address} over the OSCQuery WebSocket: send {"COMMAND":"LISTEN","DATA":"/path"} instead`,
      };
    }
    // [port] then option words: a UDP client may name the port to send to; TCP replies on its
    // connection, so a port there is ignored.
    const args = [...msg.args];
    let port = from.port;
    const first = args[0];
    if (first && (first.type === 'i' || first.type === 'f')) {
      port = Math.trunc(first.value);
      args.shift();
    }
    const words: string[] = [];
    for (const a of args) {
      if (a.type !== 's') {
        return {
          reason: 'wrong-type',
          message: `/hana/subscribe takes [port] then option words, got type '${a.type}'`,
        };
      }
      words.push(a.value);
    }
    const parsed = parseFormat(words);
    if ('unknown' in parsed) {
      return {
        reason: 'out-of-range',
        message: `unknown /hana/subscribe option "${parsed.unknown.slice(0, 40)}": takes ${FORMAT_OPTIONS.join(', ')}`,
      };
    }
    let to: Remote | undefined;
    if (!from.conn) {
      if (!(port >= 1 && port <= 65535))
        return { reason: 'out-of-range', message: `subscribe port ${port} is invalid` };
      to = { address: from.address, port };
    }
    const key = from.conn ? `tcp:${from.conn.id}` : `udp:${to!.address}:${to!.port}`;
    if (msg.address === '/hana/unsubscribe') {
      subs.delete(key);
      return null;
    }
    const existing = subs.get(key);
    if (!existing && subs.size >= init.subscribe.max) {
      return {
        reason: 'subscribe-full',
        message: `already ${subs.size} subscribers (osc.feedback.maxSubscribers)`,
      };
    }
    const t = now();
    if (existing) {
      // A renewal: the clock restarts; a changed format takes effect with a fresh snapshot.
      existing.expires = t + ttl;
      existing.warned = false;
      const changed = formatWords(existing.format) !== formatWords(parsed.format);
      existing.format = parsed.format === DEFAULT_FORMAT ? DEFAULT_FORMAT : parsed.format;
      if (changed) snapshotTo(existing);
      return null;
    }
    const sub: Subscriber = {
      to,
      conn: from.conn,
      origin: sourceLabel(from),
      since: t,
      format: parsed.format,
      expires: t + ttl,
      warned: false,
    };
    subs.set(key, sub);
    snapshotTo(sub);
    armSweep();
    return null;
  };

  return {
    onControl,
    dropConnection: (id) => subs.delete(`tcp:${id}`),
    echo(from, writes) {
      const origin = sourceLabel(from);
      for (const to of init.targets) {
        if (sourceLabel({ transport: 'udp', ...to }) !== origin) continue;
        for (const w of writes) deliver({ to }, encode(w.path, w.value));
        echoed += writes.length;
      }
      for (const sub of subs.values()) {
        if (sub.origin !== origin) continue;
        for (const w of writes) deliver(sub, encode(w.path, w.value, sub.format));
        echoed += writes.length;
      }
    },
    stats: () => {
      const t = now();
      return {
        targets: init.targets.length,
        subscribers: subs.size,
        sent,
        dropped,
        expired,
        echoed,
        subscriptions: [...subs.values()].map((sub) => ({
          to: describe(sub),
          ageS: Math.round((t - sub.since) / 1000),
          expiresInS: Math.max(0, Math.ceil((sub.expires - t) / 1000)),
          format: formatWords(sub.format),
        })),
      };
    },
    close: () => {
      unsubscribe();
      subs.clear();
      if (sweep !== undefined) timers.clear(sweep);
      sweep = undefined;
    },
  };
}
