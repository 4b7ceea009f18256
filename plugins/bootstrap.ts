import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { type Logger, securityLogger } from '../daemon/log.ts';
import { loadPublishers, publisherStatus, trustPublisher } from '../trust-store/publishers.ts';
import { readOwnFile, writeFileAtomic } from '../trust-store/secure-file.ts';
import { type ArchiveFile, writeArchiveFiles } from './archive.ts';
import { digestPlugin, readPluginFile } from './digest.ts';
import { installPlugin } from './install.ts';
import { loadIndex } from './installed-index.ts';
import { loadLocalKey } from './local-key.ts';
import { compareSemver, PluginManifest, PublisherKeyId, parseManifest } from './manifest.ts';
import { signPlugin } from './signing.ts';

// First start with the bundled examples. Plugins run only when signed by a trusted publisher,
// and that rule is not relaxed for our own examples: instead this installation makes its own
// publisher key, trusts it under the name "local (this installation)", and signs and installs
// each example under it — logging that it did. Nothing else is ever signed or trusted here: the
// key signs only folders read from the examples directory shipped with hana itself.
//
// It runs in full once (a marker in the home records what it installed). On later starts it
// installs examples that are new or have a higher version than the installed one, and leaves
// alone an example the operator removed, and everything if the operator revoked the local key.

export const BUNDLED_EXAMPLES_DIR = join(import.meta.dirname, 'examples');
export const LOCAL_PUBLISHER_NAME = 'local (this installation)';
/** What an example's plugin.json says as its publisher; replaced by the local key ID. */
export const PLACEHOLDER_PUBLISHER = '0000000000000000';

const markerPath = (home: string) => join(home, 'bundled-plugins.json');
const Marker = z.strictObject({
  version: z.literal(1),
  keyId: PublisherKeyId,
  /** Example id → the version bootstrap last installed. */
  examples: z.record(PluginManifest.shape.id, PluginManifest.shape.version),
});
type Marker = z.infer<typeof Marker>;

export type BootstrapInit = { home: string; examplesDir: string; log: Logger; now?: () => Date };
export type BootstrapResult = {
  keyId?: string;
  firstRun: boolean;
  installed: { id: string; version: string; change: string }[];
  skipped: { example: string; id?: string; reason: string }[];
};

type Prepared =
  | { ok: true; id: string; version: string; dir: string }
  | { ok: false; id?: string; reason: string };

/** Copies plugin.json (publisher set to keyId) and dist/ of one example into `target`. */
async function prepare(exampleDir: string, target: string, keyId: string): Promise<Prepared> {
  const read = await readPluginFile(exampleDir, 'plugin.json', 64 * 1024);
  if (!read.ok) return { ok: false, reason: read.missing ? 'no plugin.json' : read.error };
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(read.bytes.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `plugin.json is not JSON: ${(err as Error).message}` };
  }
  const id = typeof json.id === 'string' ? json.id : undefined;
  if (json.publisher !== PLACEHOLDER_PUBLISHER) {
    return {
      ok: false,
      ...(id && { id }),
      reason: `plugin.json must name the placeholder publisher "${PLACEHOLDER_PUBLISHER}"`,
    };
  }
  const m = parseManifest({ ...json, publisher: keyId });
  if (!m.ok) return { ok: false, ...(id && { id }), reason: `plugin.json is invalid: ${m.error}` };
  const dist = join(exampleDir, 'dist');
  const listed = await digestPlugin(dist);
  if (!listed.ok)
    return { ok: false, id: m.manifest.id, reason: `dist/: ${listed.error} (build the example first)` };
  const files: ArchiveFile[] = [
    {
      path: 'plugin.json',
      bytes: Buffer.from(`${JSON.stringify({ ...json, publisher: keyId }, null, 2)}\n`),
    },
  ];
  for (const f of listed.files) {
    const r = await readPluginFile(dist, f.path, 8 * 1024 * 1024);
    if (!r.ok) return { ok: false, id: m.manifest.id, reason: `dist/${f.path}: ${r.error}` };
    files.push({ path: `dist/${f.path}`, bytes: r.bytes });
  }
  // ISF shaders are plugin files the manifest names (outside dist/: they are source, not built).
  for (const ref of m.manifest.shaders ?? []) {
    const r = await readPluginFile(exampleDir, ref.file, 1024 * 1024);
    if (!r.ok) return { ok: false, id: m.manifest.id, reason: `${ref.file}: ${r.error}` };
    files.push({ path: ref.file, bytes: r.bytes });
  }
  await writeArchiveFiles(files, target);
  return { ok: true, id: m.manifest.id, version: m.manifest.version, dir: target };
}

async function readMarker(
  home: string,
): Promise<{ ok: true; marker?: Marker } | { ok: false; error: string }> {
  const read = await readOwnFile(markerPath(home));
  if (!read.ok) return read.missing ? { ok: true } : { ok: false, error: read.error };
  try {
    return { ok: true, marker: Marker.parse(JSON.parse(read.text)) };
  } catch (err) {
    return { ok: false, error: `${markerPath(home)} is corrupt (${(err as Error).message.split('\n')[0]})` };
  }
}

