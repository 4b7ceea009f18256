import { decodeOscPacket } from '../../protocols/osc/codec.ts';
import { isImmediate, timetagToMs } from '../../protocols/osc/timetag.ts';
import type { OscMessage, OscPacket } from '../../protocols/osc/types.ts';
import { OscFairness } from '../config/osc-schema.ts';
import type { ReasonCode } from '../reasons.ts';
import { coerceArgs } from '../state/coerce.ts';
import type { Registry, Resolved } from '../state/registry.ts';
import type { Store, Write } from '../state/store.ts';
import type { Timers } from '../timers.ts';
import { createFairQueue } from './fair-queue.ts';
import type { Rejections } from './rejections.ts';
import { createSenderCache, type Sender } from './source-cache.ts';
import type { SourceFilter } from './source-filter.ts';
import type { RateLimiter } from './token-bucket.ts';

// OSC packet → validated writes → fair queue → store. Order of checks is cheapest first, so a
// flood or a stranger costs a map lookup, not a decode. A packet is all-or-nothing: if any
// message in it (or any parameter a pattern matches) is rejected, nothing in it is applied.
//
// A source is charged for the work its packet causes, in units: one per parameter a message
// sets (at least one per message), before anything is coerced. One unit is taken before
// decoding, so a source over its budget costs no decode; the rest once the (cached) pattern
// resolution says how many parameters the packet touches. Accepted work then goes through the
// fair queue (fair-queue.ts), so no source can hold up another's beyond the stated bound.

