import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';

// `hana ui`: the operator console's address with its token, to open in a browser on this machine.

export async function uiCommand(args: Parsed, out: Out): Promise<number> {
  if (args.positionals.length) throw new UsageError('ui takes no arguments');
  const rotate = args.flags['new-token'] === true;
  const method = rotate ? 'ui.new-token' : 'ui.url';
  const r = (await callOrReport(args, out, method, {})) as { url: string; port: number } | undefined;
  if (!r) return 1;
  return print(
    args,
    out,
    { url: r.url },
    () => `${rotate ? 'New token: open consoles are cut off; open this address.\n' : ''}${r.url}`,
  );
}
