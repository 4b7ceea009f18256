import { type CallOptions, callDaemon } from '../control/client.ts';
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
  if (r.error.code === 'no-daemon') {
    out.stderr(
      `hana: no daemon is running with home ${home}: start one with \`hana start --home ${home}\`.\n`,
    );
  } else {
    out.stderr(`hana: ${r.error.message}\n`);
  }
  return undefined;
}

export function print(args: Parsed, out: Out, result: unknown, human: () => string): number {
  out.stdout(args.flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${human()}\n`);
  return 0;
}
