import { connect } from 'node:net';
import type { ControlError, ControlResponse } from './protocol.ts';

export type CallResult = { ok: true; result: unknown } | { ok: false; error: ControlError };

export type CallOptions = {
  /** null: no timeout, for streaming calls that run until the caller stops them. */
  timeoutMs?: number | null;
  /** Events of a streaming call (e.g. `hana midi monitor`). */
  onEvent?: (event: unknown) => void;
};

/** One request to the daemon behind `path`; a missing daemon is an error result, not an exception. */
export function callDaemon(
  path: string,
  method: string,
  params: unknown = {},
  opts: CallOptions = {},
): Promise<CallResult> {
  const timeoutMs = opts.timeoutMs === undefined ? 10_000 : opts.timeoutMs;
  return new Promise((resolve) => {
    const socket = connect(path);
    let buffered = '';
    const done = (r: CallResult) => {
      if (timer) clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer =
      timeoutMs === null
        ? undefined
        : setTimeout(
            () =>
              done({
                ok: false,
                error: { code: 'timeout', message: `the daemon did not answer within ${timeoutMs} ms` },
              }),
            timeoutMs,
          );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ id: 1, method, params })}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const msg = JSON.parse(buffered.slice(0, nl)) as ControlResponse | { id: number; event: unknown };
        buffered = buffered.slice(nl + 1);
        if ('event' in msg) {
          opts.onEvent?.(msg.event);
          continue;
        }
        done(msg.ok ? { ok: true, result: msg.result } : { ok: false, error: msg.error });
        return;
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Stable codes, so the CLI can say what to do rather than repeat a syscall error.
      const code =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? 'no-daemon'
          : err.code === 'EACCES' || err.code === 'EPERM'
            ? 'denied'
            : err.code === 'ENOTDIR'
              ? 'not-a-home'
              : 'io';
      done({ ok: false, error: { code, message: err.message } });
    });
  });
}
