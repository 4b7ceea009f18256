import type { AddressPattern } from '../state/pattern.ts';
import { openRecord, parseRecordLine } from './crypto.ts';
import { listAuditFiles } from './files.ts';
import { AuditRecord } from './record.ts';
import { readHeader, readTail, splitLines } from './sealed-file-read.ts';

// Reading the audit log back: newest files and lines first until `limit` matches are found,
// returned oldest first. A line cut short by a crash, a record that does not authenticate, or
// anything that is not a record is skipped and counted, never fatal (`hana audit --verify` is
// what names them); lines older than what was asked for are never decrypted.

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

/** A function from one line to its record's JSON, or undefined if the line is not one. */
type Opener = (line: string) => string | undefined;

async function openerFor(
  file: { path: string; sealed: boolean },
  secret: Uint8Array,
): Promise<Opener | undefined> {
  if (!file.sealed) return (line) => line; // plaintext from before sealing
  const h = await readHeader(file.path, secret);
  if (!h?.ok) return undefined;
  return (line) => {
    const r = parseRecordLine(line);
    return r && openRecord(h.keys, r);
  };
}

export async function queryAudit(dir: string, secret: Uint8Array, q: AuditQuery): Promise<AuditResult> {
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
    const file = files[i]!;
    const read = await readTail(file.path, MAX_READ_BYTES);
    const open = read && (await openerFor(file, secret));
    if (!read) continue; // pruned between listing and reading
    if (!open) {
      // Not this home's file (or its header was damaged): none of its lines can be read.
      skippedLines += splitLines(read.text, read.cut).lines.length;
      continue;
    }
    filesRead++;
    const { lines, torn } = splitLines(read.text, read.cut);
    if (torn) skippedLines++; // a torn final record
    // Newest first, so the usual question (the last hundred) parses a hundred lines, not a file.
    const matched: AuditRecord[] = [];
    for (let j = lines.length - 1; j >= 0 && total + matched.length < q.limit; j--) {
      const line = lines[j]!;
      if (line === '' || (file.sealed && j === 0 && !read.cut)) continue; // the header
      let rec: AuditRecord;
      try {
        const json = open(line);
        const parsed = json === undefined ? undefined : AuditRecord.safeParse(JSON.parse(json));
        if (!parsed?.success) {
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
