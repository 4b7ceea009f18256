import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  GENESIS,
  type Link,
  openHeader,
  openRecord,
  parseRecordLine,
  type RecordLine,
  sameLink,
  tagOf,
} from './crypto.ts';
import { listAuditFiles } from './files.ts';
import { readHead } from './head.ts';
import { splitLines } from './sealed-file-read.ts';

// `hana audit --verify`: walks the chain from the oldest file to the head and names the first
// record that was deleted, edited, reordered or cut off, by file and index (1 = the first record
// after the header), in one sentence. Files removed by retention are not tampering: the oldest
// file's header says which record came before it, so the report says when the log now starts.

export type VerifyCode =
  | 'audit-edited'
  | 'audit-deleted'
  | 'audit-reordered'
  | 'audit-truncated'
  | 'audit-foreign'
  | 'audit-damaged'
  | 'audit-head-missing'
  | 'audit-head-invalid';

export type VerifyProblem = { code: VerifyCode; file: string | null; index: number | null; message: string };

export type VerifyReport = {
  ok: boolean;
  files: number;
  records: number;
  /** The chain's first and last sequence numbers on disk (0 when empty). */
  first: number;
  last: number;
  /** Records before the oldest file, removed by retention. */
  pruned: { records: number; before: string | null } | null;
  /** Records cut short by a crash at the end of a file (nothing missing from the chain). */
  torn: { file: string }[];
  /** Plaintext files from before sealing, which carry no chain. */
  legacy: string[];
  problem?: VerifyProblem;
};

const problem = (
  code: VerifyCode,
  file: string | null,
  index: number | null,
  message: string,
): VerifyProblem => ({
  code,
  file,
  index,
  message,
});

const range = (a: number, b: number) => (a === b ? `#${a}` : `#${a} to #${b}`);

/** The first problem among a file's records, chained from `start`; the file's last link otherwise. */
function walkRecords(
  name: string,
  keys: Parameters<typeof openRecord>[0],
  lines: readonly string[],
  start: Link,
): { link: Link; count: number } | VerifyProblem {
  const recs: (RecordLine | undefined)[] = lines.map(parseRecordLine);
  let link = start;
  for (let i = 0; i < recs.length; i++) {
    const k = i + 1;
    const r = recs[i];
    if (!r)
      return problem(
        'audit-damaged',
        name,
        k,
        `record ${k} of ${name} is not a sealed audit record: it was edited or damaged`,
      );
    if (openRecord(keys, r) === undefined)
      return problem(
        'audit-edited',
        name,
        k,
        `record ${k} of ${name} (#${r.seq}) was edited: it no longer authenticates`,
      );
    const want = link.seq + 1;
    if (r.seq > want) {
      const later = recs.findIndex((x, j) => j > i && x?.seq === want);
      if (later >= 0) {
        return problem(
          'audit-reordered',
          name,
          k,
          `record ${k} of ${name} is #${r.seq}, but #${want} comes after it (record ${later + 1}): records were reordered`,
        );
      }
      const where = k === 1 ? `at the start of ${name}` : `between records ${k - 1} and ${k} of ${name}`;
      return problem(
        'audit-deleted',
        name,
        k,
        `record ${range(want, r.seq - 1)} was deleted: it belongs ${where}`,
      );
    }
    if (r.seq < want) {
      return problem(
        'audit-reordered',
        name,
        k,
        `record ${k} of ${name} is #${r.seq}, after #${link.seq}: records were reordered or duplicated`,
      );
    }
    if (!timingSafeEqual(r.prev, link.mac)) {
      return problem(
        'audit-edited',
        name,
        k,
        `record ${k} of ${name} (#${r.seq}) does not follow the record before it: that record was replaced`,
      );
    }
    link = { seq: r.seq, mac: new Uint8Array(tagOf(r)) };
  }
  return { link, count: recs.length };
}

