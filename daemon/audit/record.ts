import { z } from 'zod';
import { StoredValue } from '../persist/state-file.ts';

// One line of an audit file. `change`: a value applied to the store, with who wrote it and the
// stamp it carries. `action`: an operator action that is not itself a value (a scene saved,
// loaded or deleted, state restored at start), so the log reads as a story.

const Stamp = z.object({ t: z.number(), c: z.number(), node: z.string() }).strict();

export const ChangeRecord = z
  .object({
    kind: z.literal('change'),
    time: z.string(),
    path: z.string(),
    old: StoredValue,
    new: StoredValue,
    writer: z.string(),
    node: z.string(),
    stamp: Stamp,
    /**
     * This record stands for this many changes by one writer to one path within the audit's
     * coalescing window (daemon/audit/coalesce.ts): `new` is the last, `old` the value before the first.
     */
    coalesced: z.number().int().min(1).optional(),
  })
  .strict();
export type ChangeRecord = z.infer<typeof ChangeRecord>;

export const ActionRecord = z
  .object({
    kind: z.literal('action'),
    time: z.string(),
    action: z.string(),
    writer: z.string(),
    detail: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type ActionRecord = z.infer<typeof ActionRecord>;

export const AuditRecord = z.discriminatedUnion('kind', [ChangeRecord, ActionRecord]);
export type AuditRecord = z.infer<typeof AuditRecord>;

/** Durations (`90s`, `10m`, `2h`, `3d`) back from `now`, or an ISO 8601 time. */
export function parseSince(
  text: string,
  now: number,
): { ok: true; ms: number } | { ok: false; error: string } {
  const d = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim());
  if (d) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[d[2] as 's' | 'm' | 'h' | 'd'];
    return { ok: true, ms: now - Number(d[1]) * unit };
  }
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) {
    const ms = Date.parse(text.trim());
    if (Number.isFinite(ms)) return { ok: true, ms };
  }
  return {
    ok: false,
    error: `--since "${text.slice(0, 64)}" is neither a duration (e.g. 90s, 10m, 2h, 3d) nor an ISO time (e.g. 2026-11-23T20:00:00Z)`,
  };
}
