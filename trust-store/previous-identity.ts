import { lstat, open, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { type Identity, identityFromPem } from './identity.ts';
import { DeviceId, MAX_PEERS } from './peers-schema.ts';
import { readOwnFile, writeFileAtomic } from './secure-file.ts';

// The identity this daemon rotated away from, kept in <home>/identity.previous.json (0600, like
// identity.json) until every peer that pinned it has moved its pin: only its key can tell a
// peer that missed the announcement where it went (daemon/link/rotation-acks.ts). The peers
// still to acknowledge are in the same file, so a restart keeps announcing to exactly them and
// the file is never half about one rotation and half about another.

const PreviousFile = z
  .object({
    version: z.literal(1),
    certPem: z.string().min(100),
    keyPem: z.string().min(100),
    createdAt: z.string(),
    /** The device ID it rotated to: a file naming another one is not about this identity. */
    next: DeviceId,
    rotatedAt: z.string(),
    /** Pinned trusted peers that have not acknowledged the move yet. */
    pending: z.array(DeviceId).max(MAX_PEERS),
  })
  .strict();

export type PreviousIdentity = {
  identity: Identity;
  next: string;
  rotatedAt: string;
  pending: readonly string[];
};

export const previousIdentityPath = (home: string) => join(home, 'identity.previous.json');

export async function savePreviousIdentity(home: string, p: PreviousIdentity): Promise<void> {
  const body = {
    version: 1,
    certPem: p.identity.certPem,
    keyPem: p.identity.keyPem,
    createdAt: p.identity.createdAt,
    next: p.next,
    rotatedAt: p.rotatedAt,
    pending: p.pending,
  };
  await writeFileAtomic(previousIdentityPath(home), `${JSON.stringify(body, null, 2)}\n`);
}

/** Removes the old key for good (the unlink made durable); false if there was none. */
export async function removePreviousIdentity(home: string): Promise<boolean> {
  try {
    await unlink(previousIdentityPath(home));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const dir = await open(dirname(previousIdentityPath(home)), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return true;
}

export type LoadPrevious =
  | { ok: true; previous: PreviousIdentity | undefined }
  | { ok: false; error: string };

export async function loadPreviousIdentity(home: string): Promise<LoadPrevious> {
  const path = previousIdentityPath(home);
  const st = await lstat(path).catch(() => undefined);
  if (st === undefined) return { ok: true, previous: undefined };
  // The same bar as identity.json: it holds a private key that still speaks for this daemon.
  if (st.isSymbolicLink()) return { ok: false, error: `${path} is a symbolic link; refusing to follow it` };
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    return {
      ok: false,
      error: `${path} holds this daemon's previous private key but other users may read it (mode ${(st.mode & 0o777).toString(8)}): run \`chmod 600 ${path}\``,
    };
  }
  const read = await readOwnFile(path);
  if (!read.ok) return read.missing ? { ok: true, previous: undefined } : { ok: false, error: read.error };
  try {
    const f = PreviousFile.parse(JSON.parse(read.text));
    return {
      ok: true,
      previous: {
        identity: identityFromPem(f),
        next: f.next,
        rotatedAt: f.rotatedAt,
        pending: f.pending,
      },
    };
  } catch (err) {
    return { ok: false, error: `${path} is corrupt (${(err as Error).message.split('\n')[0]})` };
  }
}
