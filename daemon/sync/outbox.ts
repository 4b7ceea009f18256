import { SPAN } from './inbox.ts';
import type { SyncEntry } from './v2/entries.ts';
import type { SackRange } from './v2/messages.ts';
import type { SyncUpdate } from './v2/pack.ts';

// One link's outgoing updates over a lossy datagram path. Two promises, in order of strength:
//  1. the peer ends up with the current value of every path we changed (reliability: an
//     unacknowledged number times out and, if no newer number for that path is in flight, the
//     path's CURRENT value goes again under a new number — numbers are never resent);
//  2. while the peer keeps up, it gets every value we wrote, in order, so a fader moves as
//     smoothly there as here (issue 18: a window that coalesced whenever an ack was slower than
//     four writes lost 20–80 % of a fader's values).
// Writes are queued by value. A flush sends the queue (and any path re-marked by a timeout),
// numbered, in as few signed datagrams as fit. While the window of unacknowledged flushes is
// full the queue grows, so the next flush carries everything since — several values in one
// datagram, one signature — rather than dropping any. Only when the queue passes `maxQueued`
// (the peer has stopped acknowledging, or cannot keep up) does the outbox fall back to
// coalescing: the queued values collapse to their paths and each path's latest value goes
// when the window opens. Memory is bounded either way: maxQueued values, at most SPAN numbers
// and maxWindow flushes in flight, and one dirty mark per path.
//
// The window adapts to the measured round trip: it holds as many flushes as the writer makes in
// two round trips (measured as the gap between flushes that had something to send), between
// `window` and `maxWindow`. A slow ack then never holds a write back; a peer that never acks
// keeps the window at its floor, since no round trip is ever measured.

export type OutboxInit = {
  /** Current entry for a path; undefined when it no longer exists (then nothing is sent). */
  entryOf(path: string): SyncEntry | undefined;
  /**
   * Whether a queued entry may still go under this daemon's name: the wire leaves the stamp's
   * node implicit (it is the batch's origin), so a value stamped before an identity rotation
   * must not leave after it. One that may not goes as its path's current entry instead.
   */
  owns?(entry: SyncEntry): boolean;
  /** Packs updates into datagrams (the codec's packUpdates); throws RangeError for an entry too big. */
  pack(updates: readonly SyncUpdate[]): Uint8Array[];
  send(datagram: Uint8Array): void;
  /** An entry could not be sent at all (too large for a datagram). */
  onUnsendable(path: string, err: Error): void;
  now(): number;
  /** Unacknowledged flushes allowed in flight before any round trip is measured, and at least ever after. */
  window: number;
  /** The most unacknowledged flushes the adaptive window may grow to (default: `window`, fixed). */
  maxWindow?: number;
  /** Values queued while the window is full before falling back to latest-value-per-path. */
  maxQueued?: number;
  /** Lower bound of the retransmission timeout, covering the peer's delayed ack. */
  minRtoMs: number;
  maxRtoMs: number;
};

type InFlight = { first: number; last: number; sentAt: number };

export type OutboxStats = {
  datagrams: number;
  bytes: number;
  updates: number;
  retransmits: number;
  acked: number;
  /** Queued values given up for their path's latest value because the queue overflowed. */
  coalesced: number;
  inFlight: number;
  /** The window now, in flushes. */
  window: number;
  queued: number;
  dirty: number;
  srttMs: number | null;
  rtoMs: number;
};

export type Outbox = {
  /**
   * A path changed. With its new entry, that value is queued to go in order; without one (or
   * once the queue overflowed) only the path is marked and its value at send time goes.
   */
  mark(path: string, entry?: SyncEntry): void;
  /** Sends what the window allows; returns true when something remains (window full). */
  flush(): boolean;
  onAck(upTo: number, sack: readonly SackRange[]): void;
  /** Times out old datagrams; call every few ms. Returns true when something was re-marked. */
  expire(): boolean;
  /** Milliseconds until the oldest datagram times out, or undefined if none is in flight. */
  nextTimeoutMs(): number | undefined;
  stats(): OutboxStats;
};

