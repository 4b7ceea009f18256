import { parseDeviceId, shortId } from '../../trust-store/device-id.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import { type ClockReading, createSessionClock } from '../clock/session-clock.ts';
import {
  createTimelineReader,
  decodeTimeline,
  TEMPO_PATH,
  TIMELINE_PATH,
} from '../clock/timeline-register.ts';
import { reassertedTimeline, startTimelineWriter } from '../clock/timeline-writer.ts';
import type { SyncConfig } from '../config/sync-schema.ts';
import type { Rejections } from '../ingest/rejections.ts';
import { createBucket } from '../ingest/token-bucket.ts';
import type { Logger } from '../log.ts';
import type { Hlc, Stamp } from '../state/hlc.ts';
import type { Registry } from '../state/registry.ts';
import type { Store, Write } from '../state/store.ts';
import { compareWrites } from '../state/write-order.ts';
import { realTimers, type Timers } from '../timers.ts';
import type { OffsetEstimate } from './clock.ts';
import { bucketOf, createStateDigest } from './digest.ts';
import { createForeignTable } from './foreign.ts';
import { createGate } from './gate.ts';
import { createHeldTable } from './held.ts';
import { createKeyDirectory, type KeyDirectory } from './keys.ts';
import { createPeerSync, type PeerSync, type PeerSyncStats } from './peer-sync.ts';
import { createPermissions } from './permissions.ts';
import { createSigner, type Signer } from './signer.ts';
import type { Batch } from './v2/batch.ts';
import type { SyncEntry } from './v2/entries.ts';
import { groupEntries, signBatch } from './v2/pack.ts';

// Replication: this daemon's own changes go out to every trusted link, signed in batches with
// its identity key; batches from peers come in through one gate (gate.ts) after their
// signature is checked against the ORIGIN's key, whichever link carried them. Convergence rests
// on the store's merge rule (write-order.ts: highest stamp wins, then the value breaks an
// equivocator's tie): whatever order batches arrive in, every daemon keeps the same winner.

export type SyncLinkHandle = { receive(bytes: Uint8Array): void; close(): void };

export type SyncIdentity = {
  readonly deviceId: string;
  readonly keyPem: string;
  readonly certDer: Uint8Array;
};

export type SyncServiceInit = {
  /** This daemon's identity now (it changes on a rotation). */
  identity: () => SyncIdentity;
  /** Every device ID this daemon has had: its writes under an earlier one are still its own. */
  ownIds?: () => readonly string[];
  config: SyncConfig;
  registry: Registry;
  store: Store;
  /** The store's clock: a correction must be stamped after the write it answers. */
  hlc: Hlc;
  peers: PeerStore;
  rejections: Rejections;
  log: Logger;
  security?: Logger;
  /** An origin equivocated: drop its link (and, if sync.onEquivocation says so, block it). */
  onViolation?: (origin: string, reason: string) => void;
  /** A peer's write that a person made on its origin was applied (plugins' takeover.ts). */
  onPeerHuman?: (path: string) => void;
  now?: () => number;
  wall?: () => number;
  timers?: Timers;
  /**
   * The signing and checking parts, injected only by the sync benchmark to measure what
   * signatures cost next to a run without them; the daemon always uses the real ones.
   */
  crypto?: { signer: Signer; keys: KeyDirectory };
};

export type PeerSyncView = {
  offsetMs: number | null;
  offsetErrorMs: number | null;
  clockSamples: number;
  srttMs: number | null;
  /** Updates sent (after coalescing), the datagrams and sync bytes that carried them. */
  sent: number;
  datagrams: number;
  bytes: number;
  received: number;
  retransmits: number;
  /** Unacknowledged flushes the adaptive window allows now (sync.window … sync.maxWindow); absent from an older daemon. */
  window?: number;
  /** Values given up for their path's latest because the peer did not keep up (sync.maxQueued); absent from an older daemon. */
  coalesced?: number;
};

