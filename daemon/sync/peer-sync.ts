import type { SyncConfig } from '../config/sync-schema.ts';
import { realTimers, type Timers } from '../timers.ts';
import { createOffsetEstimator, type OffsetEstimate } from './clock.ts';
import { createInbox } from './inbox.ts';
import { createOutbox, type OutboxStats } from './outbox.ts';
import type { Batch, OpenBatch } from './v2/batch.ts';
import { decodeSync, encodeSync } from './v2/codec.ts';
import type { SyncEntry } from './v2/entries.ts';
import { type BucketDigest, MAX_CERT_REQUESTS, type SyncMessage } from './v2/messages.ts';
import { packSnapshot, packUpdates, type SignList } from './v2/pack.ts';

// The sync protocol on one trusted link: updates with acks and retransmission (outbox/inbox),
// anti-entropy by digest, snapshots on request, certificates on request, and clock pings. It
// knows nothing of the store, of keys or of permissions: batches it receives go to `onBatch`,
// where the service checks their signatures and judges them.

export type PeerSyncInit = {
  /** Injected so a fake clock drives every retransmission and ping in tests. */
  timers?: Timers;
  peerId: string;
  /** This daemon's device ID (its own batches leave it out on the wire). */
  self(): string;
  /** Signs this daemon's entry lists. */
  sign: SignList;
  config: SyncConfig;
  send(datagram: Uint8Array): void;
  /** Monotonic-enough ms for timeouts. */
  now(): number;
  /** Wall clock ms with sub-ms resolution, for clock exchanges. */
  wall(): number;
  /** This daemon's own current entry for a path; undefined when another's write holds it now. */
  entryOf(path: string): SyncEntry | undefined;
  /** Signed batches covering every replicated entry in the given buckets, or all. */
  batchesIn(buckets: 'all' | readonly number[]): Batch[];
  digest(): { count: number; hash: bigint; buckets: BucketDigest[] };
  differing(peer: readonly BucketDigest[]): number[];
  /** A batch arrived; `fresh` are its entries not seen before on this link (all, for a snapshot). */
  onBatch(batch: OpenBatch, fresh: readonly SyncEntry[], kind: 'updates' | 'snapshot'): void;
  certOf(id: string): Uint8Array | undefined;
  onCert(der: Uint8Array): void;
  onClock(estimate: OffsetEstimate): void;
  onMalformed(code: string, detail: string): void;
  onUnsendable(path: string, error: string): void;
};

export type PeerSyncStats = {
  out: OutboxStats;
  received: { datagrams: number; updates: number; duplicates: number; snapshotEntries: number };
  antiEntropy: {
    digestsSent: number;
    mismatches: number;
    requestsSent: number;
    requestsServed: number;
    requestsRefused: number;
  };
  clock: OffsetEstimate | null;
};

export type PeerSync = {
  /** This daemon changed `path`; with the new entry, that very value is queued to go (outbox.ts). */
  mark(path: string, entry?: SyncEntry): void;
  receive(bytes: Uint8Array): void;
  /** Asks the peer for certificates of devices whose batches it passed on. */
  requestCerts(ids: readonly string[]): void;
  sendCert(der: Uint8Array): void;
  stats(): PeerSyncStats;
  close(): void;
};

/** Requests served per second at most: each can cost dozens of datagrams. */
const REQUESTS_PER_SECOND = 4;
/** Above this many differing buckets a full snapshot is cheaper to ask for than a list. */
const ALL_BUCKETS_THRESHOLD = 32;
const CLOCK_BURST = 8;
const CLOCK_BURST_GAP_MS = 30;
/**
 * While the offset's error bound is wider than this, the link pings every LOOSE_PING_MS instead
 * of every sync.clockPingMs: on a loaded laptop most exchanges are stretched, and each one more is
 * another chance at a quick one, which is what tightens the bound (daemon/sync/clock.ts). In
 * loaded runs of the Link mesh interop test, at one ping a second, the bound was still up to
 * 0.57 ms after ten exchanges.
 */
const CLOCK_TIGHT_MS = 0.25;
const LOOSE_PING_MS = 200;
const MAX_PENDING_PINGS = 16;
/** Digest rounds skipped in a row at most while updates wait in the window (see digestLoop). */
const DIGEST_DEFERRALS = 3;

