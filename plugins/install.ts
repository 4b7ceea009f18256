import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../daemon/log.ts';
import { securityLogger } from '../daemon/log.ts';
import { loadPublishers } from '../trust-store/publishers.ts';
import { type ArchiveCode, readPluginFolder, unpackArchive, writeArchiveFiles } from './archive.ts';
import { listingDigest } from './digest.ts';
import { type LoadCode, verifyAgainst } from './installed.ts';
import {
  type IndexFailure,
  type InstalledPlugin,
  pluginDir,
  pluginsDir,
  withIndex,
} from './installed-index.ts';
import { compareSemver } from './manifest.ts';

// `hana plugin install <archive|dir>`. The source is first copied (or unpacked) into a private
// staging folder beside the install location, and that copy — not the source, which the caller
// may still be changing — is what gets verified and then renamed into place. The index decides
// what may replace what:
//   - a different publisher for an installed id: refused (remove the old plugin first);
//   - a lower version: refused as a rollback, whatever --force says (removing first is the
//     deliberate way back, so a replayed old, vulnerable release never slips in);
//   - the same version: accepted if the signed files are identical (this repairs a damaged
//     install), otherwise only with force;
//   - a higher version: an upgrade; it keeps enabled/disabled and clears a quarantine.

export type InstallCode =
  | LoadCode
  | ArchiveCode
  | 'not-found'
  | 'rollback'
  | 'same-version-differs'
  | 'id-taken'
  | IndexFailure['code'];
export type InstallFailure = { ok: false; code: InstallCode; error: string; path?: string };
export type InstallResult =
  | {
      ok: true;
      plugin: InstalledPlugin;
      change: 'installed' | 'upgraded' | 'reinstalled';
      previousVersion?: string;
      publisherName: string;
    }
  | InstallFailure;

export type InstallOptions = { force?: boolean; now?: () => Date; log?: Logger };

async function stage(source: string, staging: string): Promise<InstallFailure | undefined> {
  const st = await stat(source).catch(() => undefined);
  if (!st?.isFile() && !st?.isDirectory()) {
    return {
      ok: false,
      code: 'not-found',
      error: `${source} is neither a plugin folder nor a .hana-plugin archive`,
    };
  }
  if (st.isFile()) {
    const r = await unpackArchive(source, staging);
    return r.ok ? undefined : r;
  }
  // Through the same bounded reader and writer as an archive: one set of path and size rules.
  const read = await readPluginFolder(source);
  if (!read.ok) return read;
  await writeArchiveFiles(read.files, staging);
  return undefined;
}

/** Verifies and installs a plugin folder or archive into <home>/plugins/<id>/. */
export async function installPlugin(
  home: string,
  source: string,
  opts: InstallOptions = {},
): Promise<InstallResult> {
  const now = opts.now ?? (() => new Date());
  await mkdir(pluginsDir(home), { recursive: true, mode: 0o700 });
  const staging = join(pluginsDir(home), `.staging-${randomBytes(6).toString('hex')}`);
  try {
    const r = await installStaged(home, source, staging, opts.force === true, now);
    if (!r.ok) {
      opts.log &&
        securityLogger(opts.log).warn(
          { event: 'plugin.install-refused', source, reason: r.code, file: r.path },
          r.error,
        );
    }
    return r;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function installStaged(
  home: string,
  source: string,
  staging: string,
  force: boolean,
  now: () => Date,
): Promise<InstallResult> {
  const staged = await stage(source, staging);
  if (staged) return staged;
  const pubs = await loadPublishers(home);
  if (!pubs.ok) return { ok: false, code: 'publishers-unreadable', error: pubs.error };
  const v = await verifyAgainst(staging, pubs.file);
  if (!v.ok) return v;
  const m = v.manifest;
  const digest = listingDigest(v.files).toString('hex');
  const publisherName = pubs.file.publishers.find((p) => p.keyId === v.keyId)?.name ?? v.keyId;

  return withIndex<InstallResult>(home, async (index) => {
    const old = index.plugins.find((p) => p.id === m.id);
    let change: 'installed' | 'upgraded' | 'reinstalled' = 'installed';
    if (old) {
      if (old.publisherKeyId !== v.keyId) {
        return {
          result: {
            ok: false,
            code: 'id-taken',
            error: `${m.id} is already installed from publisher ${old.publisherKeyId}, and this one is signed by ${v.keyId} (${publisherName}); two publishers cannot share an id: \`hana plugin remove ${m.id}\` first if you mean to switch`,
          },
        };
      }
      const order = compareSemver(m.version, old.version);
      if (order < 0) {
        return {
          result: {
            ok: false,
            code: 'rollback',
            error: `${m.id} ${m.version} is older than the installed ${old.version}; downgrades are refused (an old signed release may have known flaws): \`hana plugin remove ${m.id}\` first if you really want it`,
          },
        };
      }
      if (order === 0 && old.digest !== digest && !force) {
        return {
          result: {
            ok: false,
            code: 'same-version-differs',
            error: `${m.id} ${m.version} is installed with different files under the same version; the publisher should bump the version, or pass --force to replace it`,
          },
        };
      }
      change = order > 0 ? 'upgraded' : 'reinstalled';
    }
    const plugin: InstalledPlugin = {
      id: m.id,
      version: m.version,
      publisherKeyId: v.keyId,
      digest,
      installedAt: now().toISOString(),
      enabled: old?.enabled ?? true,
      // Same code keeps its quarantine; a new version gets a fresh chance.
      ...(old?.quarantined &&
        change === 'reinstalled' &&
        old.digest === digest && { quarantined: old.quarantined }),
    };
    await swapInto(pluginDir(home, m.id), staging, pluginsDir(home));
    return {
      result: {
        ok: true,
        plugin,
        change,
        publisherName,
        ...(old && { previousVersion: old.version }),
      },
      save: { ...index, plugins: [...index.plugins.filter((p) => p.id !== m.id), plugin] },
    };
  });
}

/**
 * Replaces `target` by `staging`: the old folder is renamed aside first (a directory cannot be
 * renamed over a non-empty one), then deleted. A crash between the two renames leaves no folder
 * for the id, which loads as refused, never as a mix of two versions.
 */
async function swapInto(target: string, staging: string, parent: string): Promise<void> {
  const aside = join(parent, `.replaced-${randomBytes(6).toString('hex')}`);
  let moved = false;
  try {
    await rename(target, aside);
    moved = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    await rename(staging, target);
  } catch (err) {
    if (moved) await rename(aside, target).catch(() => {});
    throw err;
  }
  if (moved) await rm(aside, { recursive: true, force: true });
}
