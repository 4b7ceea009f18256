import { createHash, randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../daemon/log.ts';
import { securityLogger } from '../daemon/log.ts';
import { loadPublishers, publisherStatus, trustedKeys } from '../trust-store/publishers.ts';
import type { PublishersFile } from '../trust-store/publishers-schema.ts';
import { type FileEntry, listingDigest, readPluginFile, SIGNATURE_FILE } from './digest.ts';
import {
  type IndexFailure,
  type InstalledPlugin,
  loadIndex,
  pluginDir,
  pluginsDir,
  withIndex,
} from './installed-index.ts';
import { type IsfShader, parseIsf } from './isf/header.ts';
import type { ShaderRef } from './isf/manifest-schema.ts';
import type { PluginManifest } from './manifest.ts';
import { type VerifyCode, type VerifyResult, verifyPlugin } from './signing.ts';

// Installed plugins: list, enable, disable, quarantine, remove, and load. Loading re-verifies
// the installed folder against the publishers trusted *now* on every call — a revoked publisher,
// an edited file or a folder that no longer matches the index is refused before any code is
// read — and then reads the entry once more, checking its bytes against the signed hash, so what
// the sandbox receives is exactly what was verified.

export type { InstalledPlugin } from './installed-index.ts';
export { indexPath, pluginDir, pluginsDir } from './installed-index.ts';

// A bundled plugin script; far above what a frame function needs, small enough to hold in memory.
export const MAX_ENTRY_BYTES = 8 * 1024 * 1024;

export type LoadCode =
  | VerifyCode
  | 'not-installed'
  | 'index-unreadable'
  | 'busy'
  | 'publishers-unreadable'
  | 'publisher-revoked'
  | 'index-mismatch'
  | 'entry-invalid'
  | 'shader-invalid';
export type LoadFailure = { ok: false; code: LoadCode; error: string; path?: string };

export type LoadedPlugin = {
  readonly manifest: PluginManifest;
  /** The entry file's text, byte-for-byte what the signature covers. */
  readonly entrySource: string;
  /** The manifest's ISF shaders, read and checked (isf/header.ts), in manifest order. */
  readonly shaders: readonly { readonly ref: ShaderRef; readonly shader: IsfShader }[];
  readonly dir: string;
  readonly publisher: { readonly keyId: string; readonly name: string };
};
export type LoadResult = { ok: true; plugin: LoadedPlugin } | LoadFailure;

/** The key ID plugin.sig claims, read without trusting it; undefined if there is none. */
export async function claimedKeyId(dir: string): Promise<string | undefined> {
  const r = await readPluginFile(dir, SIGNATURE_FILE, 4 * 1024 * 1024);
  if (!r.ok) return undefined;
  try {
    const keyId = (JSON.parse(r.bytes.toString('utf8')) as { keyId?: unknown }).keyId;
    return typeof keyId === 'string' && /^[0-9a-f]{16}$/.test(keyId) ? keyId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies `dir` against the trusted publishers; an unknown-publisher refusal becomes
 * publisher-revoked when the key is one this installation revoked, which says more.
 */
export async function verifyAgainst(
  dir: string,
  publishers: PublishersFile,
): Promise<VerifyResult | LoadFailure> {
  const r = await verifyPlugin(dir, trustedKeys(publishers));
  if (r.ok || r.code !== 'unknown-publisher') return r;
  const keyId = await claimedKeyId(dir);
  const status = keyId ? publisherStatus(publishers, keyId) : { state: 'unknown' as const };
  if (status.state !== 'revoked') {
    return {
      ...r,
      error: `${r.error}: trust the publisher first (\`hana publisher trust <public-key>\`) if you know whose key it is`,
    };
  }
  const p = status.publisher;
  return {
    ok: false,
    code: 'publisher-revoked',
    error: `signed by ${p.name} (${p.keyId}), whose key was revoked at ${p.revoked!.at}${p.revoked!.reason ? ` (${p.revoked!.reason})` : ''}`,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Shader files are checked against the ISF limit by parseIsf; this only bounds the read.
const ISF_LIMITS_BYTES = 1024 * 1024;

/** Reads a listed, signed file as UTF-8 text, refusing it unless its bytes hash as signed. */
async function readSigned(
  id: string,
  dir: string,
  files: readonly FileEntry[],
  path: string,
  maxBytes: number,
  invalid: 'entry-invalid' | 'shader-invalid',
): Promise<{ ok: true; text: string } | LoadFailure> {
  const listed = files.find((f) => f.path === path);
  if (!listed)
    return { ok: false, code: invalid, error: `${id}: ${path} is not among the signed files`, path };
  const read = await readPluginFile(dir, path, maxBytes);
  if (!read.ok) return { ok: false, code: read.code, error: `${id}: ${read.error}`, path: read.path };
  // The file could change between verification and this read; compare with the signed hash.
  if (createHash('sha256').update(read.bytes).digest('hex') !== listed.sha256) {
    return { ok: false, code: 'file-changed', error: `${id}: ${path} changed after it was signed`, path };
  }
  try {
    return { ok: true, text: utf8.decode(read.bytes) };
  } catch {
    return { ok: false, code: invalid, error: `${id}: ${path} is not valid UTF-8`, path };
  }
}

/** Re-verifies and reads an installed plugin. Never throws on the home's content. */
export async function loadInstalledPlugin(home: string, id: string): Promise<LoadResult> {
  const idx = await loadIndex(home);
  if (!idx.ok) return { ok: false, code: 'index-unreadable', error: idx.error };
  const entry = idx.index.plugins.find((p) => p.id === id);
  if (!entry) return { ok: false, code: 'not-installed', error: `no plugin ${id} is installed` };
  const pubs = await loadPublishers(home);
  if (!pubs.ok) return { ok: false, code: 'publishers-unreadable', error: pubs.error };
  const dir = pluginDir(home, id);
  const v = await verifyAgainst(dir, pubs.file);
  if (!v.ok) return { ...v, error: `${id}: ${v.error}` };
  const m = v.manifest;
  const digest = listingDigest(v.files).toString('hex');
  if (
    m.id !== id ||
    m.version !== entry.version ||
    v.keyId !== entry.publisherKeyId ||
    digest !== entry.digest
  ) {
    return {
      ok: false,
      code: 'index-mismatch',
      error: `${id}: the files in ${dir} are ${m.id}@${m.version} by ${v.keyId}, not the ${entry.version} by ${entry.publisherKeyId} that was installed; reinstall it`,
    };
  }
  const code = await readSigned(id, dir, v.files, m.entry, MAX_ENTRY_BYTES, 'entry-invalid');
  if (!code.ok) return code;
  const entrySource = code.text;
  const shaders: { ref: ShaderRef; shader: IsfShader }[] = [];
  for (const ref of m.shaders ?? []) {
    // A shader file is signed like the entry (the listing covers every file); it is read once
    // more here and compared with the signed hash for the same reason.
    const file = await readSigned(id, dir, v.files, ref.file, ISF_LIMITS_BYTES, 'shader-invalid');
    if (!file.ok) return file;
    const parsed = parseIsf(file.text);
    if (!parsed.ok)
      return {
        ok: false,
        code: 'shader-invalid',
        error: `${id}: ${ref.file}: ${parsed.error}`,
        path: ref.file,
      };
    shaders.push({ ref, shader: parsed.shader });
  }
  const name = publisherStatus(pubs.file, v.keyId);
  return {
    ok: true,
    plugin: {
      manifest: m,
      entrySource,
      shaders,
      dir,
      publisher: { keyId: v.keyId, name: name.state === 'unknown' ? v.keyId : name.publisher.name },
    },
  };
}

export type Refused = { id: string; code: LoadCode | 'quarantined'; error: string; path?: string };
export type EnabledPlugins = {
  ok: true;
  plugins: LoadedPlugin[];
  /** Enabled plugins that may not run now, each with its reason. */
  refused: Refused[];
  disabled: string[];
};

/**
 * Every enabled, unquarantined plugin that verifies now, and the refused ones with reasons. Each
 * refusal is logged once per call as a security event (the caller calls this on start and on
 * `plugins.reload`, not per frame).
 */
export async function loadEnabledPlugins(
  home: string,
  opts: { log?: Logger } = {},
): Promise<EnabledPlugins | { ok: false; code: 'index-unreadable'; error: string }> {
  const idx = await loadIndex(home);
  if (!idx.ok) {
    opts.log?.error({ event: 'plugin.index-unreadable' }, idx.error);
    return { ok: false, code: 'index-unreadable', error: idx.error };
  }
  const security = opts.log ? securityLogger(opts.log) : undefined;
  const out: EnabledPlugins = { ok: true, plugins: [], refused: [], disabled: [] };
  for (const p of idx.index.plugins) {
    if (!p.enabled) {
      out.disabled.push(p.id);
      continue;
    }
    if (p.quarantined) {
      out.refused.push({
        id: p.id,
        code: 'quarantined',
        error: `${p.id} was quarantined at ${p.quarantined.at}: ${p.quarantined.reason}; \`hana plugin enable ${p.id}\` lets it run again`,
      });
      continue;
    }
    const r = await loadInstalledPlugin(home, p.id);
    if (r.ok) out.plugins.push(r.plugin);
    else {
      out.refused.push({
        id: p.id,
        code: r.code,
        error: r.error,
        ...(r.path !== undefined && { path: r.path }),
      });
      security?.warn({ event: 'plugin.refused', plugin: p.id, reason: r.code, file: r.path }, r.error);
    }
  }
  return out;
}

export type IndexChange =
  | { ok: true; plugin: InstalledPlugin }
  | IndexFailure
  | { ok: false; code: 'not-installed'; error: string };

function update(
  home: string,
  id: string,
  edit: (p: InstalledPlugin) => InstalledPlugin,
): Promise<IndexChange> {
  return withIndex<IndexChange>(home, async (index) => {
    const i = index.plugins.findIndex((p) => p.id === id);
    if (i < 0)
      return {
        result: {
          ok: false,
          code: 'not-installed',
          error: `no plugin ${id} is installed (see \`hana plugin list\`)`,
        },
      };
    const next = edit(index.plugins[i]!);
    return {
      result: { ok: true, plugin: next },
      save: { ...index, plugins: index.plugins.map((p, j) => (j === i ? next : p)) },
    };
  });
}

export async function listInstalled(
  home: string,
): Promise<
  { ok: true; plugins: InstalledPlugin[] } | { ok: false; code: 'index-unreadable'; error: string }
> {
  const idx = await loadIndex(home);
  return idx.ok
    ? { ok: true, plugins: idx.index.plugins }
    : { ok: false, code: 'index-unreadable', error: idx.error };
}

/** Lets the plugin run again, clearing any quarantine. */
export function enablePlugin(home: string, id: string): Promise<IndexChange> {
  return update(home, id, ({ quarantined: _, ...p }) => ({ ...p, enabled: true }));
}

export function disablePlugin(home: string, id: string): Promise<IndexChange> {
  return update(home, id, (p) => ({ ...p, enabled: false }));
}

/** Called by the daemon's runtime when a plugin misbehaves; it stays off until enabled again. */
export function quarantinePlugin(
  home: string,
  id: string,
  reason: string,
  now: () => Date = () => new Date(),
): Promise<IndexChange> {
  // Runtime messages can be long or hold anything the plugin printed: keep them bounded and plain.
  const clean = reason.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, ' ').slice(0, 500);
  return update(home, id, (p) => ({ ...p, quarantined: { reason: clean, at: now().toISOString() } }));
}

/**
 * Moves the files aside, deletes them, then drops the index entry. A crash in between leaves an
 * entry whose load is refused (its files are gone), never a half folder that loads.
 */
export async function removePlugin(home: string, id: string): Promise<IndexChange> {
  return withIndex<IndexChange>(home, async (index) => {
    const found = index.plugins.find((p) => p.id === id);
    if (!found)
      return {
        result: {
          ok: false,
          code: 'not-installed',
          error: `no plugin ${id} is installed (see \`hana plugin list\`)`,
        },
      };
    const aside = join(pluginsDir(home), `.removed-${randomBytes(6).toString('hex')}`);
    await rename(pluginDir(home, id), aside).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await rm(aside, { recursive: true, force: true });
    return {
      result: { ok: true, plugin: found },
      save: { ...index, plugins: index.plugins.filter((p) => p.id !== id) },
    };
  });
}