export function createPeerSync(init: PeerSyncInit): PeerSync {
  const { config } = init;
  let closed = false;
  // Every timer goes through the injected Timers, so a fake clock drives retransmission,
  // anti-entropy and clock pings in tests; the set lets close() cancel what is pending.
  const clockTimers = init.timers ?? realTimers;
  const timers = new Set<unknown>();
  const later = (ms: number, fn: () => void) => {
    const t: unknown = clockTimers.set(ms, () => {
      timers.delete(t);
      if (!closed) fn();
    });
    (t as { unref?: () => void }).unref?.();
    timers.add(t);
    return t;
  };
  const cancel = (t: unknown) => {
    if (!t) return;
    clockTimers.clear(t);
    timers.delete(t);
  };
  const sendMsg = (m: SyncMessage) => init.send(encodeSync(m, init.self()));

  // ── updates out ──
  const outbox = createOutbox({
    entryOf: init.entryOf,
    owns: (e) => e.stamp.node === init.self(),
    pack: (u) => packUpdates(u, init.self(), init.sign),
    send: init.send,
    onUnsendable: (path, err) => init.onUnsendable(path, err.message),
    now: init.now,
    window: config.window,
    maxWindow: Math.max(config.window, config.maxWindow),
    maxQueued: config.maxQueued,
    minRtoMs: Math.max(5, config.ackDelayMs * 4),
    maxRtoMs: 1000,
  });
  let flushQueued = false;
  let retransmitTimer: unknown;
  function armRetransmit(): void {
    if (retransmitTimer) return;
    const wait = outbox.nextTimeoutMs();
    if (wait === undefined) return;
    retransmitTimer = later(wait + 1, () => {
      retransmitTimer = undefined;
      if (outbox.expire()) flush();
      armRetransmit();
    });
  }
  function flush(): void {
    flushQueued = false;
    outbox.flush();
    armRetransmit();
  }
  function queueFlush(): void {
    if (flushQueued || closed) return;
    flushQueued = true;
    // Writes that arrive in the same event-loop turn (a bundle, a scene) leave in one datagram.
    setImmediate(() => !closed && flush());
  }

  // ── updates in ──
  const inbox = createInbox();
  let ackTimer: unknown;
  let ackQueued = false;
  let unacked = 0;
  const sendAck = () => {
    cancel(ackTimer);
    ackTimer = undefined;
    ackQueued = false;
    unacked = 0;
    const a = inbox.ack();
    sendMsg({ kind: 'ack', upTo: a.upTo, sack: a.sack });
  };
  const received = { datagrams: 0, updates: 0, duplicates: 0, snapshotEntries: 0 };

  // ── anti-entropy ──
  const ae = { digestsSent: 0, mismatches: 0, requestsSent: 0, requestsServed: 0, requestsRefused: 0 };
  let requestTokens = REQUESTS_PER_SECOND;
  let tokensAt = init.now();
  let nextRequestId = 1;
  let lastRequestAt = -Infinity;
  const sendDigest = () => {
    const d = init.digest();
    sendMsg({ kind: 'digest', count: d.count, hash: d.hash, buckets: d.buckets });
    ae.digestsSent++;
  };
  const jitter = (ms: number) => ms * (0.8 + Math.random() * 0.4);
  // A digest covers values still queued here for this peer (its window is full): the peer
  // would see a difference, ask, and apply the snapshot's newest value first, making every
  // queued step that follows stale there (issue 18: a fader jumped and 0.5 % of its steps were
  // dropped). So the digest waits while values are queued, but at most DIGEST_DEFERRALS rounds
  // in a row: a fader that never stops must not stall the repair of everything else.
  let deferred = 0;
  const digestLoop = () => {
    const out = outbox.stats();
    if ((out.queued > 0 || out.dirty > 0) && deferred < DIGEST_DEFERRALS) deferred++;
    else {
      deferred = 0;
      sendDigest();
    }
    later(jitter(config.antiEntropyMs), digestLoop);
  };
  function serve(id: number, buckets: 'all' | readonly number[]): void {
    const t = init.now();
    requestTokens = Math.min(
      REQUESTS_PER_SECOND,
      requestTokens + ((t - tokensAt) * REQUESTS_PER_SECOND) / 1000,
    );
    tokensAt = t;
    if (requestTokens < 1) {
      ae.requestsRefused++;
      return;
    }
    requestTokens--;
    ae.requestsServed++;
    for (const p of packSnapshot(id, init.batchesIn(buckets), init.self())) init.send(p);
  }
  function request(buckets: 'all' | number[]): void {
    // One outstanding question at a time: answers to the last one may still be on the way.
    const t = init.now();
    if (t - lastRequestAt < config.antiEntropyMs / 2) return;
    lastRequestAt = t;
    ae.requestsSent++;
    sendMsg({ kind: 'request', id: nextRequestId++, buckets });
  }

  // ── clock ──
  const estimator = createOffsetEstimator();
  const pings = new Map<number, number>();
  let nextPing = 1;
  const ping = () => {
    const id = nextPing++;
    const t1 = init.wall();
    pings.set(id, t1);
    if (pings.size > MAX_PENDING_PINGS) pings.delete(pings.keys().next().value!);
    sendMsg({ kind: 'clock-ping', id, t1 });
  };
  const clockLoop = (n: number) => {
    ping();
    const loose = (estimator.estimate()?.errorMs ?? Number.POSITIVE_INFINITY) > CLOCK_TIGHT_MS;
    const wait =
      n < CLOCK_BURST
        ? CLOCK_BURST_GAP_MS
        : jitter(loose ? Math.min(LOOSE_PING_MS, config.clockPingMs) : config.clockPingMs);
    later(wait, () => clockLoop(n + 1));
  };

  function receive(bytes: Uint8Array): void {
    if (closed) return;
    const r = decodeSync(bytes, init.peerId);
    if (!r.ok) {
      init.onMalformed(r.code, r.detail);
      return;
    }
    const m = r.msg;
    switch (m.kind) {
      case 'updates': {
        received.datagrams++;
        const fresh: SyncEntry[] = [];
        m.batch.entries.forEach((e, i) => {
          if (inbox.receive(m.firstSeq + i)) fresh.push(e);
          else received.duplicates++;
        });
        received.updates += fresh.length;
        if (fresh.length) init.onBatch(m.batch, fresh, 'updates');
        // Ack even duplicates: the first ack may be the one that was lost. With no delay
        // configured (the default) the ack leaves at the end of this event-loop turn: it waits
        // on no timer (a 1 ms timer fired 1–15 ms late on a loaded laptop and filled the
        // sender's window, issue 18), and datagrams read in one burst share one ack.
        if (config.ackDelayMs === 0) {
          if (!ackQueued) {
            ackQueued = true;
            setImmediate(() => ackQueued && !closed && sendAck());
          }
        } else if (++unacked >= config.window) sendAck();
        else ackTimer ??= later(config.ackDelayMs, sendAck);
        return;
      }
      case 'ack':
        outbox.onAck(m.upTo, m.sack);
        // Room in the window may let waiting changes go; flush also re-arms the retransmit timer.
        flush();
        return;
      case 'digest': {
        const diff = init.differing(m.buckets);
        if (diff.length === 0) return;
        ae.mismatches++;
        request(diff.length > ALL_BUCKETS_THRESHOLD ? 'all' : diff);
        return;
      }
      case 'request':
        serve(m.id, m.buckets);
        return;
      case 'snapshot-part':
        for (const b of m.batches) {
          received.snapshotEntries += b.entries.length;
          init.onBatch(b, b.entries, 'snapshot');
        }
        return;
      case 'cert':
        init.onCert(m.der);
        return;
      case 'cert-request':
        for (const id of m.ids) {
          const der = init.certOf(id);
          if (der) sendMsg({ kind: 'cert', der });
        }
        return;
      case 'clock-ping': {
        const t2 = init.wall();
        sendMsg({ kind: 'clock-pong', id: m.id, t1: m.t1, t2, t3: init.wall() });
        return;
      }
      case 'clock-pong': {
        const t4 = init.wall();
        const sent = pings.get(m.id);
        // Only answers to our own pings count: a pong we never asked for measures nothing.
        if (sent === undefined || sent !== m.t1) return;
        pings.delete(m.id);
        estimator.add(m.t1, m.t2, m.t3, t4);
        const e = estimator.estimate();
        if (e) init.onClock(e);
        return;
      }
    }
  }

  // Start: ask for everything the peer has (a joining or returning peer catches up at once),
  // then keep digests and clock pings going.
  request('all');
  later(jitter(config.antiEntropyMs), digestLoop);
  clockLoop(0);

  return {
    mark(path, entry) {
      outbox.mark(path, entry);
      queueFlush();
    },
    receive,
    requestCerts(ids) {
      for (let i = 0; i < ids.length; i += MAX_CERT_REQUESTS)
        sendMsg({ kind: 'cert-request', ids: ids.slice(i, i + MAX_CERT_REQUESTS) });
    },
    sendCert: (der) => sendMsg({ kind: 'cert', der }),
    stats: () => ({
      out: outbox.stats(),
      received: { ...received },
      antiEntropy: { ...ae },
      clock: estimator.estimate() ?? null,
    }),
    close() {
      closed = true;
      for (const t of timers) clockTimers.clear(t);
      timers.clear();
    },
  };
}
