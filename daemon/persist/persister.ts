import {
  type HomeBinding,
  readSealed,
  type SealKey,
  type UnsealCode,
  writeSealedAtomic,
} from '../../trust-store/sealed-file.ts';
import { removeStaleTemps } from '../../trust-store/stale-temps.ts';
import type { Logger } from '../log.ts';
import { compareStamps, type Stamp, ZERO_STAMP } from '../state/hlc.ts';
import type { Registry } from '../state/registry.ts';
import type { Change, Store } from '../state/store.ts';
import { compareWrites } from '../state/write-order.ts';
import { type Timers, unrefTimers } from '../timers.ts';
import { decodeState, encodeState, type PersistedEntry } from './state-file.ts';
import { checkStoredValue, type StoredCode } from './stored-value.ts';

// Persisted parameter state: restored once at start (through store.merge, so each value keeps
// its original stamp and writer and competes with peers by last-writer-wins), then saved after
// every change, sealed and atomically (temp file, fsync, rename). A SIGKILL at any moment leaves
// the whole previous save or the whole new one. An entry the current config cannot take (an
// undeclared path, a changed type, a value now out of range, a stamp from the future) is kept in
// the file untouched and reported, so editing the config back brings it back.

export type KeptEntry = { path: string; code: StoredCode | 'out-of-range' | 'stamp-refused'; reason: string };

export type RestoreReport = { firstRun: boolean; restored: number; kept: KeptEntry[]; savedAt?: string };

export type PersistStatus = {
  path: string;
  lastSavedAt: string | null;
  saves: number;
  failures: number;
  unknownPaths: number;
};

export type Persister = {
  readonly report: RestoreReport;
  status(): PersistStatus;
  /** Saves now if anything changed since the last save; resolves when it is on disk. */
  flush(): Promise<void>;
  close(): Promise<void>;
};

export type PersisterInit = {
  path: string;
  key: SealKey;
  registry: Registry;
  store: Store;
  log: Logger;
  /** Which state files are this home's, and the device a save names (read at each save). */
  binding: HomeBinding;
  saveDelayMs: number;
  now?: () => number;
  /** Save timers; injected so tests can see and fire them. */
  timers?: Timers;
};

/** Why the state file was refused: readSealed's codes, or 'bad-state' for a body that is not ours. */
export type RefusalCode = UnsealCode | 'unreadable' | 'bad-state';
export type OpenPersister =
  | { ok: true; persister: Persister }
  | { ok: false; code: RefusalCode; error: string };

const MAX_RETRY_MS = 30_000;
/**
 * Changes only plugins made (automation: an LFO rewrites its parameter as soon as it runs again)
 * are saved this long after, not after saveDelayMs: sealing and fsyncing the state four times a
 * second was most of an idle daemon's CPU while the bundled LFO ran (issue 18).
 */
export const AUTOMATION_SAVE_DELAY_MS = 5000;
const isAutomation = (c: Change) => c.source.startsWith('plugin:');
/**
 * While changes keep coming (the last save started less than this many saveDelayMs ago), the
 * next save waits until that many have passed since it started: at controller rates a sealed,
 * fsync'd save every 250 ms was about 4 % of the daemon's OSC ingest profile (issue 18). A
 * change after a quiet spell is still saved saveDelayMs after it; in a stream, what a SIGKILL
 * can lose is at most the last STREAM_SAVE_FACTOR × saveDelayMs (1 s by default) plus one save.
 */
export const STREAM_SAVE_FACTOR = 4;
/** A declared default nobody has written: nothing to save. */
const unwritten = (s: Stamp) => compareStamps(s, ZERO_STAMP) === 0;
const FAILURE_LOG_INTERVAL_MS = 60_000;

function refusal(path: string, code: RefusalCode, error: string): string {
  const check =
    code === 'other-device' || code === 'unknown-legacy'
      ? `put back this laptop's own ${path} from a backup`
      : `check that storage.key gives the key or passphrase ${path} was saved with, or restore the file from a backup`;
  return `${error}; ${check} (or move it away to start from defaults); hana left it untouched`;
}

async function restore(
  init: PersisterInit,
): Promise<
  | { ok: true; report: RestoreReport; kept: Map<string, PersistedEntry> }
  | { ok: false; code: RefusalCode; error: string }
> {
  const { path, registry, store } = init;
  const kept = new Map<string, PersistedEntry>();
  const read = await readSealed(path, init.key, init.binding);
  if (!read.ok) {
    if (read.code === 'unreadable' && read.missing) {
      return { ok: true, report: { firstRun: true, restored: 0, kept: [] }, kept };
    }
    // readSealed's message already names the file.
    return { ok: false, code: read.code, error: refusal(path, read.code, read.error) };
  }
  const decoded = decodeState(read.plaintext);
  if (!decoded.ok)
    return { ok: false, code: 'bad-state', error: refusal(path, 'bad-state', `${path} ${decoded.error}`) };
  const report: RestoreReport = { firstRun: false, restored: 0, kept: [], savedAt: decoded.file.savedAt };
  for (const e of decoded.file.entries) {
    const check = checkStoredValue(registry, e.path, e.value);
    let why: KeptEntry | undefined;
    if (!check.ok) why = { path: e.path, code: check.code, reason: check.reason };
    // Restoring a clamped value under the old stamp would make two daemons disagree on one stamp.
    else if (check.clamped)
      why = { path: e.path, code: 'out-of-range', reason: `${e.value} is outside the range now declared` };
    else {
      const current = store.get(e.path);
      const entry = e.human
        ? { value: check.value, stamp: e.stamp, source: e.source, human: true }
        : { value: check.value, stamp: e.stamp, source: e.source };
      // An older duplicate of a path already restored: nothing to report.
      if (current && compareWrites(entry, current) <= 0) continue;
      if (!store.merge(e.path, entry)) {
        why = {
          path: e.path,
          code: 'stamp-refused',
          reason: `stamped ${new Date(e.stamp.t).toISOString()}, too far ahead of this machine's clock`,
        };
      }
    }
    if (why) {
      kept.set(e.path, e);
      report.kept.push(why);
    } else {
      report.restored++;
    }
  }
  return { ok: true, report, kept };
}

