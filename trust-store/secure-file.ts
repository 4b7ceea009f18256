import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

// Files whose loss or corruption would change behaviour silently (trust, mappings, state) are
// written atomically: temp file in the same directory, fsync, rename over, fsync the directory.
// A crash at any moment leaves either the old file or the new one, never half of either.

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  // The rename is durable only once the directory entry is on disk.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export type ReadResult = { ok: true; text: string } | { ok: false; missing: boolean; error: string };

/** Reads a file the daemon owns; a missing file is distinguished from an unreadable one. */
export async function readOwnFile(path: string): Promise<ReadResult> {
  try {
    return { ok: true, text: await readFile(path, 'utf8') };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, missing: e.code === 'ENOENT', error: `cannot read ${path}: ${e.message}` };
  }
}
