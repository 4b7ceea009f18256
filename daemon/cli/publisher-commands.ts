import { readFile, stat } from 'node:fs/promises';
import { publicKeyFromBase64 } from '../../plugins/publisher-key.ts';
import { loadPublishers, revokePublisher, trustPublisher } from '../../trust-store/publishers.ts';
import { callDaemon } from '../control/client.ts';
import { controlSocketPath, ensureHome, resolveHome } from '../home.ts';
import { type Parsed, UsageError } from './args.ts';
import type { Out } from './client-call.ts';
import { table } from './format.ts';

// `hana publisher trust|list|revoke`: which plugin publishers this installation runs code from.
// These work on <home>/publishers.json directly, with or without a running daemon.

/** A public key given as base64 or as the path of a publisher.pub file. */
export async function publicKeyArg(arg: string): Promise<string> {
  if (publicKeyFromBase64(arg.trim())) return arg.trim();
  const st = await stat(arg).catch(() => undefined);
  if (st?.isFile() && st.size < 4096) {
    const line = (await readFile(arg, 'utf8'))
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim();
    if (line && publicKeyFromBase64(line)) return line;
    throw new UsageError(`${arg} does not hold a publisher public key (one line of base64)`);
  }
  throw new UsageError(
    `${JSON.stringify(arg)} is not a publisher public key: give the base64 key from publisher.pub, or the file`,
  );
}

export type DaemonNotice = 'reloaded' | 'not-running' | 'failed';

/** Best effort: asks a running daemon to reload its plugins, and says what happened. */
export async function notifyDaemon(home: string, args: Parsed, out: Out): Promise<DaemonNotice> {
  const r = await callDaemon(controlSocketPath(home), 'plugins.reload', {}, { timeoutMs: 5000 });
  const notice: DaemonNotice = r.ok ? 'reloaded' : r.error.code === 'no-daemon' ? 'not-running' : 'failed';
  if (args.flags.json) return notice;
  if (notice === 'reloaded') out.stdout('the running daemon reloaded its plugins\n');
  else if (notice === 'not-running')
    out.stdout('no daemon is running: this takes effect when the daemon starts\n');
  else if (!r.ok) {
    out.stderr(
      `hana: saved, but the running daemon did not reload its plugins (${r.error.message}); restart it to apply the change\n`,
    );
  }
  return notice;
}

function only(args: Parsed, allowed: readonly string[], usage: string): void {
  for (const f of Object.keys(args.flags)) {
    if (f !== 'home' && !allowed.includes(f)) throw new UsageError(`--${f} does not go with \`${usage}\``);
  }
}

export async function publisherCommand(args: Parsed, out: Out): Promise<number> {
  const [action, arg, ...extra] = args.positionals;
  const home = resolveHome(args.flags.home as string | undefined);
  if (action === 'list' && !arg) {
    only(args, ['json'], 'publisher list');
    const loaded = await loadPublishers(home);
    if (!loaded.ok) {
      out.stderr(`hana: ${loaded.error}\n`);
      return 1;
    }
    const list = loaded.file.publishers;
    out.stdout(
      args.flags.json
        ? `${JSON.stringify(list, null, 2)}\n`
        : list.length === 0
          ? 'No plugin publishers are trusted. Trust one with `hana publisher trust <public-key> --name NAME`.\n'
          : `${table([
              ['KEY ID', 'NAME', 'STATE', 'SINCE', 'PUBLIC KEY'],
              ...list.map((p) => [
                p.keyId,
                p.name,
                p.revoked ? `revoked${p.revoked.reason ? `: ${p.revoked.reason}` : ''}` : 'trusted',
                p.revoked ? p.revoked.at : p.trustedAt,
                p.publicKey,
              ]),
            ])}\n`,
    );
    return 0;
  }
  if ((action !== 'trust' && action !== 'revoke') || !arg || extra.length) {
    throw new UsageError(
      'usage: hana publisher trust <public-key> [--name NAME] | list [--json] | revoke <key-id|public-key> [--reason TEXT]',
    );
  }
  const homeOk = await ensureHome(home);
  if (!homeOk.ok) {
    out.stderr(`hana: ${homeOk.error}\n`);
    return 1;
  }
  if (action === 'trust') {
    only(args, ['name', 'force', 'json'], 'publisher trust');
    const publicKey = await publicKeyArg(arg);
    const r = await trustPublisher(home, {
      publicKey,
      ...(typeof args.flags.name === 'string' && { name: args.flags.name }),
      force: args.flags.force === true,
    });
    if (!r.ok) {
      out.stderr(`hana: ${r.error}\n`);
      return r.code === 'invalid-name' ? 2 : 1;
    }
    const p = r.publisher;
    const said = {
      added: `now trusting ${p.name} (${p.keyId}): plugins signed by this key can be installed and run`,
      renamed: `${p.keyId} is now called ${p.name}`,
      unchanged: `${p.name} (${p.keyId}) was already trusted`,
      're-trusted': `trusting ${p.name} (${p.keyId}) again; its revocation is lifted (--force)`,
    }[r.change];
    if (!args.flags.json) out.stdout(`${said}\n`);
    // Plugins of this publisher that were refused may load now.
    const changed = r.change === 'added' || r.change === 're-trusted';
    const daemon = changed ? await notifyDaemon(home, args, out) : undefined;
    if (args.flags.json) out.stdout(`${JSON.stringify({ ...r, ...(daemon && { daemon }) }, null, 2)}\n`);
    return 0;
  }
  only(args, ['reason', 'json'], 'publisher revoke');
  const r = await revokePublisher(home, {
    key: arg,
    ...(typeof args.flags.reason === 'string' && { reason: args.flags.reason }),
  });
  if (!r.ok) {
    out.stderr(`hana: ${r.error}\n`);
    return r.code === 'invalid-key' || r.code === 'invalid-reason' ? 2 : 1;
  }
  const p = r.publisher;
  if (!args.flags.json) {
    out.stdout(
      r.already
        ? `${p.name} (${p.keyId}) was already revoked at ${p.revoked!.at}\n`
        : `revoked ${p.name} (${p.keyId}): its plugins no longer install or load, and the key cannot be trusted again without --force\n`,
    );
  }
  const daemon = r.already ? undefined : await notifyDaemon(home, args, out);
  if (args.flags.json) out.stdout(`${JSON.stringify({ ...r, ...(daemon && { daemon }) }, null, 2)}\n`);
  return 0;
}
