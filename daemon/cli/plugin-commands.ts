import { resolve } from 'node:path';
import { installPlugin } from '../../plugins/install.ts';
import {
  disablePlugin,
  enablePlugin,
  type IndexChange,
  listInstalled,
  loadInstalledPlugin,
  removePlugin,
} from '../../plugins/installed.ts';
import { jsonSafe, printable } from '../../plugins/text-safety.ts';
import { loadPublishers } from '../../trust-store/publishers.ts';
import { callDaemon } from '../control/client.ts';
import { controlSocketPath, ensureHome, resolveHome } from '../home.ts';
import { type Parsed, UsageError } from './args.ts';
import type { Out } from './client-call.ts';
import { table } from './format.ts';
import {
  keygenCommand,
  packCommand,
  pluginAuditCommand,
  signCommand,
  verifyCommand,
} from './plugin-author-commands.ts';
import { notifyDaemon } from './publisher-commands.ts';

// `hana plugin …`: the author's keygen/sign/verify/pack/audit (plugin-author-commands.ts) and
// the operator's install/list/remove/enable/disable. Everything works on the home's files
// directly; a running daemon is told to reload afterwards, and not needed.

const SUBCOMMANDS: Record<string, { flags: readonly string[]; args: 0 | 1; usage: string }> = {
  keygen: { flags: ['out', 'passphrase-file', 'force', 'json'], args: 0, usage: 'plugin keygen [--out DIR]' },
  sign: { flags: ['key', 'passphrase-file', 'json'], args: 1, usage: 'plugin sign <dir> [--key FILE]' },
  verify: { flags: ['pubkey', 'json'], args: 1, usage: 'plugin verify <dir|archive> [--pubkey KEY]' },
  pack: { flags: ['out', 'json'], args: 1, usage: 'plugin pack <dir> [--out FILE]' },
  audit: { flags: ['json'], args: 1, usage: 'plugin audit <dir|archive>' },
  install: { flags: ['force', 'json'], args: 1, usage: 'plugin install <archive|dir> [--force]' },
  list: { flags: ['json'], args: 0, usage: 'plugin list [--json]' },
  remove: { flags: ['json'], args: 1, usage: 'plugin remove <id>' },
  enable: { flags: ['json'], args: 1, usage: 'plugin enable <id>' },
  disable: { flags: ['json'], args: 1, usage: 'plugin disable <id>' },
};

// What a plugin brings (names, file names, reasons that quote them) is escaped before it reaches
// the terminal: text-safety.ts.
const fail = (out: Out, message: string) => {
  out.stderr(`hana: ${printable(message)}\n`);
  return 1;
};

async function homeFor(args: Parsed, out: Out): Promise<string | undefined> {
  const home = resolveHome(args.flags.home as string | undefined);
  const ok = await ensureHome(home);
  if (ok.ok) return home;
  fail(out, ok.error);
  return undefined;
}

async function installCommand(args: Parsed, out: Out, source: string): Promise<number> {
  const home = await homeFor(args, out);
  if (!home) return 1;
  const r = await installPlugin(home, resolve(source), { force: args.flags.force === true });
  if (!r.ok) return fail(out, `not installed (${r.code}): ${r.error}`);
  const p = r.plugin;
  if (!args.flags.json) {
    const what =
      r.change === 'upgraded'
        ? `upgraded ${p.id} ${r.previousVersion} → ${p.version}`
        : r.change === 'reinstalled'
          ? `reinstalled ${p.id} ${p.version}`
          : `installed ${p.id} ${p.version}`;
    out.stdout(
      `${what} from ${r.publisherName} (${p.publisherKeyId}), ${p.enabled ? 'enabled' : 'disabled'}\n`,
    );
  }
  const daemon = await notifyDaemon(home, args, out);
  if (args.flags.json) out.stdout(`${JSON.stringify({ ...r, daemon }, null, 2)}\n`);
  return 0;
}