export type SyncStatus = {
  links: number;
  applied: number;
  stale: number;
  refused: number;
  /** Refused writes answered by re-asserting our value so the writer falls back in line. */
  corrections: number;
  /** Writes refused because their signature did not match their origin's key. */
  badSignatures: number;
  /** Batches dropped because a link sent more than sync.maxBatchesPerSecond. */
  rateLimited: number;
  /** Origins caught signing two values under one stamp. */
  equivocations: number;
  futureStamps: number;
  unknownPaths: { count: number; sample: Array<{ path: string; from: string }> };
  /** Writes whose origin is not paired here (or whose key has not arrived): held, not applied. */
  held: { count: number; origins: string[] };
  /** Entries held without the signed batch that proves them (restored from disk): not passed on. */
  unproven: number;
  unsendable: number;
  clock: ClockReading;
};

/** Writes held for origins not paired here; far above a real ensemble's backlog. */
const MAX_HELD = 4096;

/** An own write as it goes out: marked when a person made it, so peers' plugins give way. */
const entryOf = (path: string, e: { value: SyncEntry['value']; stamp: Stamp; human?: boolean }): SyncEntry =>
  e.human ? { path, value: e.value, stamp: e.stamp, human: true } : { path, value: e.value, stamp: e.stamp };
const RELEASE_EVERY_MS = 1000;

