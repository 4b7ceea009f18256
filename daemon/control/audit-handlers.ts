import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import { queryAudit } from '../audit/reader.ts';
import { parseSince } from '../audit/record.ts';
import { verifyAudit } from '../audit/verify.ts';
import type { Logger } from '../log.ts';
import { type AddressPattern, compilePattern } from '../state/pattern.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// `hana audit`: the daemon reads its own files (only it holds their key), after writing out what
// is still queued, so a change made a moment ago is in the answer. `hana audit --verify` walks
// the whole chain; a broken one is a security event.

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 10_000;

const Query = z
  .object({
    since: z.string().min(1).max(64).optional(),
    path: z.string().min(1).max(256).optional(),
    writer: z.string().min(1).max(256).optional(),
    limit: z.number().int().min(1).max(MAX_AUDIT_LIMIT).optional(),
  })
  .strict();

export type AuditHandlerContext = { audit?: AuditLog; security: Logger; now?: () => number };

const auditOff = () =>
  controlError('audit-off', 'the audit log is off: set audit.enabled to true in the config');

export function auditHandlers(ctx: AuditHandlerContext): Handlers {
  const now = ctx.now ?? Date.now;
  return {
    async 'audit.verify'(params) {
      z.object({})
        .strict()
        .parse(params ?? {});
      const audit = ctx.audit;
      if (!audit) throw auditOff();
      await audit.flush();
      const report = await verifyAudit(audit.dir, audit.secret);
      if (report.problem) {
        const p = report.problem;
        ctx.security.error(
          { event: 'audit.tampered', code: p.code, file: p.file, index: p.index, dir: audit.dir },
          `the audit log was tampered with: ${p.message}`,
        );
      }
      return { ...report, dir: audit.dir };
    },
    async 'audit.query'(params) {
      const q = Query.parse(params);
      const audit = ctx.audit;
      if (!audit) throw auditOff();
      let since: number | undefined;
      if (q.since !== undefined) {
        const s = parseSince(q.since, now());
        if (!s.ok) throw controlError('bad-since', s.error);
        since = s.ms;
      }
      let path: AddressPattern | undefined;
      if (q.path !== undefined) {
        const c = compilePattern(q.path);
        if (!c.ok)
          throw controlError('bad-pattern', `${q.path} is not a valid OSC address pattern: ${c.reason}`);
        path = c.pattern;
      }
      await audit.flush();
      const r = await queryAudit(audit.dir, audit.secret, {
        since,
        path,
        writer: q.writer,
        limit: q.limit ?? DEFAULT_AUDIT_LIMIT,
      });
      return { ...r, dir: audit.dir };
    },
  };
}