export type IngestSource = {
  /** 'ws': binary OSC over an OSCQuery WebSocket (daemon/oscquery/). */
  readonly transport: 'udp' | 'tcp' | 'ws';
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

/** The aggregate budget across sources (config `osc.fairness`). */
export type IngestFairness = {
  cpuShare: number;
  burstMs: number;
  quantum: number;
  unitsPerTurn: number;
  turnMs: number;
  maxQueuedUnits: number;
};

export type OscIngestInit = {
  registry: Registry;
  store: Store;
  rejections: Rejections;
  filter: SourceFilter;
  /** Per-source buckets in work units (config `osc.rateLimit`). */
  limiter: RateLimiter;
  /** Default: the config defaults of `osc.fairness`. */
  fairness?: IngestFairness;
  limits: IngestLimits;
  onControl?: ControlHandler;
  /**
   * Writes stored as something other than what their sender sent (clamped into range, a colour
   * normalised), after they are applied: feedback tells that sender the truth, so its fader snaps
   * to what hana holds instead of showing a value nobody has.
   */
  onCoerced?: (from: IngestSource, writes: readonly Write[]) => void;
  /** Unix ms, for time tags; injected so tests control time. */
  now?: () => number;
  schedule?: Scheduler;
  /**
   * For the fair queue: next event-loop turn, a monotonic ms clock and timers. The clock must be
   * the limiter's too: a packet's one reading of it goes to both (default performance.now).
   */
  defer?: (fn: () => void) => void;
  clock?: () => number;
  timers?: Timers;
};

/**
 * packets/messages/writes: accepted totals; scheduled: bundles now waiting for their time tag;
 * queuedUnits/queuedSources: work waiting in the fair queue; maxWaitUnits: the longest wait of
 * a packet of at most one quantum, in units of other sources' work (docs/osc.md, "Limits").
 */
export type IngestStats = {
  packets: number;
  messages: number;
  writes: number;
  scheduled: number;
  queuedUnits: number;
  queuedSources: number;
  maxWaitUnits: number;
};

export type OscIngest = {
  handle(bytes: Uint8Array, from: IngestSource): void;
  /** handle() for a datagram: the sender is looked up by address and port, with no object made. */
  handleUdp(bytes: Uint8Array, from: { readonly address: string; readonly port: number }): void;
  stats(): IngestStats;
  close(): void;
};

type Rejected = { reason: ReasonCode; message: string };

/**
 * Work in the fair queue: a packet accepted and charged, validated only when its turn comes (so
 * the receive path stays cheap and the socket keeps being read), or a time-tagged group of writes
 * whose time has come.
 */
type Job =
  | {
      readonly kind: 'packet';
      readonly packet: OscPacket;
      readonly src: Sender;
      /** A lone message's resolution, from costing it: not looked up a second time. */
      readonly resolved: Resolved | undefined;
    }
  | { readonly kind: 'due'; readonly writes: readonly Write[]; readonly src: Sender };

/** What isHumanSource says of every `osc:` label, given rather than worked out per packet. */
const BY_HAND = { human: true } as const;

const defaultSchedule: Scheduler = (delay, fn) => {
  const t = setTimeout(fn, delay);
  return () => clearTimeout(t);
};

export { sourceLabel } from './source-cache.ts';

/** Units a packet costs: one per parameter each message's address matches, at least one each. */
export function packetCost(packet: OscPacket, registry: Registry): number {
  if (packet.kind === 'bundle') {
    let units = 0;
    for (const el of packet.elements) units += packetCost(el, registry);
    return units;
  }
  if (packet.address.startsWith('/hana/')) return 1;
  return resolvedCost(registry.resolve(packet.address));
}

const resolvedCost = (r: Resolved): number => (r.ok ? Math.max(1, r.paths.length) : 1);

export function createOscIngest(init: OscIngestInit): OscIngest {
  const { registry, store, rejections, limits } = init;
  const now = init.now ?? Date.now;
  const clock = init.clock ?? performance.now.bind(performance);
  const schedule = init.schedule ?? defaultSchedule;
  const pending = new Set<() => void>();
  const stats = { packets: 0, messages: 0, writes: 0 };
  const senders = createSenderCache();
  const fairness = init.fairness ?? OscFairness.parse({});
  const queue = createFairQueue<Job>({
    ...fairness,
    run: (job) =>
      job.kind === 'due' ? apply(job.writes, job.src) : process(job.packet, job.src, job.resolved),
    onDrop: (job, key, cost) =>
      rejections.reject(
        'overload',
        job.src.from.address,
        `${key}: dropped ${cost} units of OSC work, osc.fairness.maxQueuedUnits are waiting and this source has the most`,
        { port: job.src.from.port },
      ),
    now: clock,
    defer: init.defer,
    timers: init.timers,
  });

  // Messages of the packet being collected; added to the stats only if the packet is accepted.
  const counted = { messages: 0 };
  // Writes to echo once applied (onCoerced), by identity so the Write type stays the store's.
  // Weak: a write of a packet refused after collection, or of a bundle dropped before its time,
  // is never applied and must not be kept. `marked` lets an uncoerced batch cost one check; it
  // is zeroed when a look finds nothing, so such lost marks cannot keep every batch looking.
  const coerced = new WeakSet<Write>();
  let marked = 0;

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
    const r = messageWrites(packet, group);
    return Array.isArray(r) ? null : r;
  }

  /**
   * Resolves a message against the registry; its coerced writes are appended to `out`, or, with
   * no `out`, go into a new array sized to the parameters matched (a lone fader's one write
   * without the room for 16 that a push into an empty array makes: issue 18).
   */
  function messageWrites(
    msg: OscMessage,
    out?: Write[],
    resolved: Resolved = registry.resolve(msg.address),
  ): Write[] | Rejected {
    if (!resolved.ok) return { reason: 'bad-pattern', message: `${msg.address}: ${resolved.reason}` };
    if (resolved.paths.length === 0) {
      return { reason: 'unknown-address', message: `no declared parameter matches ${msg.address}` };
    }
    const writes = out ?? new Array<Write>(resolved.paths.length);
    let k = out ? out.length : 0;
    const sent = msg.args.length === 1 ? msg.args[0]!.value : undefined;
    for (const path of resolved.paths) {
      const c = coerceArgs(registry.get(path)!, msg.args);
      if (!c.ok) return { reason: c.code, message: `${path}: ${c.message}` };
      if (c.noop) continue;
      const w = { path, value: c.value };
      writes[k++] = w;
      // Another kind of value (a bool from 1, a colour from four floats) is a reading, not a
      // correction; a clamp, or the same kind changed, is one the sender should see.
      if (init.onCoerced && (c.clamped || (typeof sent === typeof c.value && sent !== c.value))) {
        coerced.add(w);
        marked++;
      }
    }
    if (writes.length > k) writes.length = k; // triggers released (noop)
    return writes;
  }

  function apply(writes: readonly Write[], src: Sender): void {
    stats.writes += writes.length;
    store.apply(writes, src.label, BY_HAND);
    if (marked === 0) return;
    const echo = writes.filter((w) => coerced.delete(w));
    marked = echo.length > 0 ? Math.max(0, marked - echo.length) : 0;
    if (echo.length > 0) init.onCoerced!(src.from, echo);
  }

  /** Charges the rest of a packet's cost (its first unit was taken before decoding). */
  function charge(key: string, from: IngestSource, units: number, t: number): boolean {
    if (units <= 1) return true;
    if (units > init.limiter.burst) {
      rejections.reject(
        'too-costly',
        from.address,
        `${key}: a packet setting ${units} parameters is more than osc.rateLimit.burst (${init.limiter.burst}) allows at once`,
        { port: from.port },
      );
      return false;
    }
    if (init.limiter.take(key, units - 1, t)) return true;
    rejections.reject('flood', from.address, `${key} exceeds osc.rateLimit; dropping its packets`, {
      port: from.port,
    });
    return false;
  }

  /** Validates a packet whole, then applies it (or schedules its time-tagged groups). */
  function process(packet: OscPacket, src: Sender, resolved: Resolved | undefined): void {
    const { from, key } = src;
    const who = from.address;
    if (resolved !== undefined && packet.kind === 'message') {
      // Fast path for a lone message, the common case (a fader): no grouping, no scheduling.
      const writes = messageWrites(packet, undefined, resolved);
      if (!Array.isArray(writes)) {
        rejections.reject(writes.reason, who, writes.message);
        return;
      }
      stats.packets++;
      stats.messages++;
      if (writes.length) apply(writes, src);
      return;
    }
    const groups = new Map<number, Write[]>();
    const controls: OscMessage[] = [];
    counted.messages = 0;
    const bad = collect(packet, 0, 0, groups, controls);
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
    for (const [due, writes] of groups) {
      if (writes.length === 0) continue;
      if (due <= t) {
        apply(writes, src);
        continue;
      }
      // Already charged: when due it joins its source's queue like any other work.
      const cancel = schedule(due - t, () => {
        pending.delete(cancel);
        queue.submit(key, writes.length, { kind: 'due', writes, src });
      });
      pending.add(cancel);
    }
  }

  /** From a source the filter allowed; its first unit is taken before decoding. */
  function accept(bytes: Uint8Array, src: Sender): void {
    const { from, key } = src;
    const who = from.address;
    const t = clock();
    if (!init.limiter.take(key, 1, t)) {
      rejections.reject('flood', who, `${key} exceeds osc.rateLimit; dropping its packets`, {
        port: from.port,
      });
      return;
    }
    const decoded = decodeOscPacket(bytes, limits);
    if (!decoded.ok) {
      rejections.reject(decoded.error.code, who, `malformed OSC packet: ${decoded.error.message}`);
      return;
    }
    const packet = decoded.packet;
    // A lone message other than hana's own is resolved once, here, for its cost and its writes.
    const resolved =
      packet.kind === 'message' && !packet.address.startsWith('/hana/')
        ? registry.resolve(packet.address)
        : undefined;
    const cost = resolved ? resolvedCost(resolved) : packetCost(packet, registry);
    if (!charge(key, from, cost, t)) return;
    // Charged to the budget from `t`: the decode is OSC work too.
    queue.submit(key, cost, { kind: 'packet', packet, src, resolved }, t);
  }

  const allowed = (who: string) => {
    if (init.filter.allows(who)) return true;
    rejections.reject('not-allowed', who, `OSC from ${who}, which is not in osc.allow`);
    return false;
  };

  return {
    handle(bytes, from) {
      if (allowed(from.address)) accept(bytes, senders.of(from));
    },
    handleUdp: (bytes, from) => {
      if (allowed(from.address)) accept(bytes, senders.udp(from.address, from.port));
    },
    stats: () => {
      const q = queue.stats();
      return {
        ...stats,
        scheduled: pending.size,
        queuedUnits: q.queuedUnits,
        queuedSources: q.queuedSources,
        maxWaitUnits: q.maxWaitUnits,
      };
    },
    close() {
      for (const cancel of pending) cancel();
      pending.clear();
      queue.close();
    },
  };
}
