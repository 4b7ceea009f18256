import { SPAN } from './inbox.ts';
import type { SyncEntry } from './v2/entries.ts';
import type { SackRange } from './v2/messages.ts';
import type { SyncUpdate } from './v2/pack.ts';

// One link's outgoing updates, reliable over a lossy datagram path. What is reliable is "the
// peer ends up with the current value of every path we changed", not "every value we ever had":
// a path is marked dirty; a flush sends the current value of every dirty path, numbered; an
// acknowledged number is done; an unacknowledged one times out and, if no newer number for that
// path is in flight, marks the path dirty again. While `window` datagrams are unacknowledged no
// new datagram leaves, so a burst of writes to one path collapses into one send per round trip
// instead of one per write: coalescing falls out of the window.

export type OutboxInit = {
  /** Current entry for a path; undefined when it no longer exists (then nothing is sent). */
  entryOf(path: string): SyncEntry | undefined;
  /** Packs updates into datagrams (the codec's packUpdates); throws RangeError for an entry too big. */
  pack(updates: readonly SyncUpdate[]): Uint8Array[];
  send(datagram: Uint8Array): void;
  /** An entry could not be sent at all (too large for a datagram). */
  onUnsendable(path: string, err: Error): void;
  now(): number;
  /** Unacknowledged flushes allowed in flight (each one or more datagrams, at most SPAN/window updates). */
  window: number;
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
  inFlight: number;
  dirty: number;
  srttMs: number | null;
  rtoMs: number;
};

export type Outbox = {
  mark(path: string): void;
  /** Sends what the window allows; returns true when dirty paths remain (window full). */
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

export function createOutbox(init: OutboxInit): Outbox {
  // Everything in flight must stay within the receiver's SPAN of numbers, or its floor could
  // slide over a lost update and acknowledge it.
  const perFlush = Math.max(1, Math.min(MAX_ENTRIES_PER_FLUSH, Math.floor(SPAN / init.window)));
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
  const s = { datagrams: 0, bytes: 0, updates: 0, retransmits: 0, acked: 0 };

  const rto = () => {
    const base = srtt === undefined ? init.minRtoMs * 4 : srtt + 4 * rttvar;
    return Math.min(init.maxRtoMs, Math.max(init.minRtoMs, base) * backoff);
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

  return {
    mark(path) {
      dirty.add(path);
    },
    flush() {
      while (dirty.size > 0 && flights.length < init.window) {
        const updates: SyncUpdate[] = [];
        for (const path of dirty) {
          if (updates.length >= perFlush) break;
          dirty.delete(path);
          const entry = init.entryOf(path);
          if (entry) updates.push({ ...entry, seq: nextSeq++ });
        }
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
      return dirty.size > 0;
    },
    onAck(upTo, sack) {
      for (const seq of seqPath.keys()) {
        if (seq > upTo) break;
        acknowledge(seq);
      }
      for (const r of sack) {
        // Walk what is in flight rather than the range: a range can claim 2^48 numbers.
        for (const seq of [...seqPath.keys()]) if (seq >= r.from && seq <= r.to) acknowledge(seq);
      }
      settleFlights();
    },
    expire() {
      const t = init.now();
      const limit = rto();
      let remarked = false;
      while (flights.length > 0 && t - flights[0]!.sentAt >= limit) {
        const f = flights.shift()!;
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
      if (remarked) backoff = Math.min(backoff * 2, 64);
      return remarked;
    },
    nextTimeoutMs() {
      const f = flights[0];
      return f === undefined ? undefined : Math.max(0, f.sentAt + rto() - init.now());
    },
    stats: () => ({
      ...s,
      inFlight: flights.length,
      dirty: dirty.size,
      srttMs: srtt ?? null,
      rtoMs: rto(),
    }),
  };
}
