import { decodeOscPacket } from '../../protocols/osc/codec.ts';
import { isImmediate, timetagToMs } from '../../protocols/osc/timetag.ts';
import type { OscMessage, OscPacket } from '../../protocols/osc/types.ts';
import type { ReasonCode } from '../reasons.ts';
import { coerceArgs } from '../state/coerce.ts';
import type { Registry } from '../state/registry.ts';
import type { Store, Write } from '../state/store.ts';
import type { Rejections } from './rejections.ts';
import type { SourceFilter } from './source-filter.ts';
import type { RateLimiter } from './token-bucket.ts';

// OSC packet → validated writes → store. Order of checks is cheapest first, so a flood or a
// stranger costs a map lookup, not a decode. A packet is all-or-nothing: if any message in it
// (or any parameter a pattern matches) is rejected, nothing in it is applied.

export type IngestSource = {
  readonly transport: 'udp' | 'tcp';
  readonly address: string;
  readonly port: number;
  /** TCP only: the connection, so feedback can go back on it. */
  readonly conn?: { readonly id: number; send(packet: Uint8Array): boolean };
};

export type IngestLimits = {
  maxBytes: number;
  maxDepth: number;
  maxScheduled: number;
  maxScheduleAheadMs: number;
};

/** Handles `/hana/...` messages (subscriptions); returns a rejection reason or null. */
export type ControlHandler = (
  msg: OscMessage,
  from: IngestSource,
) => { reason: ReasonCode; message: string } | null;

export type Scheduler = (delayMs: number, fn: () => void) => () => void;

export type OscIngestInit = {
  registry: Registry;
  store: Store;
  rejections: Rejections;
  filter: SourceFilter;
  limiter: RateLimiter;
  limits: IngestLimits;
  onControl?: ControlHandler;
  /** Unix ms, for time tags; injected so tests control time. */
  now?: () => number;
  schedule?: Scheduler;
};

/** packets/messages/writes: accepted totals; scheduled: bundles now waiting for their time tag. */
export type IngestStats = { packets: number; messages: number; writes: number; scheduled: number };

export type OscIngest = {
  handle(bytes: Uint8Array, from: IngestSource): void;
  stats(): IngestStats;
  close(): void;
};

type Rejected = { reason: ReasonCode; message: string };

const defaultSchedule: Scheduler = (delay, fn) => {
  const t = setTimeout(fn, delay);
  return () => clearTimeout(t);
};

export function sourceLabel(from: IngestSource): string {
  return `osc:${from.transport}:${from.address}:${from.port}`;
}

export function createOscIngest(init: OscIngestInit): OscIngest {
  const { registry, store, rejections, limits } = init;
  const now = init.now ?? Date.now;
  const schedule = init.schedule ?? defaultSchedule;
  const pending = new Set<() => void>();
  const stats: IngestStats = { packets: 0, messages: 0, writes: 0, scheduled: 0 };

  // Messages of the packet being collected; added to the stats only if the packet is accepted.
  const counted = { messages: 0 };

  /** Collects writes grouped by due time (0 = now); returns a rejection for the first bad element. */
  function collect(
    packet: OscPacket,
    dueAt: number,
    depth: number,
    groups: Map<number, Write[]>,
    controls: OscMessage[],
  ): Rejected | null {
    if (packet.kind === 'bundle') {
      // A nested bundle may not run earlier than its parent (OSC 1.0).
      const due = isImmediate(packet.timetag) ? dueAt : Math.max(dueAt, timetagToMs(packet.timetag));
      for (const el of packet.elements) {
        const r = collect(el, due, depth + 1, groups, controls);
        if (r) return depth > 0 ? r : { reason: r.reason, message: `bundle rejected: ${r.message}` };
      }
      return null;
    }
    counted.messages++;
    if (packet.address.startsWith('/hana/')) {
      controls.push(packet);
      return null;
    }
    let group = groups.get(dueAt);
    if (!group) {
      group = [];
      groups.set(dueAt, group);
    }
    return messageWrites(packet, group);
  }

  /** Resolves a message against the registry and appends its coerced writes to `out`. */
  function messageWrites(msg: OscMessage, out: Write[]): Rejected | null {
    const resolved = registry.resolve(msg.address);
    if (!resolved.ok) return { reason: 'bad-pattern', message: `${msg.address}: ${resolved.reason}` };
    if (resolved.paths.length === 0) {
      return { reason: 'unknown-address', message: `no declared parameter matches ${msg.address}` };
    }
    for (const path of resolved.paths) {
      const c = coerceArgs(registry.get(path)!, msg.args);
      if (!c.ok) return { reason: c.code, message: `${path}: ${c.message}` };
      if (!c.noop) out.push({ path, value: c.value });
    }
    return null;
  }

  function apply(writes: readonly Write[], source: string): void {
    stats.writes += writes.length;
    store.apply(writes, source);
  }

  return {
    handle(bytes, from) {
      const who = from.address;
      if (!init.filter.allows(who)) {
        rejections.reject('not-allowed', who, `OSC from ${who}, which is not in osc.allow`);
        return;
      }
      if (!init.limiter.take(who)) {
        rejections.reject('flood', who, `${who} exceeds osc.rateLimit; dropping its packets`);
        return;
      }
      const decoded = decodeOscPacket(bytes, limits);
      if (!decoded.ok) {
        rejections.reject(decoded.error.code, who, `malformed OSC packet: ${decoded.error.message}`);
        return;
      }
      const packet = decoded.packet;
      if (packet.kind === 'message' && !packet.address.startsWith('/hana/')) {
        // Fast path for a lone message, the common case (a fader): no grouping, no scheduling.
        const writes: Write[] = [];
        const bad = messageWrites(packet, writes);
        if (bad) {
          rejections.reject(bad.reason, who, bad.message);
          return;
        }
        stats.packets++;
        stats.messages++;
        if (writes.length) apply(writes, sourceLabel(from));
        return;
      }
      const groups = new Map<number, Write[]>();
      const controls: OscMessage[] = [];
      counted.messages = 0;
      const bad = collect(decoded.packet, 0, 0, groups, controls);
      if (bad) {
        rejections.reject(bad.reason, who, bad.message);
        return;
      }
      const t = now();
      const later = [...groups].filter(([due, writes]) => due > t && writes.length > 0).map(([due]) => due);
      for (const due of later) {
        if (due - t > limits.maxScheduleAheadMs) {
          rejections.reject('too-far-ahead', who, `bundle time tag is ${Math.round(due - t)} ms ahead`);
          return;
        }
      }
      if (pending.size + later.length > limits.maxScheduled) {
        rejections.reject('schedule-full', who, `${pending.size} bundles already wait for their time tag`);
        return;
      }
      for (const msg of controls) {
        // null from the handler means accepted; no handler means the feature is off.
        const r = init.onControl
          ? init.onControl(msg, from)
          : { reason: 'unknown-address' as const, message: `${msg.address} is not enabled` };
        if (r) rejections.reject(r.reason, who, r.message);
      }
      stats.packets++;
      stats.messages += counted.messages;
      const source = sourceLabel(from);
      for (const [due, writes] of groups) {
        if (writes.length === 0) continue;
        if (due <= t) {
          apply(writes, source);
          continue;
        }
        const cancel = schedule(due - t, () => {
          pending.delete(cancel);
          apply(writes, source);
        });
        pending.add(cancel);
      }
    },
    stats: () => ({ ...stats, scheduled: pending.size }),
    close() {
      for (const cancel of pending) cancel();
      pending.clear();
    },
  };
}
