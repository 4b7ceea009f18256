import { type CallOptions, callDaemon } from '../control/client.ts';
import type { ControlError } from '../control/protocol.ts';
import { controlSocketPath, resolveHome } from '../home.ts';
import type { Parsed } from './args.ts';

// Shared by every command that talks to a running daemon: find it, call it, report failures
// in one sentence, print JSON or text.

export type Out = { stdout: (s: string) => void; stderr: (s: string) => void };

/** The call's result, or undefined after telling the user on stderr what went wrong. */
export async function callOrReport(
  args: Parsed,
  out: Out,
  method: string,
  params: unknown,
  opts?: CallOptions,
): Promise<unknown> {
  const home = resolveHome(args.flags.home as string | undefined);
  const r = await callDaemon(controlSocketPath(home), method, params, opts);
  if (r.ok) return r.result;
  out.stderr(`hana: ${failure(r.error, home)}\n`);
  return undefined;
}

export function print(args: Parsed, out: Out, result: unknown, human: () => string): number {
  out.stdout(args.flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${human()}\n`);
  return 0;
}

/** What went wrong talking to the daemon, in one sentence that says what to do. */
export function failure(error: ControlError, home: string): string {
  const socket = controlSocketPath(home);
  switch (error.code) {
    case 'no-daemon':
      return `no daemon is running with home ${home}: start one with \`hana start --home ${home}\`.`;
    case 'denied':
      return `permission denied on ${socket} (the daemon runs as another user, or the home is not yours): run hana as the user who started that daemon, or use a home of your own with --home.`;
    case 'not-a-home':
      return `${home} is not a directory, so it holds no daemon: pass the daemon's home with --home (or HANA_HOME).`;
    case 'io':
      return `the connection to ${socket} failed (${error.message}): check the daemon is still running with \`hana status --home ${home}\`, and restart it if not.`;
    default:
      return error.message;
  }
}
