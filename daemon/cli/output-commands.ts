import type { OutputInfo } from '../control/output-handlers.ts';
import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';

// `hana output`: where to point the browser that shows the visuals.

export async function outputCommand(args: Parsed, out: Out): Promise<number> {
  if (args.positionals.length) throw new UsageError('output takes no arguments');
  const rotate = args.flags['new-token'] === true;
  const method = rotate ? 'output.new-token' : 'output.url';
  const r = (await callOrReport(args, out, method, {})) as OutputInfo | undefined;
  if (!r) return 1;
  return print(
    args,
    out,
    r,
    () =>
      (rotate ? 'New token: pages open with the old address are disconnected; open this one.\n' : '') +
      `${r.url}\n` +
      `Open it in a browser on this machine; press f (or double-click) for full screen, h for status.\n` +
      `${r.clients} page(s) connected, ${r.sent} frames sent, ${r.dropped} dropped.`,
  );
}
