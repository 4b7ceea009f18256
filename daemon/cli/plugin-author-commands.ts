import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ARCHIVE_EXTENSION, packPlugin, readArchive, unpackArchive } from '../../plugins/archive.ts';
import { type AuditReport, auditPlugin } from '../../plugins/code-audit.ts';
import { digestPlugin, readPluginFile, SIGNATURE_FILE } from '../../plugins/digest.ts';
import { verifyAgainst } from '../../plugins/installed.ts';
import { parseManifest } from '../../plugins/manifest.ts';
import {
  describeSecretKeyFile,
  generatePublisherKey,
  publisherKeyId,
  unlockSecretKey,
} from '../../plugins/publisher-key.ts';
import { SignatureFile, signPlugin, type VerifyResult, verifyPlugin } from '../../plugins/signing.ts';
import { jsonSafe, printable, printableLines } from '../../plugins/text-safety.ts';
import { loadPublishers, publisherStatus, trustedKeys } from '../../trust-store/publishers.ts';
import { readOwnFile, writeFileAtomic } from '../../trust-store/secure-file.ts';
import { resolveHome } from '../home.ts';
import type { Parsed } from './args.ts';
import type { Out } from './client-call.ts';
import { readPassphrase } from './passphrase.ts';
import { publicKeyArg } from './publisher-commands.ts';

// The plugin author's side of `hana plugin`: keygen, sign, verify, pack, audit. None of these
// needs a daemon; verify and audit read the home's trusted publishers to say what an
// installation here would decide.

/** Where `keygen` writes and `sign` reads the publisher key unless told otherwise. */
export function defaultKeyDir(): string {
  if (process.platform === 'win32')
    return join(process.env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'hana');
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'hana');
}

// What a plugin brings (names, file names, code) is escaped before it reaches the terminal.
const json = (out: Out, value: unknown) => out.stdout(`${jsonSafe(JSON.stringify(value, null, 2))}\n`);
const fail = (out: Out, message: string) => {
  out.stderr(`hana: ${printable(message)}\n`);
  return 1;
};

export async function keygenCommand(args: Parsed, out: Out): Promise<number> {
  const dir = resolve((args.flags.out as string | undefined) ?? defaultKeyDir());
  const secretPath = join(dir, 'publisher.key');
  const publicPath = join(dir, 'publisher.pub');
  if (!args.flags.force && (await stat(secretPath).catch(() => undefined))) {
    return fail(
      out,
      `${secretPath} already exists; keep it (daemons trust that key) or pass --force to replace it, after backing it up`,
    );
  }
  const pass = await readPassphrase(args.flags, 'passphrase for the new publisher key', true);
  if (!pass.ok) return fail(out, pass.error);
  const key = await generatePublisherKey(pass.passphrase);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(secretPath, key.secretKeyFile, 0o600);
  await writeFileAtomic(publicPath, `${key.publicKey}\n`, 0o644);
  if (args.flags.json) {
    json(out, {
      keyId: key.keyId,
      publicKey: key.publicKey,
      secretKeyFile: secretPath,
      publicKeyFile: publicPath,
    });
    return 0;
  }
  out.stdout(
    `publisher key ${key.keyId}\n` +
      `public key   ${key.publicKey}\n` +
      `secret key   ${secretPath} (encrypted with your passphrase; back it up: a lost key cannot sign updates)\n` +
      `public key   ${publicPath} (give this to operators)\n\n` +
      `Put "publisher": "${key.keyId}" in plugin.json, then \`hana plugin sign <dir> --key ${secretPath}\`.\n` +
      `Operators trust you with: hana publisher trust ${key.publicKey} --name "<your name>"\n`,
  );
  return 0;
}

export async function signCommand(args: Parsed, out: Out, dir: string): Promise<number> {
  const keyPath = resolve((args.flags.key as string | undefined) ?? join(defaultKeyDir(), 'publisher.key'));
  const read = await readOwnFile(keyPath);
  if (!read.ok) {
    return fail(
      out,
      read.missing
        ? `no publisher key at ${keyPath}: make one with \`hana plugin keygen\` or pass --key FILE`
        : read.error,
    );
  }
  const claimed = describeSecretKeyFile(read.text);
  if (!claimed) return fail(out, `${keyPath} is not a publisher secret key file`);
  const pass = await readPassphrase(args.flags, `passphrase for publisher key ${claimed.keyId}`, false);
  if (!pass.ok) return fail(out, pass.error);
  const key = await unlockSecretKey(read.text, pass.passphrase);
  if (!key.ok) return fail(out, key.error);
  const r = await signPlugin(dir, key.key);
  if (!r.ok) return fail(out, `not signed (${r.code}): ${r.error}`);
  const c = JSON.parse(r.signature.trustedComment) as { id: string; version: string; time: string };
  if (args.flags.json)
    json(out, { ok: true, keyId: r.signature.keyId, ...c, files: r.signature.files.length });
  else {
    out.stdout(
      `signed ${c.id} ${c.version} with key ${r.signature.keyId}: ${r.signature.files.length} files listed in ${join(dir, SIGNATURE_FILE)}\n`,
    );
  }
  return 0;
}

