import { shortId } from '../../trust-store/device-id.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import type { SyncConfig } from '../config/sync-schema.ts';
import type { Rejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import { checkValue } from '../state/check-value.ts';
import { compareStamps, type Hlc, type Stamp } from '../state/hlc.ts';
import type { Registry } from '../state/registry.ts';
import type { Store, Write } from '../state/store.ts';
import type { Timers } from '../timers.ts';
import type { OffsetEstimate } from './clock.ts';
import { bucketOf, createStateDigest } from './digest.ts';
import { createForeignTable } from './foreign.ts';
import { createPeerSync, type PeerSync, type PeerSyncStats } from './peer-sync.ts';
import { createPermissions } from './permissions.ts';
import { type ClockReading, createSessionClock } from './session-clock.ts';
import type { SyncEntry } from './v1/entries.ts';

// Replication: local changes go out to every trusted link; peers' entries come in through one
// gate (permission → declaration → value check → LWW merge) with the peer's identity as the
// writer. Convergence rests on the store's merge rule (highest HLC stamp wins, ties by device
// ID): whatever order entries arrive in, every daemon keeps the same winner.

export type SyncLinkHandle = { receive(bytes: Uint8Array): void; close(): void };

export type SyncServiceInit = {
  /** This daemon's device ID; a function when it can change (an identity rotation). */
  selfId: string | (() => string);
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
  now?: () => number;
  wall?: () => number;
  timers?: Timers;
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
};

export type SyncStatus = {
  links: number;
  applied: number;
  stale: number;
  refused: number;
  /** Refused writes answered by re-asserting our value so the writer falls back in line. */
  corrections: number;
  unknownPaths: { count: number; sample: Array<{ path: string; from: string }> };
  unsendable: number;
  clock: ClockReading;
};

const TEMPO = '/tempo';

export function createSyncService(init: SyncServiceInit) {
  const { config, registry, store, rejections, log } = init;
  const now = init.now ?? (() => performance.now());
  const wall = init.wall ?? (() => performance.timeOrigin + performance.now());
  const selfId = typeof init.selfId === 'function' ? init.selfId : () => init.selfId as string;
  const ownIds = init.ownIds ?? (() => [selfId()]);
  const permissions = createPermissions(config, init.peers, (id) => id === selfId() || ownIds().includes(id));
  const digest = createStateDigest();
  const foreign = createForeignTable(config.maxUnknownPaths);
  const links = new Map<string, PeerSync>();
  const counts = { applied: 0, stale: 0, refused: 0, unsendable: 0, corrections: 0 };

  for (const [path, e] of store.entries()) digest.update(path, e.stamp);

  const clock = createSessionClock({
    selfId,
    now: wall,
    tempo: () => {
      const e = store.get(TEMPO);
      return { bpm: typeof e?.value === 'number' ? e.value : 120, sinceMs: e?.stamp.t ?? 0 };
    },
  });

  const unsubscribe = store.subscribe((changes) => {
    for (const c of changes) {
      digest.update(c.path, c.stamp);
      // Peers' writes are not echoed: every linked peer hears from the writer itself, and
      // anti-entropy passes them on where a link is missing.
      if (c.source.startsWith('peer:')) continue;
      for (const l of links.values()) l.mark(c.path);
    }
  });

  // On the wire an empty writer ID means "the daemon at the other end of this link": most
  // entries are the sender's own writes, and a 63-character device ID per datagram would more
  // than double a fader move's size. The receiver fills in the authenticated peer's ID, so a
  // peer cannot use the short form to speak for anyone else.
  const SELF = '';
  const wire = (path: string, value: SyncEntry['value'], stamp: Stamp): SyncEntry => ({
    path,
    value,
    stamp: stamp.node === selfId() ? { t: stamp.t, c: stamp.c, node: SELF } : stamp,
  });

  function entryOf(path: string): SyncEntry | undefined {
    const e = store.get(path) ?? foreign.get(path);
    return e ? wire(path, e.value, e.stamp) : undefined;
  }

  function entriesIn(buckets: 'all' | readonly number[]): SyncEntry[] {
    const want = buckets === 'all' ? undefined : new Set(buckets);
    const out: SyncEntry[] = [];
    for (const [path, e] of store.entries()) {
      if (e.stamp.t === 0 && e.stamp.node === '') continue; // never written: nothing to tell
      if (want && !want.has(bucketOf(path))) continue;
      out.push(wire(path, e.value, e.stamp));
    }
    for (const f of foreign.entries()) {
      if (!want || want.has(bucketOf(f.path))) out.push(wire(f.path, f.value, f.stamp));
    }
    return out;
  }

  // A refused write would leave the writer holding a value nobody else has. The refusing side
  // answers by re-asserting its own value with a fresh stamp, which then wins on the writer
  // too, so the group ends agreeing on the performers' value. At most once per path per second,
  // so two daemons that each see the other as an observer cannot ping-pong.
  const lastCorrection = new Map<string, number>();
  function correction(sender: string, e: SyncEntry): Write | undefined {
    // A trigger holds no value to disagree on, and re-asserting one would fire it everywhere.
    if (e.stamp.node !== sender || registry.get(e.path)?.type === 'trigger') return undefined;
    const current = store.get(e.path);
    if (!current || compareStamps(e.stamp, current.stamp) <= 0) return undefined;
    const t = now();
    if (t - (lastCorrection.get(e.path) ?? -Infinity) < 1000) return undefined;
    // The writer's clock may run ahead of ours; a correction stamped before its write would lose.
    if (!init.hlc.observe(e.stamp)) return undefined;
    if (lastCorrection.size > 4096) lastCorrection.clear();
    lastCorrection.set(e.path, t);
    return { path: e.path, value: current.value };
  }

  function accept(sender: string, entries: readonly SyncEntry[]): void {
    const who = shortId(sender);
    const corrections: Write[] = [];
    for (const wireEntry of entries) {
      const e =
        wireEntry.stamp.node === SELF
          ? { ...wireEntry, stamp: { t: wireEntry.stamp.t, c: wireEntry.stamp.c, node: sender } }
          : wireEntry;
      const verdict = permissions.judge(sender, e.stamp.node, e.path);
      if (!verdict.ok) {
        counts.refused++;
        rejections.reject(`sync-${verdict.code}`, who, verdict.message, { peer: sender, path: e.path });
        if (verdict.code === 'observer-write' || verdict.code === 'out-of-scope') {
          const c = correction(sender, e);
          if (c) corrections.push(c);
        }
        continue;
      }
      const spec = registry.get(e.path);
      if (!spec) {
        const kept = foreign.offer(e, sender, Date.now());
        if (kept.changed) digest.update(e.path, e.stamp);
        rejections.reject(
          kept.full ? 'sync-unknown-path-dropped' : 'sync-unknown-path',
          who,
          kept.full
            ? `${e.path} is not declared here and the table of unknown paths is full (sync.maxUnknownPaths)`
            : `${e.path} is not declared here: kept aside, not applied`,
          { peer: sender, path: e.path },
        );
        continue;
      }
      const checked = checkValue(spec, e.value);
      if (!checked.ok) {
        counts.refused++;
        rejections.reject('sync-invalid-value', who, `${e.path}: ${checked.message}`, {
          peer: sender,
          path: e.path,
        });
        continue;
      }
      const current = store.get(e.path);
      if (current && compareStamps(e.stamp, current.stamp) <= 0) {
        counts.stale++;
        continue;
      }
      const change = store.merge(e.path, { value: e.value, stamp: e.stamp, source: `peer:${sender}` });
      if (change) counts.applied++;
      else {
        counts.refused++;
        rejections.reject(
          'sync-future-stamp',
          who,
          `${e.path}: stamp ${new Date(e.stamp.t).toISOString()} is too far ahead of this clock`,
          { peer: sender, path: e.path },
        );
      }
    }
    if (corrections.length > 0) {
      counts.corrections += corrections.length;
      store.apply(corrections, 'sync:correction');
    }
  }

  return {
    /** A link became trusted: start syncing over it. */
    attach(peerId: string, send: (datagram: Uint8Array) => void): SyncLinkHandle {
      links.get(peerId)?.close();
      const who = shortId(peerId);
      const sync = createPeerSync({
        peerId,
        config,
        send,
        now,
        wall,
        ...(init.timers && { timers: init.timers }),
        entryOf,
        entriesIn,
        digest: () => digest.snapshot(),
        differing: (b) => digest.differing(b),
        onEntries: (entries) => accept(peerId, entries),
        onClock: (e: OffsetEstimate) => clock.setPeer(peerId, e),
        onMalformed: (code, detail) =>
          rejections.reject('sync-malformed', who, `malformed sync message (${code}): ${detail}`, {
            peer: peerId,
          }),
        onUnsendable: (path, error) => {
          counts.unsendable++;
          log.warn({ event: 'sync.unsendable', path, error }, `cannot replicate ${path}: ${error}`);
        },
      });
      links.set(peerId, sync);
      return {
        receive: (bytes) => sync.receive(bytes),
        close() {
          sync.close();
          if (links.get(peerId) === sync) {
            links.delete(peerId);
            clock.removePeer(peerId);
          }
        },
      };
    },
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
      };
    },
    linkStats: (peerId: string) => links.get(peerId)?.stats(),
    status(): SyncStatus {
      return {
        links: links.size,
        ...counts,
        unknownPaths: {
          count: foreign.size,
          sample: [...foreign.entries()].slice(0, 20).map((f) => ({ path: f.path, from: f.from })),
        },
        clock: clock.read(),
      };
    },
    close() {
      unsubscribe();
      for (const l of links.values()) l.close();
      links.clear();
    },
  };
}

export type SyncService = ReturnType<typeof createSyncService>;
