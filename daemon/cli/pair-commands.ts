import { isIP } from 'node:net';
import { parseCode } from '../../trust-store/pairing/code.ts';
import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';

// `hana pair` on laptop A prints a code; `hana pair <code>` on laptop B pairs with A.

/** "5m", "90s", "1h" or plain seconds, 10 s to 1 h. */
export function parseExpiry(text: string): number {
  const m = /^(\d+)\s*(s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--expires takes a duration like 5m, 90s or 1h, not "${text}"`);
  const ms = Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
  if (ms < 10_000 || ms > 3_600_000) throw new UsageError('--expires must be between 10s and 1h');
  return ms;
}

function duration(ms: number): string {
  return ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}

function parsePeer(text: string): { address: string; port: number } {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(text.slice(at + 1));
  const address = host === 'localhost' ? '127.0.0.1' : host;
  if (at < 0 || !isIP(address) || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`--peer takes an IP address and port like 192.168.1.20:7400, not "${text}"`);
  return { address, port };
}

export async function pairCommand(args: Parsed, out: Out): Promise<number> {
  const [code, ...extra] = args.positionals;
  if (extra.length) throw new UsageError('pair takes at most one code (quote it if it has spaces)');
  if (code === undefined) {
    const role = args.flags.role ?? 'performer';
    if (role !== 'performer' && role !== 'observer')
      throw new UsageError('--role must be performer or observer');
    if (args.flags.peer !== undefined)
      throw new UsageError('--peer goes with a code: hana pair <code> --peer HOST:PORT');
    const expiresMs = parseExpiry((args.flags.expires as string | undefined) ?? '5m');
    const r = (await callOrReport(args, out, 'pair.open', { role, expiresMs })) as
      | { code: string; expires: string; role: string }
      | undefined;
    if (!r) return 1;
    return print(
      args,
      out,
      { code: r.code, expires: r.expires, role: r.role },
      () =>
        `pairing code: ${r.code}\n\non the other laptop run:  hana pair ${r.code}\n` +
        `this laptop will treat it as ${r.role}; the code works once, for ${duration(expiresMs)}, and three wrong tries burn it.`,
    );
  }
  if (args.flags.role !== undefined || args.flags.expires !== undefined)
    throw new UsageError('--role and --expires go with `hana pair` on the laptop that shows the code');
  const peer = args.flags.peer === undefined ? undefined : parsePeer(args.flags.peer as string);
  const parsed = parseCode(code);
  if (!parsed.ok) {
    out.stderr(`hana: ${parsed.error}\n`);
    return 1;
  }
  // A typo or prefix was resolved: say what is being tried, so a wrong guess is visible.
  if (parsed.corrected && !args.flags.json) out.stdout(`read as ${parsed.code}\n`);
  const r = (await callOrReport(
    args,
    out,
    'pair.join',
    { code: parsed.code, waitMs: 10_000, ...(peer && { peer }) },
    { timeoutMs: 40_000 },
  )) as { peerId: string; name: string; role: string } | undefined;
  if (!r) return 1;
  return print(
    args,
    out,
    r,
    () => `paired with ${r.name} (${r.peerId}): linked; it treats this laptop as ${r.role}.`,
  );
}