async function listCommand(args: Parsed, out: Out): Promise<number> {
  const home = resolveHome(args.flags.home as string | undefined);
  const [list, pubs] = await Promise.all([listInstalled(home), loadPublishers(home)]);
  if (!list.ok) return fail(out, list.error);
  if (!pubs.ok) return fail(out, pubs.error);
  const rows = [];
  for (const p of list.plugins) {
    // Each is verified as a load would, so the list shows what would actually run.
    const check = await loadInstalledPlugin(home, p.id);
    const publisher = pubs.file.publishers.find((x) => x.keyId === p.publisherKeyId);
    rows.push({
      ...p,
      publisherName: publisher?.name ?? null,
      check: check.ok ? { ok: true as const } : { ok: false as const, code: check.code, error: check.error },
    });
  }
  if (args.flags.json) {
    out.stdout(`${jsonSafe(JSON.stringify(rows, null, 2))}\n`);
    return 0;
  }
  if (rows.length === 0) {
    out.stdout('No plugins installed. Install one with `hana plugin install <file.hana-plugin>`.\n');
    return 0;
  }
  out.stdout(
    `${table([
      ['ID', 'VERSION', 'PUBLISHER', 'STATE', 'CHECK'],
      ...rows.map((r) =>
        [
          r.id,
          r.version,
          `${r.publisherName ?? '?'} (${r.publisherKeyId})`,
          r.quarantined ? `quarantined: ${r.quarantined.reason}` : r.enabled ? 'enabled' : 'disabled',
          r.check.ok ? 'verified' : `REFUSED ${r.check.code}: ${r.check.error}`,
        ].map(printable),
      ),
    ])}\n`,
  );
  return 0;
}

async function changeCommand(
  args: Parsed,
  out: Out,
  action: 'remove' | 'enable' | 'disable',
  id: string,
): Promise<number> {
  const home = await homeFor(args, out);
  if (!home) return 1;
  const run = { remove: removePlugin, enable: enablePlugin, disable: disablePlugin }[action];
  const r: IndexChange = await run(home, id);
  if (!r.ok) return fail(out, r.error);
  if (!args.flags.json) {
    out.stdout(
      {
        remove: `removed ${id} ${r.plugin.version}`,
        enable: `enabled ${id}: it runs as long as it verifies`,
        disable: `disabled ${id}: it stays installed and does not run`,
      }[action] + '\n',
    );
  }
  const daemon = await notifyDaemon(home, args, out);
  if (action === 'enable' && daemon === 'reloaded') {
    // The runtime may also hold the quarantine in memory; clearing it there is best effort
    // (not quarantined, or plugins off, are both fine here).
    await callDaemon(controlSocketPath(home), 'plugin.enable', { id }, { timeoutMs: 5000 });
  }
  if (args.flags.json) out.stdout(`${JSON.stringify({ ...r, daemon }, null, 2)}\n`);
  return 0;
}

export async function pluginCommand(args: Parsed, out: Out): Promise<number> {
  const [sub, ...rest] = args.positionals;
  const spec = sub !== undefined && Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
  if (!spec || !sub) {
    throw new UsageError(`usage: hana plugin ${Object.keys(SUBCOMMANDS).join('|')} …`);
  }
  if (rest.length !== spec.args) throw new UsageError(`usage: hana ${spec.usage}`);
  for (const f of Object.keys(args.flags)) {
    if (f !== 'home' && !spec.flags.includes(f))
      throw new UsageError(`--${f} does not go with \`hana ${spec.usage}\``);
  }
  const arg = rest[0]!;
  switch (sub) {
    case 'keygen':
      return keygenCommand(args, out);
    case 'sign':
      return signCommand(args, out, arg);
    case 'verify':
      return verifyCommand(args, out, arg);
    case 'pack':
      return packCommand(args, out, arg);
    case 'audit':
      return pluginAuditCommand(args, out, arg);
    case 'install':
      return installCommand(args, out, arg);
    case 'list':
      return listCommand(args, out);
    default:
      return changeCommand(args, out, sub as 'remove' | 'enable' | 'disable', arg);
  }
}