export async function openPersister(init: PersisterInit): Promise<OpenPersister> {
  const { path, store, registry, log } = init;
  const now = init.now ?? Date.now;
  await removeStaleTemps(path);
  const r = await restore(init);
  if (!r.ok) return r;
  const { report, kept } = r;

  let lastSavedAt: string | null = report.savedAt ?? null;
  let saves = 0;
  let failures = 0;
  let consecutiveFailures = 0;
  let lastSaveMs = 0;
  let lastFailureLog = -Infinity;
  let dirty = false;
  let closed = false;
  const timers = init.timers ?? unrefTimers;
  let timer: unknown;
  /** When the pending save timer fires (performance.now() ms), and the delay it was set with. */
  let timerDue = 0;
  let timerDelay = 0;
  /** A change not made by a plugin is waiting to be saved: saveDelayMs applies, not the automation delay. */
  let urgent = false;
  let saving: Promise<void> | undefined;
  /** When the last save started (performance.now() ms): saves in a stream are spaced from it. */
  let lastSaveStart = Number.NEGATIVE_INFINITY;

  function snapshot(): PersistedEntry[] {
    const out: PersistedEntry[] = [];
    for (const [p, e] of store.entries()) {
      if (unwritten(e.stamp)) continue;
      if (registry.get(p)?.type === 'trigger') continue;
      out.push(
        e.human
          ? { path: p, value: e.value, stamp: e.stamp, source: e.source, human: true }
          : { path: p, value: e.value, stamp: e.stamp, source: e.source },
      );
    }
    for (const [p, e] of kept) {
      const live = store.get(p);
      if (!live || unwritten(live.stamp)) out.push(e);
    }
    return out;
  }

  async function save(): Promise<void> {
    dirty = false;
    urgent = false;
    const at = now();
    const node = init.binding.device;
    const bytes = encodeState(node, at, snapshot());
    const started = performance.now();
    lastSaveStart = started;
    try {
      // Format 2 names the device: a state.sealed from before it is migrated by this save.
      await writeSealedAtomic(path, bytes, init.key, node);
      lastSaveMs = performance.now() - started;
      saves++;
      consecutiveFailures = 0;
      lastSavedAt = new Date(at).toISOString();
    } catch (err) {
      failures++;
      consecutiveFailures++;
      dirty = true;
      const t = now();
      if (t - lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
        lastFailureLog = t;
        log.error(
          { err, event: 'persist.save-failed', path, failures },
          `could not save parameter state to ${path}: ${(err as Error).message}; retrying (free disk space or fix permissions)`,
        );
      }
    }
  }

  // Under a passphrase every save runs scrypt (~0.1–0.2 s of a thread-pool core, measured), so
  // during a stream of changes saves are spaced to keep that work under a fifth of a core.
  const spacing = () => Math.max(init.saveDelayMs, Math.round(4 * lastSaveMs));

  /** The delay for what is dirty now: automation alone waits longer. */
  const due = () => (urgent ? spacing() : Math.max(AUTOMATION_SAVE_DELAY_MS, spacing()));

  function schedule(delay = due()): void {
    if (closed || saving) return;
    // Set no later than now with no longer a delay, the timer already fires in time: every OSC
    // write lands here, and this check reads no clock (issue 18).
    // (The stream spacing below moves both that timer and this change's save to the same
    // point after the last save, so the comparison of the delays asked for still holds.)
    if (timer !== undefined && timerDelay <= delay) return;
    const t = performance.now();
    const wait = Math.max(delay, lastSaveStart + STREAM_SAVE_FACTOR * init.saveDelayMs - t);
    const at = t + wait;
    if (timer !== undefined) {
      if (at >= timerDue) return;
      cancelTimer(); // a person's change does not wait for the automation's slower save
    }
    timerDue = at;
    timerDelay = delay;
    timer = timers.set(wait, run);
  }

  function cancelTimer(): void {
    if (timer !== undefined) timers.clear(timer);
    timer = undefined;
  }

  // Saves never overlap: an older snapshot renamed after a newer one would win.
  function startSave(): Promise<void> {
    cancelTimer();
    saving = save().finally(() => {
      saving = undefined;
      if (!dirty) return;
      const backoff =
        consecutiveFailures > 0
          ? Math.min(MAX_RETRY_MS, Math.max(init.saveDelayMs, 500 * 2 ** consecutiveFailures))
          : due();
      schedule(backoff);
    });
    return saving;
  }

  function run(): void {
    timer = undefined;
    if (!saving) void startSave();
  }

  const unsubscribe = store.subscribe((changes) => {
    dirty = true;
    if (!urgent && !changes.every(isAutomation)) urgent = true;
    schedule();
  });

  async function flush(): Promise<void> {
    for (let i = 0; i < 100 && saving; i++) await saving;
    if (dirty && !saving) await startSave();
  }

  return {
    ok: true,
    persister: {
      report,
      status: () => ({ path, lastSavedAt, saves, failures, unknownPaths: kept.size }),
      flush,
      async close() {
        if (closed) return;
        closed = true;
        unsubscribe();
        cancelTimer();
        await flush();
      },
    },
  };
}
