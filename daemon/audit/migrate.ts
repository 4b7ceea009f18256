import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../trust-store/secure-file.ts';
import type { Logger } from '../log.ts';
import { newHeader, sealRecord } from './crypto.ts';
import { auditFileName, listAuditFiles } from './files.ts';
import type { HeadWriter } from './head.ts';
import { AuditRecord } from './record.ts';
import type { Tip } from './resume.ts';

// A home upgraded from plaintext audit files (audit-*.jsonl) gets them sealed at the next start,
// in order, at the front of the chain: the point of sealing is that nobody who copies the home
// reads the show, and old files would say as much as new ones until retention removed them.
// Each file is sealed to a temp file, renamed over its sealed name, then the plaintext removed;
// a crash in between leaves both, and the next start removes the plaintext. (Deleting a file
// does not scrub the disk blocks it used: docs/scenes.md says so.)

export type Migrated = { tip: Tip; files: string[]; records: number; skipped: number; left: string[] };

export async function migrateLegacy(o: {
  dir: string;
  secret: Uint8Array;
  device: string;
  tip: Tip;
  head: HeadWriter;
  log: Logger;
}): Promise<Migrated> {
  const files = await listAuditFiles(o.dir);
  const sealed = files.filter((f) => f.sealed);
  const sealedStarts = new Set(sealed.map((f) => f.start));
  const newest = sealed.at(-1)?.start ?? -Infinity;
  let tip = o.tip;
  const out: Migrated = { tip, files: [], records: 0, skipped: 0, left: [] };
  for (const f of files) {
    if (f.sealed) continue;
    if (sealedStarts.has(f.start)) {
      await unlink(f.path).catch(() => {});
      continue;
    }
    if (f.start <= newest) {
      // Older than records already chained (a downgrade and upgrade): sealing it now would put
      // it after them in the chain. It stays readable and ages out with retention.
      out.left.push(f.path);
      continue;
    }
    const text = await readFile(f.path, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const name = auditFileName(f.start, 'sealed');
    const header = newHeader(o.secret, {
      device: o.device,
      start: f.start,
      anchor: tip.link,
      anchorFile: tip.file,
      anchorTime: tip.time,
    });
    const parts = [header.line];
    let link = tip.link;
    let time = tip.time;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let rec: AuditRecord;
      try {
        const parsed = AuditRecord.safeParse(JSON.parse(line));
        if (!parsed.success) throw new Error('not a record');
        rec = parsed.data;
      } catch {
        out.skipped++;
        continue;
      }
      const s = sealRecord(header.keys, link, JSON.stringify(rec));
      parts.push(s.line);
      link = s.link;
      time = rec.time;
      out.records++;
    }
    await writeFileAtomic(join(o.dir, name), parts.join(''), 0o600);
    tip = { link, file: name, time };
    await o.head.write({ link, file: name, time: time ?? new Date(f.start).toISOString() });
    await unlink(f.path);
    out.files.push(name);
  }
  if (out.files.length > 0) {
    o.log.info(
      { event: 'audit.migrated', files: out.files.length, records: out.records, skipped: out.skipped },
      `sealed ${out.files.length} plaintext audit file(s) from before this version (${out.records} records${out.skipped ? `, ${out.skipped} damaged line(s) dropped` : ''})`,
    );
  }
  if (out.left.length > 0) {
    o.log.warn(
      { event: 'audit.legacy-left', files: out.left },
      `${out.left.length} plaintext audit file(s) are older than the sealed log and stay as they are until retention removes them`,
    );
  }
  out.tip = tip;
  return out;
}
