import { open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

// Audit files are named by the time they were started, so the folder sorts chronologically
// and pruning by age needs no clock but the injected one: a file's newest record is no later
// than the start of the file after it.

export type AuditFile = { name: string; path: string; start: number };

const PREFIX = 'audit-';
const SUFFIX = '.jsonl';
// audit-2026-11-23T17-55-00.123Z.jsonl: ISO time with ':' replaced (not allowed on every file system).
const NAME = /^audit-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z)\.jsonl$/;

export function auditFileName(start: number): string {
  return `${PREFIX}${new Date(start).toISOString().replace(/:/g, '-')}${SUFFIX}`;
}

export function parseAuditFileName(name: string): number | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const iso = m[1]!.replace(/T(\d{2})-(\d{2})-(\d{2})/, 'T$1:$2:$3');
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

/** Oldest first. */
export async function listAuditFiles(dir: string): Promise<AuditFile[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const files: AuditFile[] = [];
  for (const name of names) {
    const start = parseAuditFileName(name);
    if (start !== undefined) files.push({ name, path: join(dir, name), start });
  }
  return files.sort((a, b) => a.start - b.start);
}

/** The time of the last complete record in a file, read from its tail; undefined if none. */
export async function lastRecordTime(path: string): Promise<number | undefined> {
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
    const end = next ? next.start : ((await lastRecordTime(f.path)) ?? f.start);
    if (end < init.now - init.maxAgeMs) deleted.push(f.path);
    else keep.push(f);
  }
  const excess = keep.length - init.maxFiles;
  for (const f of keep.filter((k) => k.path !== init.current).slice(0, Math.max(0, excess)))
    deleted.push(f.path);
  for (const p of deleted) await unlink(p).catch(() => {});
  return deleted;
}
