import { connect } from 'node:net';
import type { ControlError, ControlResponse } from './protocol.ts';

export type CallResult = { ok: true; result: unknown } | { ok: false; error: ControlError };

/** One request to the daemon behind `path`; a missing daemon is an error result, not an exception. */
export function callDaemon(
  path: string,
  method: string,
  params: unknown = {},
  timeoutMs = 10_000,
): Promise<CallResult> {
  return new Promise((resolve) => {
    const socket = connect(path);
    let buffered = '';
    const done = (r: CallResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(
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
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      const res = JSON.parse(buffered.slice(0, nl)) as ControlResponse;
      done(res.ok ? { ok: true, result: res.result } : { ok: false, error: res.error });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const missing = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
      done({ ok: false, error: { code: missing ? 'no-daemon' : 'io', message: err.message } });
    });
  });
}
