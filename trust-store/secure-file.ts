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

export type PrivateRead = { ok: true; bytes: Uint8Array } | { ok: false; error: string };

/**
 * Reads a secret the operator provides (a key file, a passphrase file): it must be a regular
 * file, readable by its owner only, and at most maxBytes. `what` names it in errors
 * ("key file"). The checks judge the file that was opened, not whatever the path names later.
 */
export async function readPrivateFile(path: string, what: string, maxBytes: number): Promise<PrivateRead> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'r');
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, error: `${what} ${path} is not a regular file` };
    const mode = st.mode & 0o777;
    if (mode & 0o077) {
      return {
        ok: false,
        error: `${what} ${path} is accessible by group or others (mode 0${mode.toString(8)}); run "chmod 600 ${path}"`,
      };
    }
    if (st.size > maxBytes)
      return { ok: false, error: `${what} ${path} is ${st.size} bytes, over ${maxBytes}` };
    return { ok: true, bytes: new Uint8Array(await fh.readFile()) };
  } catch (err) {
    return { ok: false, error: `cannot read ${what} ${path}: ${(err as Error).message}` };
  } finally {
    await fh?.close();
  }
}