/** Runs fn on the plugin folder: `source` itself, or an archive unpacked into a temp folder. */
async function onFolder<T>(
  source: string,
  fn: (dir: string) => Promise<T>,
): Promise<T | { ok: false; code: string; error: string }> {
  const st = await stat(source).catch(() => undefined);
  if (!st) return { ok: false, code: 'not-found', error: `${source} does not exist` };
  if (st.isDirectory()) return fn(source);
  const tmp = await mkdtemp(join(tmpdir(), 'hana-verify-'));
  try {
    const r = await unpackArchive(source, join(tmp, 'plugin'));
    if (!r.ok) return { ok: false, code: r.code, error: `${source}: ${r.error}` };
    return await fn(join(tmp, 'plugin'));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export async function verifyCommand(args: Parsed, out: Out, source: string): Promise<number> {
  const home = resolveHome(args.flags.home as string | undefined);
  const pubs = await loadPublishers(home);
  if (!pubs.ok) return fail(out, pubs.error);
  const given = typeof args.flags.pubkey === 'string' ? await publicKeyArg(args.flags.pubkey) : undefined;
  const r = await onFolder(
    source,
    async (dir): Promise<VerifyResult | { ok: false; code: string; error: string; path?: string }> => {
      const keys = trustedKeys(pubs.file);
      if (given) keys.set(publisherKeyId(Buffer.from(given, 'base64')), given);
      const v = await verifyPlugin(dir, keys);
      // Without --pubkey, say "revoked" rather than "unknown" for a key revoked here.
      return !v.ok && v.code === 'unknown-publisher' ? verifyAgainst(dir, pubs.file) : v;
    },
  );
  if (!r.ok) {
    if (args.flags.json) json(out, r);
    return fail(out, `verification failed (${r.code}): ${r.error}`);
  }
  const status = publisherStatus(pubs.file, r.keyId);
  const by =
    status.state === 'trusted'
      ? `trusted publisher ${status.publisher.name} (${r.keyId})`
      : status.state === 'revoked'
        ? `${r.keyId}, the key given with --pubkey, which this installation REVOKED`
        : `${r.keyId}, the key given with --pubkey (not a trusted publisher here)`;
  if (args.flags.json) {
    json(out, {
      ok: true,
      id: r.manifest.id,
      version: r.manifest.version,
      keyId: r.keyId,
      publisher:
        status.state === 'unknown'
          ? { state: 'unknown' }
          : { state: status.state, name: status.publisher.name },
      signedAt: r.trustedComment.time,
      files: r.files.map((f) => f.path),
    });
  } else {
    out.stdout(
      `verified: ${r.manifest.id} ${r.manifest.version}, ${r.files.length} signed files, signed at ${r.trustedComment.time} by ${by}\n`,
    );
  }
  return 0;
}

/** The first file whose bytes differ from the signed listing; undefined if they all match. */
async function staleSignature(dir: string): Promise<string | undefined> {
  const sigRead = await readPluginFile(dir, SIGNATURE_FILE, 4 * 1024 * 1024);
  if (!sigRead.ok)
    return sigRead.missing ? 'the plugin is not signed: run `hana plugin sign` first' : sigRead.error;
  let sig: SignatureFile;
  try {
    sig = SignatureFile.parse(JSON.parse(sigRead.bytes.toString('utf8')));
  } catch {
    return `${SIGNATURE_FILE} is malformed: sign the plugin again`;
  }
  const d = await digestPlugin(dir);
  if (!d.ok) return d.error;
  const listed = new Map(sig.files.map((f) => [f.path, f.sha256]));
  for (const f of d.files) {
    if (listed.get(f.path) !== f.sha256)
      return `${f.path} changed or was added after signing: sign the plugin again`;
    listed.delete(f.path);
  }
  const [missing] = listed.keys();
  return missing === undefined ? undefined : `${missing} is signed but missing: sign the plugin again`;
}

export async function packCommand(args: Parsed, out: Out, dir: string): Promise<number> {
  const stale = await staleSignature(dir);
  if (stale) return fail(out, `not packed: ${stale}`);
  const m = await readPluginFile(dir, 'plugin.json', 64 * 1024);
  let manifest: ReturnType<typeof parseManifest> = { ok: false, error: 'plugin.json is missing' };
  if (m.ok) {
    try {
      manifest = parseManifest(JSON.parse(m.bytes.toString('utf8')));
    } catch (err) {
      manifest = { ok: false, error: `plugin.json is not JSON: ${(err as Error).message}` };
    }
  }
  if (!manifest.ok) return fail(out, `not packed: ${manifest.error}`);
  const target = resolve(
    (args.flags.out as string | undefined) ??
      `${manifest.manifest.id}-${manifest.manifest.version}${ARCHIVE_EXTENSION}`,
  );
  const r = await packPlugin(dir, target);
  if (!r.ok) return fail(out, `not packed (${r.code}): ${r.error}`);
  // Read back through the same checks an installer applies, so a bad archive never leaves here.
  const check = await readArchive(target);
  if (!check.ok) return fail(out, `the archive written to ${target} does not read back: ${check.error}`);
  const sha256 = createHash('sha256')
    .update(await readFile(target))
    .digest('hex');
  if (args.flags.json) json(out, { path: target, files: r.files, bytes: r.bytes, sha256 });
  else out.stdout(`packed ${target}: ${r.files} files, ${r.bytes} bytes, sha256 ${sha256}\n`);
  return 0;
}

function auditText(r: AuditReport): string {
  const lines: string[] = [];
  const m = r.manifest;
  if (m.ok) {
    lines.push(
      `${m.name} (${m.id}) ${m.version}${m.description ? ` — ${m.description.split('\n')[0]}` : ''}`,
    );
    lines.push(`  entry   ${m.entry}`);
    lines.push(`  reads   ${m.reads.length ? m.reads.join(' ') : '(nothing)'}`);
    lines.push(`  writes  ${m.writes.length ? m.writes.join(' ') : '(nothing)'}`);
    lines.push(
      `  limits  ${m.limits.memoryMb} MiB memory, ${m.limits.cpuMsPerFrame} ms CPU per frame, ${m.limits.fps} fps`,
    );
  } else lines.push(`plugin.json: ${m.error}`);
  const p = r.publisher;
  const who = p.name ? `${p.name} (${p.keyId})` : (p.keyId ?? 'nobody');
  lines.push(
    `publisher ${who}: ${p.state === 'trusted' ? 'trusted here' : p.state === 'revoked' ? `REVOKED here at ${p.revoked?.at}${p.revoked?.reason ? ` (${p.revoked.reason})` : ''}` : 'not trusted here'}`,
  );
  lines.push(
    r.signature.ok
      ? `signature valid, signed at ${r.signature.signedAt}`
      : `signature: ${r.signature.code}: ${r.signature.error}`,
  );
  lines.push(
    `${r.files.count} files, ${r.files.bytes} bytes; JavaScript scanned: ${r.files.scanned.join(', ') || '(none)'}`,
  );
  if (r.flags.length === 0) lines.push('no findings in the static scan');
  else {
    lines.push(`${r.flags.length} findings:`);
    for (const f of r.flags) {
      lines.push(`  ${f.severity.padEnd(7)} ${f.file}:${f.line}:${f.column} ${f.rule}: ${f.message}`);
      if (f.excerpt) lines.push(`          ${f.excerpt}`);
    }
    if (r.omittedFlags > 0)
      lines.push(`  … and ${r.omittedFlags} more matches of the same rules (see --json)`);
  }
  lines.push(`note: ${r.limits}`);
  return lines.join('\n');
}

export async function pluginAuditCommand(args: Parsed, out: Out, source: string): Promise<number> {
  const home = resolveHome(args.flags.home as string | undefined);
  const r = await auditPlugin(source, home);
  if (!r.ok) return fail(out, `cannot audit ${source} (${r.code}): ${r.error}`);
  if (args.flags.json) json(out, r.report);
  else out.stdout(`${printableLines(auditText(r.report))}\n`);
  return 0;
}
