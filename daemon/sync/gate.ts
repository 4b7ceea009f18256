import { shortId } from '../../trust-store/device-id.ts';
import type { Rejections } from '../ingest/rejections.ts';
import { checkValue } from '../state/check-value.ts';
import type { Stamp } from '../state/hlc.ts';
import type { Registry } from '../state/registry.ts';
import type { Store, Write } from '../state/store.ts';
import { compareWrites, sameValue } from '../state/write-order.ts';
import type { ForeignTable } from './foreign.ts';
import type { HeldTable } from './held.ts';
import type { Permissions } from './permissions.ts';
import type { Batch } from './v2/batch.ts';
import type { SyncEntry } from './v2/entries.ts';

// The one gate peers' writes come in through, once their batch's signature checked out. Per
// entry, in this order: a stamp too far ahead is refused before anything observes it; the
// origin's rights (permissions.ts) decide apply, hold or refuse; an undeclared path is kept
// aside; the value must fit its declaration; two values under one stamp from one origin are
// equivocation; then last-writer-wins. Nothing here trusts the link a write arrived on beyond
// naming it in the audit trail.

export type GateCounts = {
  applied: number;
  stale: number;
  refused: number;
  /** Refused writes answered by re-asserting our value so the writer falls back in line. */
  corrections: number;
  held: number;
  futureStamps: number;
  equivocations: number;
};

export type GateInit = {
  registry: Registry;
  store: Store;
  permissions: Permissions;
  foreign: ForeignTable;
  held: HeldTable;
  rejections: Rejections;
  /** False for a stamp further ahead of this clock than sync.maxDriftMs: it must not be observed. */
  admits(stamp: Stamp): boolean;
  /** A check beyond the declaration (the timeline's encoding): an error sentence, or undefined. */
  validate?(path: string, value: SyncEntry['value']): string | undefined;
  /** Re-asserts our value over a refused write (at most once per path per second), or nothing. */
  correction(sender: string, e: SyncEntry): Write | undefined;
  /** The origin signed two values under one stamp. */
  onEquivocation(origin: string, path: string, detail: string): void;
  /** A write applied: the batch that proves it, kept to pass on. */
  onApplied(path: string, batch: Batch): void;
  /** A write its origin marks as a person's (not its plugins') was applied: plugins here give way. */
  onHuman?(path: string): void;
  onForeign(entry: SyncEntry): void;
};

export type Gate = {
  accept(sender: string, batch: Batch, entries: readonly SyncEntry[]): void;
  readonly counts: GateCounts;
};

type Correction = { write: Write; human: boolean };

const sameStamp = (a: Stamp, b: Stamp) => a.t === b.t && a.c === b.c && a.node === b.node;

export function createGate(init: GateInit): Gate {
  const { registry, store, rejections } = init;
  const counts: GateCounts = {
    applied: 0,
    stale: 0,
    refused: 0,
    corrections: 0,
    held: 0,
    futureStamps: 0,
    equivocations: 0,
  };

  function equivocates(origin: string, e: SyncEntry, current: SyncEntry | undefined): void {
    if (!current || !sameStamp(e.stamp, current.stamp) || sameValue(e.value, current.value)) return;
    counts.equivocations++;
    const detail = `${shortId(origin)} signed two values for ${e.path} under one stamp (${JSON.stringify(current.value)} and ${JSON.stringify(e.value)})`;
    init.onEquivocation(origin, e.path, detail);
  }

  function acceptOne(sender: string, batch: Batch, e: SyncEntry, corrections: Correction[]): void {
    const origin = batch.origin;
    const who = shortId(sender);
    const ctx = { peer: sender, origin, path: e.path };
    if (!init.admits(e.stamp)) {
      counts.refused++;
      counts.futureStamps++;
      rejections.reject(
        'sync-future-stamp',
        who,
        `${e.path}: ${shortId(origin)}'s stamp ${new Date(e.stamp.t).toISOString()} is further ahead of this clock than sync.maxDriftMs`,
        ctx,
      );
      return;
    }
    const verdict = init.permissions.judge(origin, e.path);
    if (!verdict.ok) {
      if (verdict.code === 'unknown-origin') {
        const kept = init.held.offer({ entry: e, batch, from: sender });
        if (kept) counts.held++;
        rejections.reject(
          kept ? 'sync-unknown-origin' : 'sync-unknown-origin-dropped',
          who,
          kept ? verdict.message : `${verdict.message}, but the table of held writes is full`,
          ctx,
        );
        return;
      }
      counts.refused++;
      if (verdict.code === 'not-a-device') {
        rejections.reject('sync-malformed', who, verdict.message, ctx);
        return;
      }
      rejections.reject(`sync-${verdict.code}`, who, verdict.message, ctx);
      if (verdict.code !== 'origin-blocked' && origin === sender) {
        const c = init.correction(sender, e);
        // Ranked as a person's only when it answers one (write-order.ts): it must outrank the
        // refused write on the writer. Never from our current value: a refused writer could
        // then renew a person's lead, and so hold every laptop's plugins off, at will.
        if (c) corrections.push({ write: c, human: e.human === true });
      }
      return;
    }
    const spec = registry.get(e.path);
    if (!spec) {
      equivocates(origin, e, init.foreign.get(e.path));
      const kept = init.foreign.offer(e, batch, sender, Date.now());
      if (kept.changed) init.onForeign(e);
      rejections.reject(
        kept.full ? 'sync-unknown-path-dropped' : 'sync-unknown-path',
        who,
        kept.full
          ? `${e.path} is not declared here and the table of unknown paths is full (sync.maxUnknownPaths)`
          : `${e.path} is not declared here: kept aside, not applied`,
        ctx,
      );
      return;
    }
    const checked = checkValue(spec, e.value);
    const invalid = checked.ok ? init.validate?.(e.path, e.value) : checked.message;
    if (invalid !== undefined) {
      counts.refused++;
      rejections.reject('sync-invalid-value', who, `${e.path}: ${invalid}`, ctx);
      return;
    }
    const current = store.get(e.path);
    equivocates(origin, e, current && { path: e.path, value: current.value, stamp: current.stamp });
    if (current && compareWrites(e, current) <= 0) {
      counts.stale++;
      return;
    }
    const source = origin === sender ? `peer:${origin}` : `peer:${origin}:via:${sender}`;
    const entry = e.human
      ? { value: e.value, stamp: e.stamp, source, human: true }
      : { value: e.value, stamp: e.stamp, source };
    if (store.merge(e.path, entry)) {
      counts.applied++;
      init.onApplied(e.path, batch);
      if (e.human) init.onHuman?.(e.path);
    } else {
      // The store's clock refused the stamp (admits() above makes this a race at the bound).
      counts.refused++;
      counts.futureStamps++;
      rejections.reject('sync-future-stamp', who, `${e.path}: stamp too far ahead of this clock`, ctx);
    }
  }

  return {
    counts,
    accept(sender, batch, entries) {
      const corrections: Correction[] = [];
      for (const e of entries) acceptOne(sender, batch, e, corrections);
      if (corrections.length > 0) {
        for (const human of [true, false]) {
          const writes = corrections.filter((c) => c.human === human).map((c) => c.write);
          // An automation answer is left out where a person's value here already outranks the
          // refused write everywhere (store.apply): nothing to re-assert then.
          if (writes.length > 0)
            counts.corrections += store.apply(writes, 'sync:correction', { human }).length;
        }
      }
    },
  };
}
