import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';

// `hana ui`: the operator console's address with its token, to open in a browser on this machine.

export const UI_FLAGS = { home: 'string', json: 'boolean' } as const;
export const UI_USAGE = `  ui [--json]                                the operator console's URL (with its token): open it in a browser`;

export async function uiCommand(args: Parsed, out: Out): Promise<number> {
  if (args.positionals.length) throw new UsageError('ui takes no arguments');
  const r = (await callOrReport(args, out, 'ui.url', {})) as { url: string; port: number } | undefined;
  if (!r) return 1;
  return print(args, out, { url: r.url }, () => r.url);
}