/** Signs, trusts and installs the bundled examples as described above. Never throws on content. */
export async function bootstrapBundledPlugins(init: BootstrapInit): Promise<BootstrapResult> {
  const { home, log } = init;
  const now = init.now ?? (() => new Date());
  const security = securityLogger(log);
  const result: BootstrapResult = { firstRun: false, installed: [], skipped: [] };
  const giveUp = (reason: string) => {
    log.warn({ event: 'plugins.bundled-skipped' }, `bundled examples not installed: ${reason}`);
    result.skipped.push({ example: '*', reason });
    return result;
  };

  const entries = await readdir(init.examplesDir, { withFileTypes: true }).catch(() => undefined);
  const examples = (entries ?? [])
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  if (examples.length === 0) {
    log.debug({ event: 'plugins.bundled-none', dir: init.examplesDir }, 'no bundled examples found');
    return result;
  }
  const m = await readMarker(home);
  if (!m.ok) return giveUp(`${m.error}; move it aside to set the examples up again`);
  result.firstRun = m.marker === undefined;
  const key = await loadLocalKey(home, { create: result.firstRun, now });
  if (!key.ok) return giveUp(key.error);
  result.keyId = key.key.keyId;
  if (m.marker && m.marker.keyId !== key.key.keyId) {
    return giveUp(
      `the local key is ${key.key.keyId} but the examples were signed with ${m.marker.keyId}; move ${markerPath(home)} aside to start over`,
    );
  }
  const pubs = await loadPublishers(home);
  if (!pubs.ok) return giveUp(pubs.error);
  const status = publisherStatus(pubs.file, key.key.keyId);
  if (status.state === 'revoked') return giveUp(`the local key ${key.key.keyId} was revoked by the operator`);
  if (status.state === 'unknown') {
    // Trusting it is part of the first run only; if the operator took the trust away by hand
    // later, putting it back silently would override them.
    if (!result.firstRun) return giveUp(`the local key ${key.key.keyId} is no longer a trusted publisher`);
    const t = await trustPublisher(home, { publicKey: key.key.publicKey, name: LOCAL_PUBLISHER_NAME }, now);
    if (!t.ok) return giveUp(t.error);
    security.info(
      { event: 'publisher.trusted', keyId: key.key.keyId, name: LOCAL_PUBLISHER_NAME },
      `trusted this installation's local publisher key ${key.key.keyId}`,
    );
  }
  const idx = await loadIndex(home);
  if (!idx.ok) return giveUp(idx.error);

  const marker: Marker = m.marker ?? { version: 1, keyId: key.key.keyId, examples: {} };
  const tmp = await mkdtemp(join(tmpdir(), 'hana-bundled-'));
  try {
    for (const name of examples) {
      const p = await prepare(join(init.examplesDir, name), join(tmp, name), key.key.keyId);
      if (!p.ok) {
        result.skipped.push({ example: name, ...(p.id && { id: p.id }), reason: p.reason });
        log.warn(
          { event: 'plugins.bundled-skipped', example: name, reason: p.reason },
          `bundled example ${name} skipped: ${p.reason}`,
        );
        continue;
      }
      const installed = idx.index.plugins.find((x) => x.id === p.id);
      const skip = (reason: string) => result.skipped.push({ example: name, id: p.id, reason });
      if (installed && installed.publisherKeyId !== key.key.keyId) {
        skip(`${p.id} is installed from another publisher`);
        continue;
      }
      if (installed && compareSemver(p.version, installed.version) <= 0) {
        skip('up to date');
        continue;
      }
      if (!installed && Object.hasOwn(marker.examples, p.id)) {
        skip('removed by the operator');
        continue;
      }
      const signed = await signPlugin(p.dir, key.key, { time: now() });
      if (!signed.ok) {
        skip(signed.error);
        continue;
      }
      const r = await installPlugin(home, p.dir, { now, log });
      if (!r.ok) {
        skip(r.error);
        log.warn(
          { event: 'plugins.bundled-skipped', example: name, reason: r.code },
          `bundled example ${name} not installed: ${r.error}`,
        );
        continue;
      }
      marker.examples[p.id] = p.version;
      result.installed.push({ id: p.id, version: p.version, change: r.change });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await writeFileAtomic(markerPath(home), `${JSON.stringify(marker, null, 2)}\n`);
  const n = result.installed.length;
  const ids = result.installed.map((x) => `${x.id}@${x.version}`);
  if (result.firstRun) {
    security.info(
      { event: 'plugins.bundled-installed', keyId: key.key.keyId, plugins: ids },
      `signed and trusted ${n} bundled examples under this installation's local key ${key.key.keyId}`,
    );
  } else if (n > 0) {
    security.info(
      { event: 'plugins.bundled-installed', keyId: key.key.keyId, plugins: ids },
      `signed and installed ${n} new or updated bundled examples under this installation's local key ${key.key.keyId}`,
    );
  }
  return result;
}
