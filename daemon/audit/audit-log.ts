import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditConfig } from '../config/storage-schema.ts';
import type { Logger } from '../log.ts';
import type { Change, Store } from '../state/store.ts';
import { createCoalescer } from './coalesce.ts';
import { type FileKeys, newHeader, sealedLineBytes, sealRecord } from './crypto.ts';
import { auditFileName, listAuditFiles, pruneAuditFiles } from './files.ts';
import { openHeadWriter } from './head.ts';
import { migrateLegacy } from './migrate.ts';
import type { ActionRecord } from './record.ts';
import { resumeChain, type Tip } from './resume.ts';
import { lastSealedTime } from './sealed-file-read.ts';

// The audit log: who changed what, when, from what to what. It sits on the write path, so it
// must never slow or break it: a change becomes one string pushed onto a bounded queue, and a
// single writer drains the queue with buffered appends. When the queue is full (disk stalled)
// records are dropped, counted and logged, and the show goes on. The writer seals each record
// and chains it to the one before (daemon/audit/crypto.ts) as it drains, off the write path.

export type AuditStatus = {
  file: string | null;
  records: number;
  dropped: number;
  failures: number;
};

export type AuditLog = {
  readonly dir: string;
  /** The home's audit key, for reading and verifying the files. */
  readonly secret: Uint8Array;
  /** An operator action that is not itself a value change. */
  action(action: string, writer: string, detail?: Record<string, unknown>): void;
  /** Resolves when everything recorded so far is in a file. */
  flush(): Promise<void>;
  /** Deletes files past maxAgeHours/maxFiles (also done on every new file and hourly). */
  prune(): Promise<string[]>;
  status(): AuditStatus;
  close(): Promise<void>;
};

export type AuditLogInit = {
  dir: string;
  config: AuditConfig;
  store: Store;
  log: Logger;
  /** Where a log found cut short at start is reported; `log` when not given. */
  security?: Logger;
  /** The home's audit key (storage.check): 32 bytes. */
  secret: Uint8Array;
  /** Named in each file's header; read when a file starts, since a rotation changes it. */
  device: () => string;
  now?: () => number;
};

type Queued = { t: number; json: string };
type Current = {
  path: string;
  name: string;
  start: number;
  size: number;
  /** Bytes of the header line: a file holding only these has no record yet. */
  headerBytes: number;
  keys: FileKeys;
  fh: Awaited<ReturnType<typeof open>>;
};

const DROP_LOG_INTERVAL_MS = 10_000;
/**
 * Records sealed per append. Sealing costs ≈ 10–25 µs a record on this (loaded, 2-core) machine,
 * one AES-GCM context each (test/bench/audit.bench.ts), so a scene load of thousands of changes
 * is written in slices of a few milliseconds, with the event loop free between them.
 */
const MAX_BATCH = 256;
const PRUNE_INTERVAL_MS = 3_600_000;

/** "peer" selects "peer:…"; "osc:udp" selects "osc:udp:…"; "*" selects every writer. */
export function sourceSelector(prefixes: readonly string[]): (source: string) => boolean {
  if (prefixes.includes('*')) return () => true;
  return (source) => {
    for (const p of prefixes) {
      if (source === p || (source.startsWith(p) && source.charCodeAt(p.length) === 58) /* ':' */) return true;
    }
    return false;
  };
}

/**
 * `select`, asked once per writer: every write reaches the audit's subscriber, and apps sending
 * at once alternate writers from one write to the next, so remembering only the last writer
 * walked the prefixes for nearly every write (issue 18, four apps at 10k/s). Bounded: past `max`
 * writers it starts over.
 */
export function memoSelector(select: (source: string) => boolean, max = 1024): (source: string) => boolean {
  const known = new Map<string, boolean>();
  return (source) => {
    let s = known.get(source);
    if (s === undefined) {
      if (known.size >= max) known.clear();
      s = select(source);
      known.set(source, s);
    }
    return s;
  };
}