export function createSyncService(init: SyncServiceInit) {
  const { config, registry, store, rejections, log } = init;
  const security = init.security ?? log;
  const now = init.now ?? (() => performance.now());
  const wall = init.wall ?? (() => performance.timeOrigin + performance.now());
  const timers = init.timers ?? realTimers;
  const selfId = () => init.identity().deviceId;
  const ownIds = init.ownIds ?? (() => [selfId()]);
  const isSelf = (id: string) => id === selfId() || ownIds().includes(id);
  const permissions = createPermissions(config, init.peers, isSelf);
  const keys = init.crypto?.keys ?? createKeyDirectory(() => new Set(init.peers.list().map((p) => p.id)));
  const signer = init.crypto?.signer ?? createSigner(init.identity);
  const digest = createStateDigest();
  const foreign = createForeignTable(config.maxUnknownPaths);
  const held = createHeldTable(MAX_HELD);
  /** For each path whose winner another daemon wrote: the signed batch that proves it. */
  const proofs = new Map<string, Batch>();
  const links = new Map<string, PeerSync>();
  const counts = { unsendable: 0, badSignatures: 0, rateLimited: 0 };
  let knownSelf = '';

  const learnSelf = () => {
    const id = init.identity();
    if (id.deviceId === knownSelf) return;
    const r = keys.learn(id.certDer);
    if (!r.ok) throw new Error(`this daemon's own certificate cannot sign sync batches: ${r.error}`);
    knownSelf = id.deviceId;
  };
  learnSelf();

  // The digest is read only over links: paused until the first one, rebuilt from every winner
  // then (store and foreign table), paused again when the last one goes.
  digest.pause();
  function* winners() {
    for (const [path, e] of store.entries()) yield { path, stamp: e.stamp, value: e.value };
    yield* foreign.entries();
  }

  // The shared beat: the replicated timeline (daemon/clock/), led by whoever wrote it last.
  const clock = createSessionClock({
    selfId,
    ownIds,
    now: wall,
    timeline: createTimelineReader(store),
    tempo: () => {
      const v = store.get(TEMPO_PATH)?.value;
      return typeof v === 'number' ? v : 120;
    },
  });
  // Started here, after storage restored the saved state: a restore replays /tempo with its
  // original local source, and retiming then would restart the shared beat at every boot.
  const timelineWriter = registry.get(TIMELINE_PATH)
    ? startTimelineWriter({ store, clock: () => clock.read(), log })
    : undefined;

  const unsubscribe = store.subscribe((changes) => {
    for (const c of changes) {
      digest.update(c.path, c.stamp, c.value);
      // Peers' writes are not echoed: every linked peer hears from the origin itself, and
      // anti-entropy passes them on (the origin's batch, unchanged) where a link is missing.
      if (c.source.startsWith('peer:')) continue;
      // Only another daemon's winners have proofs: a write here with none held costs no lookup.
      if (proofs.size > 0) proofs.delete(c.path);
      if (links.size === 0) continue;
      // The value itself, so a fader's every step goes out (the outbox queues values in order);
      // another daemon's write would not be ours to send, and ownEntry reads it at send time.
      const mine = c.stamp.node === selfId() ? entryOf(c.path, c) : undefined;
      for (const l of links.values()) l.mark(c.path, mine);
    }
  });

  const admits = (s: Stamp) => init.hlc.admits(s);

  // A refused write would leave the writer holding a value nobody else has. The refusing side
  // answers by re-asserting its own value with a fresh stamp, which then wins on the writer
  // too, so the group ends agreeing on the performers' value. At most once per path per second,
  // so two daemons that each see the other as an observer cannot ping-pong.
  const lastCorrection = new Map<string, number>();
  function correction(sender: string, e: SyncEntry): Write | undefined {
    // A trigger holds no value to disagree on, and re-asserting one would fire it everywhere.
    if (e.stamp.node !== sender || registry.get(e.path)?.type === 'trigger') return undefined;
    const current = store.get(e.path);
    // Only a write that would outrank ours on the writer leaves it holding another value.
    if (!current || compareWrites(e, current) <= 0) return undefined;
    // The timeline is re-asserted in this daemon's own clock (it leads once it writes it):
    // the same text would shift every laptop's beat by the two clocks' difference.
    const value = e.path === TIMELINE_PATH ? reassertedTimeline(clock.read()) : current.value;
    if (value === undefined) return undefined;
    const t = now();
    if (t - (lastCorrection.get(e.path) ?? -Infinity) < 1000) return undefined;
    // The writer's clock may run ahead of ours (within the drift bound the gate enforced); a
    // correction stamped before its write would lose.
    if (!init.hlc.observe(e.stamp)) return undefined;
    if (lastCorrection.size > 4096) lastCorrection.clear();
    lastCorrection.set(e.path, t);
    return { path: e.path, value };
  }

  const gate = createGate({
    registry,
    store,
    permissions,
    foreign,
    held,
    rejections,
    admits,
    correction,
    validate: (path, value) => {
      if (path !== TIMELINE_PATH) return undefined;
      const d = decodeTimeline(value);
      return d.ok ? undefined : d.message;
    },
    onHuman: (path) => init.onPeerHuman?.(path),
    onEquivocation(origin, path, detail) {
      rejections.reject('sync-equivocation', shortId(origin), detail, { origin, path });
      security.warn(
        { event: 'sync.equivocation', security: true, origin, path, action: config.onEquivocation },
        `${detail}: dropping its link${config.onEquivocation === 'block' ? ' and blocking it (sync.onEquivocation)' : ''}`,
      );
      if (!isSelf(origin)) init.onViolation?.(origin, 'equivocation');
    },
    onApplied: (path, batch) => proofs.set(path, batch),
    onForeign: (e) => digest.update(e.path, e.stamp, e.value),
  });

  /** Missing keys asked for at most once a second per device, so a stream of held batches costs one request. */
  const asked = new Map<string, number>();
  function accept(sender: string, batch: Batch, entries: readonly SyncEntry[]): void {
    // The origin names whose key must have signed: anything but a canonical device ID is
    // garbage (and must not reach the peer store, which refuses it by throwing).
    const parsed = parseDeviceId(batch.origin);
    if (!parsed.ok || parsed.id !== batch.origin) {
      rejections.reject(
        'sync-malformed',
        shortId(sender),
        `a batch whose origin ${JSON.stringify(batch.origin.slice(0, 64))} is not a device ID`,
        { peer: sender },
      );
      return;
    }
    const v = keys.verify(batch);
    if (v === 'bad-signature') {
      counts.badSignatures++;
      rejections.reject(
        'sync-bad-signature',
        shortId(sender),
        `${shortId(sender)} sent ${entries.length} write(s) signed as ${shortId(batch.origin)} whose signature does not match that device's key: forged or corrupted, refused`,
        { peer: sender, origin: batch.origin, path: entries[0]?.path },
      );
      return;
    }
    if (v === 'unknown-key') {
      const verdict = permissions.judge(batch.origin, entries[0]?.path ?? '/');
      if (!verdict.ok && verdict.code === 'origin-blocked') {
        gate.accept(sender, batch, entries); // refused and counted there; no key needed for that
        return;
      }
      let kept = 0;
      for (const e of entries) if (held.offer({ entry: e, batch, from: sender })) kept++;
      armRelease();
      rejections.reject(
        kept === entries.length ? 'sync-unknown-origin' : 'sync-unknown-origin-dropped',
        shortId(sender),
        `${entries.length} write(s) by ${shortId(batch.origin)}, whose certificate this laptop has not seen yet: held${kept < entries.length ? ` (${entries.length - kept} dropped: the table of held writes is full)` : ''} until it arrives`,
        { peer: sender, origin: batch.origin },
      );
      const t = now();
      if (t - (asked.get(batch.origin) ?? -Infinity) >= 1000) {
        if (asked.size > 1024) asked.clear();
        asked.set(batch.origin, t);
        links.get(sender)?.requestCerts([batch.origin]);
      }
      return;
    }
    gate.accept(sender, batch, entries);
  }

  /** Held writes whose origin is now paired (and whose key is known) are judged again, oldest first. */
  function release(): void {
    if (held.size === 0) return;
    for (const origin of held.origins()) {
      const p = init.peers.get(origin);
      if (p?.state === 'blocked') held.drop(origin);
    }
    const ready = (origin: string) => {
      if (!keys.has(origin)) return false;
      const p = init.peers.get(origin);
      return isSelf(origin) || (p !== undefined && p.state !== 'pending');
    };
    for (const w of held.release(ready)) accept(w.from, w.batch, [w.entry]);
  }
  // Runs only while writes are held: an empty table needs no look a second, and the loop was
  // one of an idle daemon's wake-ups (issue 18). A held write arms it.
  let releaseTimer: unknown;
  const armRelease = () => {
    if (releaseTimer !== undefined || held.size === 0) return;
    releaseTimer = timers.set(RELEASE_EVERY_MS, releaseLoop);
    (releaseTimer as { unref?: () => void }).unref?.();
  };
  const releaseLoop = () => {
    releaseTimer = undefined;
    release();
    armRelease();
  };

  /** This daemon's own current entry for a path, to send; undefined once another write holds it. */
  function ownEntry(path: string): SyncEntry | undefined {
    const e = store.get(path);
    if (!e || e.stamp.node !== selfId()) return undefined;
    return entryOf(path, e);
  }

  let unproven = 0;
  function batchesIn(buckets: 'all' | readonly number[]): Batch[] {
    const want = buckets === 'all' ? undefined : new Set(buckets);
    const own: SyncEntry[] = [];
    const others = new Set<Batch>();
    unproven = 0;
    for (const [path, e] of store.entries()) {
      if (e.stamp.t === 0 && e.stamp.node === '') continue; // never written: nothing to tell
      if (want && !want.has(bucketOf(path))) continue;
      if (e.stamp.node === selfId()) own.push(entryOf(path, e));
      else {
        const proof = proofs.get(path);
        if (proof) others.add(proof);
        else unproven++;
      }
    }
    for (const f of foreign.entries()) if (!want || want.has(bucketOf(f.path))) others.add(f.batch);
    const { groups, skipped } = groupEntries(own);
    for (const s of skipped) {
      counts.unsendable++;
      log.warn(
        { event: 'sync.unsendable', path: s.entry.path, error: s.error },
        `cannot replicate ${s.entry.path}: ${s.error}`,
      );
    }
    return [...groups.map((g) => signBatch(selfId(), g, signer.sign)), ...others];
  }

  return {
    /** A link became trusted: start syncing over it. `certDer` is the peer's certificate from the handshake. */
    attach(peerId: string, send: (datagram: Uint8Array) => void, certDer?: Uint8Array): SyncLinkHandle {
      links.get(peerId)?.close();
      if (!digest.active) digest.resume(winners());
      learnSelf();
      if (certDer) keys.learn(certDer);
      const who = shortId(peerId);
      // Every batch costs a signature check: one link, however misbehaving, gets a bounded share.
      const budget = createBucket({
        ratePerSecond: config.maxBatchesPerSecond,
        burst: config.maxBatchesPerSecond * 2,
        now,
      });
      let overBudget = 0;
      const withinBudget = (what: string): boolean => {
        if (budget.take(1)) return true;
        overBudget++;
        counts.rateLimited++;
        rejections.reject(
          'sync-rate-limited',
          who,
          `${who} sent more than sync.maxBatchesPerSecond (${config.maxBatchesPerSecond}) signed batches a second: ${what} dropped (${overBudget} so far on this link); anti-entropy repairs what it carried`,
          { peer: peerId },
        );
        return false;
      };
      const sync = createPeerSync({
        peerId,
        self: selfId,
        sign: signer.sign,
        config,
        send,
        now,
        wall,
        timers,
        entryOf: ownEntry,
        batchesIn,
        digest: () => digest.snapshot(),
        differing: (b) => digest.differing(b),
        onBatch: (batch, fresh) => {
          if (withinBudget('a batch')) accept(peerId, batch, fresh);
        },
        certOf: (id) => keys.certOf(id),
        onCert(der) {
          if (!withinBudget('a certificate')) return;
          const r = keys.learn(der);
          if (!r.ok) {
            rejections.reject(
              'sync-malformed',
              who,
              `a certificate that cannot sign sync batches: ${r.error}`,
              {
                peer: peerId,
              },
            );
            return;
          }
          release();
        },
        onClock: (e: OffsetEstimate) => clock.setPeer(peerId, e),
        onMalformed: (code, detail) =>
          code === 'v1'
            ? rejections.reject(
                'sync-v1-refused',
                who,
                `${who} speaks sync/v1, which this hana refuses: ${detail}; upgrade hana on that laptop`,
                {
                  peer: peerId,
                },
              )
            : rejections.reject('sync-malformed', who, `malformed sync message (${code}): ${detail}`, {
                peer: peerId,
              }),
        onUnsendable: (path, error) => {
          counts.unsendable++;
          log.warn({ event: 'sync.unsendable', path, error }, `cannot replicate ${path}: ${error}`);
        },
      });
      links.set(peerId, sync);
      release();
      return {
        receive: (bytes) => sync.receive(bytes),
        close() {
          sync.close();
          if (links.get(peerId) === sync) {
            links.delete(peerId);
            clock.removePeer(peerId);
            if (links.size === 0) digest.pause();
          }
        },
      };
    },
    /** Peers' trust changed (pair, allow, block, forget): held writes may now apply or go. */
    peersChanged: release,
    clock: (): ClockReading => clock.read(),
    peerView(peerId: string): PeerSyncView | undefined {
      const s: PeerSyncStats | undefined = links.get(peerId)?.stats();
      if (!s) return undefined;
      return {
        offsetMs: s.clock?.offsetMs ?? null,
        offsetErrorMs: s.clock?.errorMs ?? null,
        clockSamples: s.clock?.samples ?? 0,
        srttMs: s.out.srttMs,
        sent: s.out.updates,
        datagrams: s.out.datagrams,
        bytes: s.out.bytes,
        received: s.received.updates,
        retransmits: s.out.retransmits,
        window: s.out.window,
        coalesced: s.out.coalesced,
      };
    },
    linkStats: (peerId: string) => links.get(peerId)?.stats(),
    status(): SyncStatus {
      const g = gate.counts;
      return {
        links: links.size,
        applied: g.applied,
        stale: g.stale,
        refused: g.refused,
        corrections: g.corrections,
        badSignatures: counts.badSignatures,
        rateLimited: counts.rateLimited,
        equivocations: g.equivocations,
        futureStamps: g.futureStamps,
        unknownPaths: {
          count: foreign.size,
          sample: [...foreign.entries()].slice(0, 20).map((f) => ({ path: f.path, from: f.from })),
        },
        held: { count: held.size, origins: held.origins().slice(0, 20) },
        unproven,
        unsendable: counts.unsendable,
        clock: clock.read(),
      };
    },
    close() {
      unsubscribe();
      timelineWriter?.close();
      if (releaseTimer !== undefined) timers.clear(releaseTimer);
      releaseTimer = undefined;
      for (const l of links.values()) l.close();
      links.clear();
    },
  };
}

export type SyncService = ReturnType<typeof createSyncService>;
