import { open } from 'node:fs/promises';
import type { AddressPattern } from '../state/pattern.ts';
import { listAuditFiles } from './files.ts';
import { AuditRecord } from './record.ts';

// Reading the audit log back: newest files and lines first until `limit` matches are found,
// returned oldest first. A line cut short by a crash (or anything that is not a record) is
// skipped and counted, never fatal; lines older than what was asked for are never parsed.

export type AuditQuery = {
  /** Epoch ms; records before it are left out. */
  since?: number;
  path?: AddressPattern;
  /** Prefix of the writer: "peer:", "cli", "scene:intro"… */
  writer?: string;
  limit: number;
};

export type AuditResult = { records: AuditRecord[]; skippedLines: number; filesRead: number };

/** Files bigger than this are read from their tail only. */
const MAX_READ_BYTES = 64 * 1024 * 1024;

async function readTail(path: string): Promise<{ text: string; cut: boolean } | undefined> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'r');
    const { size } = await fh.stat();
    const len = Math.min(size, MAX_READ_BYTES);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return { text: buf.toString('utf8'), cut: len < size };
  } catch {
    // Pruned between listing and reading.
    return undefined;
  } finally {
    await fh?.close();
  }
}

export async function queryAudit(dir: string, q: AuditQuery): Promise<AuditResult> {
  const files = await listAuditFiles(dir);
  const found: AuditRecord[][] = [];
  let total = 0;
  let skippedLines = 0;
  let filesRead = 0;
  let older = false;
  for (let i = files.length - 1; i >= 0 && total < q.limit; i--) {
    const next = files[i + 1];
    // Every record in this file is older than the next file's start.
    if (q.since !== undefined && next && next.start < q.since) break;
    const read = await readTail(files[i]!.path);
    if (!read) continue;
    filesRead++;
    const lines = read.text.split('\n');
    const last = lines.pop()!;
    if (last !== '') skippedLines++; // a torn final record
    if (read.cut) lines.shift(); // starts mid-record
    // Newest first, so the usual question (the last hundred) parses a hundred lines, not a file.
    const matched: AuditRecord[] = [];
    for (let j = lines.length - 1; j >= 0 && total + matched.length < q.limit; j--) {
      const line = lines[j]!;
      if (line === '') continue;
      let rec: AuditRecord;
      try {
        const parsed = AuditRecord.safeParse(JSON.parse(line));
        if (!parsed.success) {
          skippedLines++;
          continue;
        }
        rec = parsed.data;
      } catch {
        skippedLines++;
        continue;
      }
      // A file is written in time order: everything before this line is older still.
      if (q.since !== undefined && !(Date.parse(rec.time) >= q.since)) {
        older = true;
        break;
      }
      if (q.writer !== undefined && !rec.writer.startsWith(q.writer)) continue;
      if (q.path && (rec.kind !== 'change' || !q.path.match(rec.path))) continue;
      matched.push(rec);
    }
    matched.reverse();
    found.unshift(matched);
    total += matched.length;
    if (older) break;
  }
  const all = found.flat();
  return { records: all.slice(Math.max(0, all.length - q.limit)), skippedLines, filesRead };
}