export async function openAuditLog(init: AuditLogInit): Promise<AuditLog> {
  const { dir, config, log, secret } = init;
  const security = init.security ?? log;
  const now = init.now ?? Date.now;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const selected = memoSelector(sourceSelector(config.sources));
  const maxAgeMs = config.maxAgeHours * 3_600_000;
  const fileMs = config.fileHours * 3_600_000;

  const resumed = await resumeChain(dir, secret);
  if (resumed.warning) {
    security.error(
      { event: 'audit.tampered', code: resumed.warning.code, dir },
      `${resumed.warning.message}; \`hana audit --verify\` names every gap`,
    );
  }
  const head = await openHeadWriter(dir, secret);
  const migrated = await migrateLegacy({ dir, secret, device: init.device(), tip: resumed.tip, head, log });
  let tip: Tip = migrated.tip;

  const queue: Queued[] = [];
  let records = 0;
  let dropped = 0;
  let failures = 0;
  let droppedSinceLog = 0;
  let lastDropLog = -Infinity;
  let lastFailureLog = -Infinity;
  let closed = false;
  let current: Current | undefined;
  let lastStart = (await listAuditFiles(dir)).at(-1)?.start ?? -Infinity;
  let draining: Promise<void> | undefined;
  let kicked = false;

  function drop(n: number, why: string): void {
    dropped += n;
    droppedSinceLog += n;
    const t = now();
    if (t - lastDropLog >= DROP_LOG_INTERVAL_MS) {
      lastDropLog = t;
      log.warn(
        { event: 'audit.dropped', dropped: droppedSinceLog, total: dropped, reason: why },
        `audit log dropped ${droppedSinceLog} record(s): ${why}`,
      );
      droppedSinceLog = 0;
    }
  }

  function push(t: number, json: string): void {
    if (closed) return;
    if (queue.length >= config.queueLimit) {
      drop(1, `more than ${config.queueLimit} records waiting for the disk`);
      return;
    }
    queue.push({ t, json });
    if (!kicked && !draining) {
      kicked = true;
      // One append for everything recorded in this tick (a scene load is one batch of changes).
      queueMicrotask(kick);
    }
  }

  function kick(): void {
    kicked = false;
    if (draining || queue.length === 0) return;
    draining = drain().finally(() => {
      draining = undefined;
      if (queue.length > 0) kick();
    });
  }

  async function rotate(): Promise<void> {
    if (!current) return;
    const fh = current.fh;
    current = undefined;
    await fh.sync().catch(() => {});
    await fh.close().catch(() => {});
  }

  async function ensureFile(): Promise<NonNullable<typeof current>> {
    if (current && now() - current.start >= fileMs) await rotate();
    if (current) return current;
    // Strictly increasing starts keep names unique and in order even if the clock stalls.
    const start = Math.max(now(), lastStart + 1);
    lastStart = start;
    const name = auditFileName(start);
    const path = join(dir, name);
    // 'wx': a file is only ever started, never appended to by a later run, so its header is its first line.
    const fh = await open(path, 'wx', 0o600);
    const header = newHeader(secret, {
      device: init.device(),
      start,
      anchor: tip.link,
      anchorFile: tip.file,
      anchorTime: tip.time,
    });
    try {
      await fh.write(header.line);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    const headerBytes = Buffer.byteLength(header.line);
    current = { path, name, start, size: headerBytes, headerBytes, keys: header.keys, fh };
    await prune();
    return current;
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      let file: NonNullable<typeof current>;
      try {
        file = await ensureFile();
      } catch (err) {
        failed(err, queue.splice(0).length);
        return;
      }
      const room = config.maxFileBytes - file.size;
      const lines: string[] = [];
      let bytes = 0;
      const before = tip;
      let link = tip.link;
      let time = tip.time;
      while (queue.length > 0 && lines.length < MAX_BATCH) {
        const q = queue[0]!;
        const b = sealedLineBytes(link.seq + 1, Buffer.byteLength(q.json));
        // A record larger than a whole file still goes somewhere: alone, in a fresh file.
        if (bytes + b > room && (lines.length > 0 || file.size > file.headerBytes)) break;
        queue.shift();
        const sealed = sealRecord(file.keys, link, q.json);
        lines.push(sealed.line);
        link = sealed.link;
        time = new Date(q.t).toISOString();
        bytes += b;
      }
      if (lines.length === 0) {
        await rotate();
        continue;
      }
      try {
        await file.fh.write(lines.join(''));
        file.size += bytes;
        records += lines.length;
        tip = { link, file: file.name, time };
      } catch (err) {
        // The next file is anchored where the chain stood before this batch.
        tip = before;
        failed(err, lines.length);
        await rotate();
        continue;
      }
      try {
        await head.write({ link, file: file.name, time: time! });
      } catch (err) {
        failed(err, 0);
      }
      if (file.size >= config.maxFileBytes) await rotate();
    }
  }

  function failed(err: unknown, lost: number): void {
    failures++;
    const t = now();
    if (t - lastFailureLog >= DROP_LOG_INTERVAL_MS) {
      lastFailureLog = t;
      log.error(
        { err, event: 'audit.write-failed', dir },
        `cannot write the audit log in ${dir}: ${(err as Error).message}`,
      );
    }
    if (lost > 0) drop(lost, 'the audit file could not be written');
  }

  async function prune(): Promise<string[]> {
    const deleted = await pruneAuditFiles({
      dir,
      now: now(),
      maxAgeMs,
      maxFiles: config.maxFiles,
      current: current?.path,
      lastSealedTime: (path) => lastSealedTime(path, secret),
    }).catch((err: Error) => {
      log.warn({ err, event: 'audit.prune-failed', dir }, `could not prune old audit files: ${err.message}`);
      return [] as string[];
    });
    if (deleted.length)
      log.debug({ event: 'audit.pruned', files: deleted }, `pruned ${deleted.length} audit file(s)`);
    return deleted;
  }

  // Called for every write; by default OSC's are not recorded: the prefix walk runs once per
  // writer, not per write (issue 18 profiled this subscriber at 6 % of OSC ingest, for writes it
  // never records).
  const coalescer = createCoalescer(config.coalesceMs);
  // Runs only while a window is open: an idle daemon (or one taking only OSC) has none, and a
  // timer a second for nothing was one of an idle daemon's wake-ups (issue 18).
  let coalesceTimer: NodeJS.Timeout | undefined;
  const unsubscribe = init.store.subscribe((changes: readonly Change[]) => {
    for (const ch of changes) {
      if (!ch.changed || !selected(ch.source)) continue;
      const t = now();
      for (const rec of coalescer.offer(ch, t)) push(t, JSON.stringify(rec));
    }
    if (coalescer.open > 0 && coalesceTimer === undefined && !closed) {
      coalesceTimer = setInterval(() => pushDue(now()), config.coalesceMs);
      coalesceTimer.unref();
    }
  });
  const pushDue = (t: number) => {
    for (const rec of coalescer.due(t)) push(Date.parse(rec.time), JSON.stringify(rec));
    if (coalescer.open === 0 && coalesceTimer !== undefined) {
      clearInterval(coalesceTimer);
      coalesceTimer = undefined;
    }
  };

  const pruneTimer = setInterval(() => void prune(), Math.min(PRUNE_INTERVAL_MS, fileMs));
  pruneTimer.unref();

  async function flush(): Promise<void> {
    // What a window still holds is recorded now: flush means everything recorded so far.
    pushDue(Number.POSITIVE_INFINITY);
    // Records pushed while a drain runs are written by the drain that follows it.
    for (let i = 0; i < 1000 && (draining || queue.length > 0); i++) {
      if (!draining) kick();
      await draining;
    }
  }

  return {
    dir,
    secret,
    action(action, writer, detail) {
      const t = now();
      const rec: ActionRecord = {
        kind: 'action',
        time: new Date(t).toISOString(),
        action,
        writer,
        ...(detail && { detail }),
      };
      push(t, JSON.stringify(rec));
    },
    flush,
    prune,
    status: () => ({ file: current?.path ?? null, records, dropped, failures }),
    async close() {
      if (closed) return;
      unsubscribe();
      clearInterval(pruneTimer);
      if (coalesceTimer) clearInterval(coalesceTimer);
      await flush();
      closed = true;
      await rotate();
      await head.close().catch(() => {});
    },
  };
}
