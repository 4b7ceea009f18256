import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';

// `hana ui`: the operator console's address with its token, to open in a browser on this machine.

export async function uiCommand(args: Parsed, out: Out): Promise<number> {
  if (args.positionals.length) throw new UsageError('ui takes no arguments');
  const r = (await callOrReport(args, out, 'ui.url', {})) as { url: string; port: number } | undefined;
  if (!r) return 1;
  return print(args, out, { url: r.url }, () => r.url);
}
