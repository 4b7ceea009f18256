import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { withLock } from '../trust-store/file-lock.ts';
import { readJsonFile, writeJsonFile } from '../trust-store/json-file.ts';
import { PluginManifest, PublisherKeyId } from './manifest.ts';

// <home>/plugins.json (0600): which plugins are installed, from whom, and whether they may run.
// The files live in <home>/plugins/<id>/; this index pins each to the exact signed listing it
// was installed with (`digest`), so a folder swapped behind the daemon's back — even for another
// correctly signed version — is refused at load. Like the other trust files, a damaged index is
// an error naming it, never an empty list (that would hide what was disabled or quarantined).

const Timestamp = z.iso.datetime({ message: 'a time is an ISO 8601 UTC timestamp' });
const Reason = z
  .string()
  .max(500)
  .regex(/^[^\p{Cc}\p{Cf}\u2028\u2029]*$/u, 'a reason cannot contain control or format characters');

export const InstalledPlugin = z.strictObject({
  id: PluginManifest.shape.id,
  version: PluginManifest.shape.version,
  publisherKeyId: PublisherKeyId,
  /** Hex SHA-512 of the signed file listing (plugins/digest.ts listingDigest). */
  digest: z.string().regex(/^[0-9a-f]{128}$/, 'a digest is 128 lowercase hex characters'),
  installedAt: Timestamp,
  enabled: z.boolean(),
  /** Set by the daemon's runtime when the plugin misbehaved; `hana plugin enable` clears it. */
  quarantined: z.strictObject({ reason: Reason, at: Timestamp }).optional(),
});
export type InstalledPlugin = z.infer<typeof InstalledPlugin>;

export const MAX_INSTALLED = 1024;

export const PluginsIndex = z
  .strictObject({ version: z.literal(1), plugins: z.array(InstalledPlugin).max(MAX_INSTALLED) })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.plugins.forEach((p, i) => {
      if (seen.has(p.id))
        ctx.addIssue({ code: 'custom', path: ['plugins', i, 'id'], message: `${p.id} is listed twice` });
      seen.add(p.id);
    });
  });
export type PluginsIndex = z.infer<typeof PluginsIndex>;

export const indexPath = (home: string) => join(home, 'plugins.json');
export const pluginsDir = (home: string) => join(home, 'plugins');
/** Plugin IDs never start with "." (manifest schema), so these never collide with a plugin folder. */
export const pluginDir = (home: string, id: string) => join(pluginsDir(home), id);

const NOT_RESET =
  'nothing was changed: fix or restore the file, or move it aside to start with no installed plugins';

export type LoadIndex = { ok: true; index: PluginsIndex } | { ok: false; error: string };

export async function loadIndex(home: string): Promise<LoadIndex> {
  const r = await readJsonFile(indexPath(home), {
    schema: PluginsIndex,
    empty: { version: 1, plugins: [] },
    what: 'a valid plugin index',
    notReset: NOT_RESET,
  });
  return r.ok ? { ok: true, index: r.value } : r;
}

export async function saveIndex(home: string, index: PluginsIndex): Promise<void> {
  await writeJsonFile(indexPath(home), PluginsIndex, index, 'plugin index');
}

export type IndexFailure = { ok: false; code: 'index-unreadable' | 'busy'; error: string };

/**
 * Runs fn with the index loaded under the lock; what fn returns as `save` is written before the
 * lock is released. The CLI and the daemon (quarantine) both edit the index.
 */
export async function withIndex<T>(
  home: string,
  fn: (index: PluginsIndex) => Promise<{ result: T; save?: PluginsIndex }>,
): Promise<T | IndexFailure> {
  await mkdir(pluginsDir(home), { recursive: true, mode: 0o700 });
  const locked = await withLock(`${indexPath(home)}.lock`, async (): Promise<T | IndexFailure> => {
    const loaded = await loadIndex(home);
    if (!loaded.ok) return { ok: false, code: 'index-unreadable', error: loaded.error };
    const { result, save } = await fn(loaded.index);
    if (save) await saveIndex(home, save);
    return result;
  });
  return locked.ok ? locked.value : { ok: false, code: 'busy', error: locked.error };
}
