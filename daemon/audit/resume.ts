import { basename } from 'node:path';
import { GENESIS, type Link, sameLink } from './crypto.ts';
import { listAuditFiles } from './files.ts';
import { readHead } from './head.ts';
import { lastRecord, readHeader } from './sealed-file-read.ts';

// Where the chain goes on at start: the newest record on disk, checked against the head. When
// records are missing from the end (the head names a later one) the writer goes on from the
// head, so the gap stays in the chain for `hana audit --verify` to name, and says so now.

/** The chain's tip: its last link, the file and time of that record (null at the start). */
export type Tip = { link: Link; file: string | null; time: string | null };
export const START: Tip = { link: GENESIS, file: null, time: null };

export type ResumeWarning = {
  code: 'audit-truncated' | 'audit-head-missing' | 'audit-head-invalid';
  message: string;
};
export type Resumed = { tip: Tip; warning?: ResumeWarning };

/** The end of the chain as the files show it: the newest authenticated record, or a header's anchor. */
async function logEnd(dir: string, secret: Uint8Array): Promise<Tip | undefined> {
  const files = (await listAuditFiles(dir)).filter((f) => f.sealed);
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i]!;
    const last = await lastRecord(f.path, secret);
    if (last) return { link: last.link, file: f.name, time: last.time };
    const h = await readHeader(f.path, secret);
    if (h?.ok) return { link: h.anchor, file: h.header.anchor.file, time: h.header.anchor.time };
  }
  return undefined;
}

export async function resumeChain(dir: string, secret: Uint8Array): Promise<Resumed> {
  const [end, head] = await Promise.all([logEnd(dir, secret), readHead(dir, secret)]);
  if (!head.ok) {
    return {
      tip: end ?? START,
      warning: {
        code: 'audit-head-invalid',
        message: `${head.error}: the audit log goes on from its newest record, but whether records were cut from its end cannot be told`,
      },
    };
  }
  const h = head.head;
  if (!h) {
    if (!end) return { tip: START };
    return {
      tip: end,
      warning: {
        code: 'audit-head-missing',
        message: `the audit log's head (${basename(dir)}/head) is missing: the log goes on from its newest record, but whether records were cut from its end cannot be told`,
      },
    };
  }
  const at = end ?? START;
  // One batch behind is a crash between appending records and rewriting the head.
  if (at.link.seq > h.link.seq) return { tip: at };
  if (at.link.seq === h.link.seq && sameLink(at.link, h.link)) return { tip: at };
  const tip: Tip = { link: h.link, file: h.file, time: h.time };
  return {
    tip,
    warning: {
      code: 'audit-truncated',
      message:
        at.link.seq < h.link.seq
          ? `audit records #${at.link.seq + 1} to #${h.link.seq} (up to ${h.time}) are missing from the end of the log (${h.file}): they were cut or deleted`
          : `the newest audit record (#${at.link.seq} in ${at.file}) is not the one the head names: it was replaced`,
    },
  };
}