/** How many entries one flush takes at most: bounds a single flush's work and datagram burst. */
const MAX_ENTRIES_PER_FLUSH = 512;
export const DEFAULT_MAX_QUEUED = 4096;
/** The smallest gap between flushes the window is sized for: a clock that does not move is no reason for a huge window. */
const MIN_GAP_MS = 0.05;

export function createOutbox(init: OutboxInit): Outbox {
  const minWindow = Math.max(1, init.window);
  const maxWindow = Math.max(minWindow, init.maxWindow ?? minWindow);
  const maxQueued = Math.max(1, init.maxQueued ?? DEFAULT_MAX_QUEUED);
  /** Values in write order, not yet sent. */
  let queue: SyncEntry[] = [];
  const dirty = new Set<string>();
  /** seq → path, in ascending seq order (Map keeps insertion order). */
  const seqPath = new Map<number, string>();
  /** path → the newest seq carrying it; an older seq timing out is then no reason to resend. */
  const pathSeq = new Map<string, number>();
  const flights: InFlight[] = [];
  let nextSeq = 1;
  let srtt: number | undefined;
  let rttvar = 0;
  let backoff = 1;
  /** Smoothed ms between flushes that had something to send: the writer's pace. */
  let gap: number | undefined;
  let lastWantAt: number | undefined;
  const s = { datagrams: 0, bytes: 0, updates: 0, retransmits: 0, acked: 0, coalesced: 0 };

  const rto = () => {
    const base = srtt === undefined ? init.minRtoMs * 4 : srtt + 4 * rttvar;
    return Math.min(init.maxRtoMs, Math.max(init.minRtoMs, base) * backoff);
  };

  /** Flushes allowed in flight: two round trips' worth of the writer's pace, within bounds. */
  const windowNow = () => {
    if (srtt === undefined || gap === undefined) return minWindow;
    const want = Math.ceil((2 * srtt) / Math.max(MIN_GAP_MS, gap)) + 1;
    return Math.min(maxWindow, Math.max(minWindow, want));
  };

  function acknowledge(seq: number): void {
    const path = seqPath.get(seq);
    if (path === undefined) return;
    seqPath.delete(seq);
    if (pathSeq.get(path) === seq) pathSeq.delete(path);
    s.acked++;
  }

  function settleFlights(): void {
    const t = init.now();
    for (let i = flights.length - 1; i >= 0; i--) {
      const f = flights[i]!;
      let open = false;
      for (let q = f.first; q <= f.last && !open; q++) open = seqPath.has(q);
      if (open) continue;
      flights.splice(i, 1);
      // Every seq is sent once, so each sample is a clean round trip (no Karn ambiguity).
      const sample = t - f.sentAt;
      if (srtt === undefined) {
        srtt = sample;
        rttvar = sample / 2;
      } else {
        rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - sample);
        srtt = 0.875 * srtt + 0.125 * sample;
      }
      backoff = 1;
    }
  }

  /** The queue is over its bound: keep only each path's latest value, read when it is sent. */
  function overflow(): void {
    for (const e of queue) dirty.add(e.path);
    s.coalesced += queue.length;
    queue = [];
  }

  /** Packs a batch; an entry too big for any datagram is reported and left out, never blocking the rest. */
  function packAll(updates: SyncUpdate[]): { datagrams: Uint8Array[]; sent: SyncUpdate[] } {
    try {
      return { datagrams: init.pack(updates), sent: updates };
    } catch {
      const datagrams: Uint8Array[] = [];
      const sent: SyncUpdate[] = [];
      for (const u of updates) {
        try {
          datagrams.push(...init.pack([u]));
          sent.push(u);
        } catch (err) {
          init.onUnsendable(u.path, err as Error);
        }
      }
      return { datagrams, sent };
    }
  }

  /** How many numbers the next flush may use: everything in flight stays within the receiver's SPAN. */
  function room(): number {
    const oldest = seqPath.keys().next().value ?? nextSeq;
    return Math.min(MAX_ENTRIES_PER_FLUSH, SPAN - (nextSeq - oldest));
  }

  /** The next flush's entries: queued values in order, then paths re-marked or coalesced. */
  function take(limit: number): SyncUpdate[] {
    const updates: SyncUpdate[] = [];
    let used = 0;
    while (used < queue.length && updates.length < limit) {
      const e = queue[used++]!;
      if (init.owns && !init.owns(e)) dirty.add(e.path);
      else updates.push({ ...e, seq: nextSeq++ });
    }
    // splice is O(n) per flush, not per entry: a flush takes many.
    if (used > 0) queue = used === queue.length ? [] : queue.slice(used);
    for (const path of dirty) {
      if (updates.length >= limit) break;
      dirty.delete(path);
      const entry = init.entryOf(path);
      if (entry) updates.push({ ...entry, seq: nextSeq++ });
    }
    return updates;
  }

  return {
    mark(path, entry) {
      if (entry === undefined) {
        dirty.add(path);
        return;
      }
      // The entry is the path's current value: queued, it also settles a timeout's or an
      // overflow's mark on the path, and no step of a fader that lost a datagram is skipped.
      dirty.delete(path);
      queue.push(entry);
      if (queue.length > maxQueued) overflow();
    },
    flush() {
      if (queue.length > 0 || dirty.size > 0) {
        const t = init.now();
        if (lastWantAt !== undefined && t > lastWantAt) {
          const sample = t - lastWantAt;
          gap = gap === undefined ? sample : 0.875 * gap + 0.125 * sample;
        }
        lastWantAt = t;
      }
      while ((queue.length > 0 || dirty.size > 0) && flights.length < windowNow()) {
        const limit = room();
        if (limit <= 0) break;
        const updates = take(limit);
        if (updates.length === 0) break;
        const { datagrams, sent } = packAll(updates);
        if (sent.length === 0) continue;
        const t = init.now();
        for (const u of sent) {
          seqPath.set(u.seq, u.path);
          pathSeq.set(u.path, u.seq);
        }
        for (const d of datagrams) {
          init.send(d);
          s.datagrams++;
          s.bytes += d.length;
        }
        s.updates += sent.length;
        flights.push({ first: sent[0]!.seq, last: sent.at(-1)!.seq, sentAt: t });
      }
      return queue.length > 0 || dirty.size > 0;
    },
    onAck(upTo, sack) {
      for (const seq of seqPath.keys()) {
        if (seq > upTo) break;
        acknowledge(seq);
      }
      for (const r of sack) {
        const span = r.to - r.from + 1;
        // Walk whichever is shorter: the range (a range can claim 2^48 numbers) or what is in flight.
        if (span <= seqPath.size) for (let q = r.from; q <= r.to; q++) acknowledge(q);
        else for (const seq of [...seqPath.keys()]) if (seq >= r.from && seq <= r.to) acknowledge(seq);
      }
      settleFlights();
    },
    expire() {
      const t = init.now();
      const limit = rto();
      let remarked = false;
      let expired = false;
      while (flights.length > 0 && t - flights[0]!.sentAt >= limit) {
        const f = flights.shift()!;
        expired = true;
        for (let q = f.first; q <= f.last; q++) {
          const path = seqPath.get(q);
          if (path === undefined) continue;
          seqPath.delete(q);
          if (pathSeq.get(path) === q) {
            pathSeq.delete(path);
            dirty.add(path);
            s.retransmits++;
            remarked = true;
          }
        }
      }
      // Any flush that timed out backs off, not only one whose paths go again: a peer that
      // stopped acking a moving fader (every path has a newer number in flight) would
      // otherwise reopen the window every few ms, and the writer would stream into the void
      // instead of falling back to coalescing.
      if (expired) backoff = Math.min(backoff * 2, 64);
      return remarked;
    },
    nextTimeoutMs() {
      const f = flights[0];
      return f === undefined ? undefined : Math.max(0, f.sentAt + rto() - init.now());
    },
    stats: () => ({
      ...s,
      inFlight: flights.length,
      window: windowNow(),
      queued: queue.length,
      dirty: dirty.size,
      srttMs: srtt ?? null,
      rtoMs: rto(),
    }),
  };
}
