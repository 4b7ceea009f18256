import { encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';
import type { OscArg } from '../../protocols/osc/types.ts';
import type { Remote } from '../../protocols/osc/udp.ts';
import { type ControlHandler, type IngestSource, sourceLabel } from '../ingest/osc-ingest.ts';
import type { Value } from '../state/coerce.ts';
import type { Registry } from '../state/registry.ts';
import type { Change, Store } from '../state/store.ts';

// Feedback out: every changed value goes to the configured OSC targets and to clients that
// subscribed with `/hana/subscribe [port]`, so a TouchOSC fader follows changes made elsewhere.
// A change is not echoed to the address:port it came from, which keeps faders from jittering.

export type OscFeedbackInit = {
  registry: Registry;
  store: Store;
  targets: readonly Remote[];
  subscribe: { enabled: boolean; max: number; ttlMs: number };
  sendUdp: (bytes: Uint8Array, to: Remote) => void;
  now?: () => number;
};

type Subscriber = {
  /** UDP destination, or a TCP connection to reply on. */
  readonly to?: Remote;
  readonly conn?: { readonly id: number; send(packet: Uint8Array): boolean };
  /** The source label of the subscriber's own writes, not echoed back. */
  readonly origin: string;
  expires: number;
};

export type OscFeedback = {
  readonly onControl: ControlHandler;
  /** A TCP client went away: forget its subscription. */
  dropConnection(id: number): void;
  stats(): { targets: number; subscribers: number; sent: number; dropped: number };
  close(): void;
};

export function valueToArgs(type: string, value: Value): OscArg[] {
  switch (type) {
    case 'float':
      return [{ type: 'f', value: value as number }];
    case 'int':
      return [{ type: 'i', value: value as number }];
    case 'bool':
      return [value ? { type: 'T', value: true } : { type: 'F', value: false }];
    case 'color':
      // As "#rrggbbaa" text, not the 'r' type tag: liblo (and so oscdump, Pure Data's liblo
      // externals) rejects 'r' messages outright, and strings round-trip through our input.
      return [{ type: 's', value: value as string }];
    case 'trigger':
      return [];
    default:
      return [{ type: 's', value: String(value) }];
  }
}

export function createOscFeedback(init: OscFeedbackInit): OscFeedback {
  const now = init.now ?? Date.now;
  const subs = new Map<string, Subscriber>();
  let sent = 0;
  let dropped = 0;

  function encode(path: string, value: Value): Uint8Array {
    return encodeOscPacket(oscMessage(path, valueToArgs(init.registry.get(path)!.type, value)));
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

  function onChanges(changes: readonly Change[]): void {
    if (subs.size > 0) {
      const t = now();
      for (const [key, sub] of subs) if (sub.expires <= t) subs.delete(key);
    }
    // Nobody listening: skip encoding (it costs more than the rest of the ingest path).
    if (init.targets.length === 0 && subs.size === 0) return;
    for (const ch of changes) {
      // The store also holds hana's own values (/hana/timeline), which are no OSC parameter.
      if (!ch.changed || !init.registry.get(ch.path)) continue;
      const bytes = encode(ch.path, ch.value);
      for (const to of init.targets) {
        if (ch.source !== sourceLabel({ transport: 'udp', ...to })) deliver({ to }, bytes);
      }
      for (const sub of subs.values()) if (ch.source !== sub.origin) deliver(sub, bytes);
    }
  }

  const unsubscribe = init.store.subscribe(onChanges);

  function snapshotTo(sub: Subscriber): void {
    for (const [path, entry] of init.store.entries()) {
      const type = init.registry.get(path)?.type;
      if (type !== undefined && type !== 'trigger') deliver(sub, encode(path, entry.value));
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
    let to: Remote | undefined;
    if (!from.conn) {
      const portArg = msg.args[0];
      const port =
        portArg && (portArg.type === 'i' || portArg.type === 'f') ? Math.trunc(portArg.value) : from.port;
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
    const origin = sourceLabel(from);
    const sub: Subscriber = { to, conn: from.conn, origin, expires: now() + init.subscribe.ttlMs };
    subs.set(key, sub);
    if (!existing) snapshotTo(sub);
    return null;
  };

  return {
    onControl,
    dropConnection: (id) => subs.delete(`tcp:${id}`),
    stats: () => ({ targets: init.targets.length, subscribers: subs.size, sent, dropped }),
    close: () => {
      unsubscribe();
      subs.clear();
    },
  };
}
