import { open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

// Audit files are named by the time they were started, so the folder sorts chronologically
// and pruning by age needs no clock but the injected one: a file's newest record is no later
// than the start of the file after it. `.sealed` files hold sealed, chained records
// (daemon/audit/crypto.ts); `.jsonl` files are plaintext JSON lines from before sealing, kept
// readable until they are migrated (daemon/audit/migrate.ts).

export type AuditFile = { name: string; path: string; start: number; sealed: boolean };

const PREFIX = 'audit-';
// audit-2026-11-23T17-55-00.123Z.sealed: ISO time with ':' replaced (not allowed on every file system).
const NAME = /^audit-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z)\.(sealed|jsonl)$/;

export function auditFileName(start: number, kind: 'sealed' | 'jsonl' = 'sealed'): string {
  return `${PREFIX}${new Date(start).toISOString().replace(/:/g, '-')}.${kind}`;
}

export function parseAuditFileName(name: string): { start: number; sealed: boolean } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const iso = m[1]!.replace(/T(\d{2})-(\d{2})-(\d{2})/, 'T$1:$2:$3');
  const t = Date.parse(iso);
  return Number.isFinite(t) ? { start: t, sealed: m[2] === 'sealed' } : undefined;
}

/** Oldest first. */
export async function listAuditFiles(dir: string): Promise<AuditFile[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const files: AuditFile[] = [];
  for (const name of names) {
    const parsed = parseAuditFileName(name);
    if (parsed !== undefined) files.push({ name, path: join(dir, name), ...parsed });
  }
  return files.sort((a, b) => a.start - b.start || Number(a.sealed) - Number(b.sealed));
}

/** The time of the last complete record in a plaintext file, read from its tail; undefined if none. */
export async function lastPlainRecordTime(path: string): Promise<number | undefined> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'r');
    const { size } = await fh.stat();
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    lines.pop(); // after the last newline: empty, or a torn record
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = /"time":"([^"]+)"/.exec(lines[i]!);
      const t = m ? Date.parse(m[1]!) : Number.NaN;
      if (Number.isFinite(t)) return t;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

export type PruneInit = {
  dir: string;
  now: number;
  maxAgeMs: number;
  maxFiles: number;
  /** The file being written: never pruned. */
  current?: string;
  /** The time of a sealed file's last record (its key is not this module's business). */
  lastSealedTime: (path: string) => Promise<number | undefined>;
};

/** Deletes files whose newest record is older than maxAge, then the oldest beyond maxFiles. */
export async function pruneAuditFiles(init: PruneInit): Promise<string[]> {
  const files = await listAuditFiles(init.dir);
  const deleted: string[] = [];
  const keep: AuditFile[] = [];
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    if (f.path === init.current) {
      keep.push(f);
      continue;
    }
    const next = files[i + 1];
    const last = f.sealed ? init.lastSealedTime : lastPlainRecordTime;
    const end = next ? next.start : ((await last(f.path)) ?? f.start);
    if (end < init.now - init.maxAgeMs) deleted.push(f.path);
    else keep.push(f);
  }
  const excess = keep.length - init.maxFiles;
  for (const f of keep.filter((k) => k.path !== init.current).slice(0, Math.max(0, excess)))
    deleted.push(f.path);
  for (const p of deleted) await unlink(p).catch(() => {});
  return deleted;
}
