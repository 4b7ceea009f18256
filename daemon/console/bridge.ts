import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Handlers, StreamContext } from '../control/server.ts';
import {
  ACTION_METHODS,
  type ConsoleAnswer,
  ConsoleRequest,
  READ_METHODS,
  SELF_AUDITED,
} from './messages.ts';

// The console's side of the control API: a page message becomes a call to the same handler the
// CLI reaches over the control socket (so the same zod checks, coercion and range rules apply),
// limited to the methods the console offers. Actions are audited with writer `ui`.

export type BridgeInit = { handlers: Handlers; audit?: AuditLog };

/** Counts and logs a refusal against the connection that sent it (the server's rejections). */
export type BridgeReject = (
  reason: 'console-bad-message' | 'console-unknown-method',
  message: string,
) => void;

const OFFERED: ReadonlySet<string> = new Set([...READ_METHODS, ...ACTION_METHODS]);
const ACTIONS: ReadonlySet<string> = new Set(ACTION_METHODS);
/** The console never streams, and nothing waits on `closed`. */
export const NO_STREAM: StreamContext = { emit() {}, closed: new Promise<void>(() => {}) };

/** What of an action's params goes into the audit record (a pairing code is a secret). */
function auditDetail(method: string, params: Record<string, unknown>): Record<string, unknown> {
  if (method === 'pair.join') return { peer: params.peer ?? null };
  return params;
}

export function createBridge(
  init: BridgeInit,
): (text: string, reject: BridgeReject) => Promise<ConsoleAnswer> {
  return async (text, reject) => {
    const bad = (message: string): ConsoleAnswer => {
      reject('console-bad-message', message);
      return { id: null, ok: false, error: { code: 'bad-message', message } };
    };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return bad('console message that is not JSON');
    }
    const parsed = ConsoleRequest.safeParse(json);
    if (!parsed.success) return bad(`console message of the wrong shape: ${z.prettifyError(parsed.error)}`);
    const { id, method } = parsed.data;
    const params = parsed.data.params ?? {};
    const handler =
      OFFERED.has(method) && Object.hasOwn(init.handlers, method) ? init.handlers[method] : undefined;
    if (!handler) {
      const message = `console method ${JSON.stringify(method)} is not offered`;
      reject('console-unknown-method', message);
      return { id, ok: false, error: { code: 'unknown-method', message } };
    }
    try {
      const result = await handler(params, NO_STREAM);
      if (ACTIONS.has(method) && !SELF_AUDITED.has(method))
        init.audit?.action(method, 'ui', auditDetail(method, params));
      return { id, ok: true, result };
    } catch (err) {
      if (err instanceof z.ZodError) {
        // The page sends only shapes it was written for: a wrong one is someone else.
        reject('console-bad-message', `console ${method} with wrong params`);
        return { id, ok: false, error: { code: 'bad-params', message: z.prettifyError(err) } };
      }
      const code = (err as { controlCode?: string }).controlCode ?? 'internal';
      if (ACTIONS.has(method) && !SELF_AUDITED.has(method))
        init.audit?.action(`${method}-failed`, 'ui', { ...auditDetail(method, params), code });
      return { id, ok: false, error: { code, message: (err as Error).message } };
    }
  };
}
