import type { AuditRecord } from '../audit/record.ts';
import { parseSince } from '../audit/record.ts';
import type { VerifyReport } from '../audit/verify.ts';
import { DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT } from '../control/audit-handlers.ts';
import { compilePattern } from '../state/pattern.ts';
import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';
import { formatValue, table } from './format.ts';

// `hana audit [--json] [--since 10m|ISO] [--path PATTERN] [--writer PREFIX] [--limit N]`, and
// `hana audit --verify [--json]`: exit 0 when the chain is whole, 1 naming the first break.

type AuditAnswer = { records: AuditRecord[]; skippedLines: number; filesRead: number; dir: string };

function detailText(d: Record<string, unknown> | undefined): string {
  if (!d) return '';
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

function recordsText(r: AuditAnswer): string {
  if (r.records.length === 0) return 'No audit records match.';
  return table([
    ['TIME', 'WRITER', 'WHAT', 'CHANGE'],
    ...r.records.map((rec) =>
      rec.kind === 'change'
        ? [
            rec.time,
            rec.writer,
            rec.path,
            `${formatValue(rec.old)} → ${formatValue(rec.new)}${rec.coalesced ? ` (${rec.coalesced} changes)` : ''}`,
          ]
        : [rec.time, rec.writer, `[${rec.action}]`, detailText(rec.detail)],
    ),
  ]);
}

type VerifyAnswer = VerifyReport & { dir: string };

function verifyText(r: VerifyAnswer): string {
  const parts = [
    `audit log intact: ${r.records} record(s) in ${r.files} file(s)${r.records ? ` (${r.first === r.last ? `#${r.last}` : `#${r.first} to #${r.last}`})` : ''}`,
  ];
  if (r.pruned)
    parts.push(`records before ${r.pruned.before ?? 'the oldest file'} were pruned (${r.pruned.records})`);
  for (const t of r.torn)
    parts.push(`the last record in ${t.file} was cut short by a crash (nothing missing)`);
  if (r.legacy.length) parts.push(`${r.legacy.length} plaintext file(s) from before sealing carry no chain`);
  return parts.join('; ');
}

async function verifyCommand(args: Parsed, out: Out): Promise<number> {
  for (const f of ['since', 'path', 'writer', 'limit'])
    if (args.flags[f] !== undefined) throw new UsageError(`--verify checks the whole log: drop --${f}`);
  const r = (await callOrReport(args, out, 'audit.verify', {}, { timeoutMs: 120_000 })) as
    | VerifyAnswer
    | undefined;
  if (!r) return 1;
  if (args.flags.json) out.stdout(`${JSON.stringify(r, null, 2)}\n`);
  if (r.problem) {
    out.stderr(`hana: the audit log in ${r.dir} was tampered with: ${r.problem.message}.\n`);
    return 1;
  }
  if (!args.flags.json) out.stdout(`${verifyText(r)}\n`);
  return 0;
}

export async function auditCommand(args: Parsed, out: Out): Promise<number> {
  if (args.positionals.length) throw new UsageError('audit takes no arguments, only options');
  if (args.flags.verify) return verifyCommand(args, out);
  const since = args.flags.since as string | undefined;
  const path = args.flags.path as string | undefined;
  const writer = args.flags.writer as string | undefined;
  const limitText = args.flags.limit as string | undefined;
  if (since !== undefined) {
    const s = parseSince(since, Date.now());
    if (!s.ok) throw new UsageError(s.error);
  }
  if (path !== undefined) {
    const c = compilePattern(path);
    if (!c.ok) throw new UsageError(`--path ${path} is not a valid OSC address pattern: ${c.reason}`);
  }
  let limit = DEFAULT_AUDIT_LIMIT;
  if (limitText !== undefined) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_AUDIT_LIMIT) {
      throw new UsageError(`--limit is a whole number from 1 to ${MAX_AUDIT_LIMIT}`);
    }
  }
  const r = (await callOrReport(
    args,
    out,
    'audit.query',
    {
      limit,
      ...(since !== undefined && { since }),
      ...(path !== undefined && { path }),
      ...(writer !== undefined && { writer }),
    },
    { timeoutMs: 60_000 },
  )) as AuditAnswer | undefined;
  if (!r) return 1;
  if (r.skippedLines > 0) {
    out.stderr(
      `hana: skipped ${r.skippedLines} damaged line(s) in ${r.dir} (a record cut short by a crash looks like this).\n`,
    );
  }
  return print(args, out, r, () => recordsText(r));
}