export async function verifyAudit(dir: string, secret: Uint8Array): Promise<VerifyReport> {
  // The head first: records appended while this runs are then on disk before it is read.
  const head = await readHead(dir, secret);
  const files = await listAuditFiles(dir);
  const sealed = files.filter((f) => f.sealed);
  const report: VerifyReport = {
    ok: true,
    files: 0,
    records: 0,
    first: 0,
    last: 0,
    pruned: null,
    torn: [],
    legacy: files.filter((f) => !f.sealed).map((f) => f.name),
  };
  const fail = (p: VerifyProblem): VerifyReport => ({ ...report, ok: false, problem: p });

  let expected: Link | undefined;
  let prev: { name: string; count: number } | undefined;
  for (const f of sealed) {
    const text = await readFile(f.path, 'utf8').catch(() => undefined);
    if (text === undefined || text.length === 0) continue; // pruned meanwhile, or a start that wrote nothing
    const { lines, torn } = splitLines(text, false);
    const h = lines.length > 0 ? openHeader(secret, lines[0]!) : ({ ok: false, why: 'malformed' } as const);
    if (!h.ok) {
      return fail(
        h.why === 'foreign'
          ? problem(
              'audit-foreign',
              f.name,
              0,
              `${f.name} does not authenticate with this home's audit key: it was copied from another home${h.device ? ` (it names device ${h.device})` : ''}, or its header was edited`,
            )
          : problem(
              'audit-damaged',
              f.name,
              0,
              `${f.name} does not start with an audit header: it was edited or damaged`,
            ),
      );
    }
    const anchor = h.anchor;
    if (expected === undefined) {
      report.first = anchor.seq + 1;
      if (anchor.seq > 0) report.pruned = { records: anchor.seq, before: h.header.anchor.time };
    } else if (!sameLink(anchor, expected)) {
      const p = prev!;
      if (anchor.seq > expected.seq) {
        const lostFile = h.header.anchor.file !== null && h.header.anchor.file !== p.name;
        return fail(
          problem(
            lostFile ? 'audit-deleted' : 'audit-truncated',
            f.name,
            0,
            `records ${range(expected.seq + 1, anchor.seq)} are missing between ${p.name} and ${f.name}: ${lostFile ? `${h.header.anchor.file}, which held them, was deleted` : `${p.name} was cut short after its record ${p.count}`}`,
          ),
        );
      }
      return fail(
        problem(
          'audit-reordered',
          f.name,
          0,
          `${f.name} does not follow ${p.name}: it continues from #${anchor.seq}, but ${p.name} ends at #${expected.seq} (files were renamed, reordered or copied in)`,
        ),
      );
    }
    const walked = walkRecords(f.name, h.keys, lines.slice(1), anchor);
    if ('code' in walked) return fail(walked);
    if (torn) report.torn.push({ file: f.name });
    report.files++;
    report.records += walked.count;
    expected = walked.link;
    prev = { name: f.name, count: walked.count };
  }
  const end = expected ?? GENESIS;
  report.last = end.seq;

  if (!head.ok)
    return fail(
      problem('audit-head-invalid', 'head', null, `${head.error}: it was edited or copied from another home`),
    );
  const last = prev?.name ?? null;
  if (!head.head) {
    if (report.records === 0) return report;
    return fail(
      problem(
        'audit-head-missing',
        'head',
        null,
        `audit/head is missing, so records cut from the end of ${last} could not be noticed: it was deleted (the daemon writes it again with the next record)`,
      ),
    );
  }
  const hl = head.head.link;
  if (hl.seq > end.seq) {
    return fail(
      problem(
        'audit-truncated',
        head.head.file,
        null,
        last === null
          ? `every audit file is gone, but the head names record #${hl.seq} (${head.head.time}): they were deleted`
          : `records ${range(end.seq + 1, hl.seq)} (up to ${head.head.time}) were cut from the end of the log: ${last} ends at #${end.seq}`,
      ),
    );
  }
  if (hl.seq === end.seq && !sameLink(hl, end)) {
    return fail(
      problem(
        'audit-edited',
        last,
        prev?.count ?? null,
        `the newest record (#${end.seq} in ${last}) is not the one audit/head names: it was replaced`,
      ),
    );
  }
  return report;
}
