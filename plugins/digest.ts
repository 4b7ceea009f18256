import { createHash } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import { type FileHandle, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { comparePaths, relativePathProblem } from './paths.ts';

// The canonical digest of a plugin folder. Every file is listed (sorted, '/'-separated relative
// path, size, SHA-256), and the signature covers SHA-512 of that listing. Keeping the per-file
// hashes lets a verifier say which file changed instead of only "bad signature".
//
// Only regular files and directories are allowed: a symlink could point the sandbox at a file
// outside the folder after signing, and a FIFO or device could hang or feed the reader forever.

export const SIGNATURE_FILE = 'plugin.sig';
export const MAX_FILES = 10_000;
const MAX_DEPTH = 32;
const CHUNK = 64 * 1024;

export type FileEntry = { readonly path: string; readonly size: number; readonly sha256: string };

export type FileError = { ok: false; code: 'unsafe-file' | 'unreadable'; path: string; error: string };
export type DigestResult = { ok: true; files: FileEntry[]; digest: Buffer } | FileError;

/**
 * SHA-512 over one line per file, `path NUL size NUL sha256-hex LF`, in the given order (the
 * caller keeps files in comparePaths order). Paths cannot hold NUL and the hash is fixed-width, so
 * two different listings never produce the same bytes.
 */
export function listingDigest(files: readonly FileEntry[]): Buffer {
  const h = createHash('sha512');
  for (const f of files) h.update(`${f.path}\0${f.size}\0${f.sha256}\n`, 'utf8');
  return h.digest();
}

/** Lists and hashes every file under `dir` except the top-level plugin.sig. */
export async function digestPlugin(dir: string): Promise<DigestResult> {
  const files: FileEntry[] = [];
  const err = await walk(dir, '', 0, files);
  if (err) return err;
  files.sort((a, b) => comparePaths(a.path, b.path));
  return { ok: true, files, digest: listingDigest(files) };
}

const unsafe = (path: string, why: string): FileError => ({
  ok: false,
  code: 'unsafe-file',
  path,
  error: `${path} ${why}; plugins may hold only regular files and folders`,
});

const unreadable = (path: string, err: unknown): FileError => ({
  ok: false,
  code: 'unreadable',
  path,
  error: `cannot read ${path}: ${(err as Error).message}`,
});

function kindOf(e: Dirent): string {
  if (e.isFIFO()) return 'named pipe';
  if (e.isSocket()) return 'socket';
  if (e.isCharacterDevice() || e.isBlockDevice()) return 'device';
  return 'special file';
}

async function walk(
  root: string,
  rel: string,
  depth: number,
  out: FileEntry[],
): Promise<FileError | undefined> {
  let entries: Dirent[];
  try {
    entries = await readdir(rel ? join(root, rel) : root, { withFileTypes: true });
  } catch (err) {
    return unreadable(rel || root, err);
  }
  // Sorted so that, of several bad files, the same one is reported every time.
  entries.sort((a, b) => comparePaths(a.name, b.name));
  for (const e of entries) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (path === SIGNATURE_FILE) continue;
    const problem = relativePathProblem(path);
    if (problem) return unsafe(JSON.stringify(path), `has a name that ${problem}`);
    if (e.isSymbolicLink()) return unsafe(path, 'is a symbolic link');
    if (e.isDirectory()) {
      if (depth >= MAX_DEPTH) return unsafe(path, `is nested more than ${MAX_DEPTH} folders deep`);
      const sub = await walk(root, path, depth + 1, out);
      if (sub) return sub;
    } else if (e.isFile()) {
      if (out.length >= MAX_FILES) return unsafe(path, `is past the limit of ${MAX_FILES} files`);
      const r = await hashFile(root, path);
      if (!r.ok) return r;
      out.push(r.entry);
    } else {
      return unsafe(path, `is a ${kindOf(e)}`);
    }
  }
  return undefined;
}

type Opened = { ok: true; fh: FileHandle; size: number } | (FileError & { missing: boolean });

// O_NOFOLLOW and fstat close the gap between the directory listing and the open: a file swapped
// for a symlink or FIFO in between is refused, and O_NONBLOCK keeps a FIFO from hanging the open.
async function openRegular(root: string, path: string): Promise<Opened> {
  let fh: FileHandle;
  try {
    fh = await open(join(root, path), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { ...unsafe(path, 'is a symbolic link'), missing: false };
    return { ...unreadable(path, err), missing: code === 'ENOENT' };
  }
  try {
    const st = await fh.stat();
    if (st.isFile()) return { ok: true, fh, size: st.size };
  } catch (err) {
    await fh.close();
    return { ...unreadable(path, err), missing: false };
  }
  await fh.close();
  return { ...unsafe(path, 'is not a regular file'), missing: false };
}

async function hashFile(root: string, path: string): Promise<{ ok: true; entry: FileEntry } | FileError> {
  const opened = await openRegular(root, path);
  if (!opened.ok) return { ok: false, code: opened.code, path: opened.path, error: opened.error };
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  let size = 0;
  try {
    // The size is what was read, so it always agrees with the hash even if the file grows.
    for (;;) {
      const { bytesRead } = await opened.fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } catch (err) {
    return unreadable(path, err);
  } finally {
    await opened.fh.close();
  }
  return { ok: true, entry: { path, size, sha256: h.digest('hex') } };
}

export type ReadFileResult = { ok: true; bytes: Buffer } | (FileError & { missing: boolean });

/** Reads one regular file of the plugin (no symlinks), refusing files over maxBytes. */
export async function readPluginFile(root: string, path: string, maxBytes: number): Promise<ReadFileResult> {
  const opened = await openRegular(root, path);
  if (!opened.ok) return opened;
  try {
    if (opened.size > maxBytes) {
      return { ...unreadable(path, new Error(`larger than ${maxBytes} bytes`)), missing: false };
    }
    const bytes = await opened.fh.readFile();
    // Checked again: the file may have grown since the stat.
    if (bytes.length > maxBytes) {
      return { ...unreadable(path, new Error(`larger than ${maxBytes} bytes`)), missing: false };
    }
    return { ok: true, bytes };
  } catch (err) {
    return { ...unreadable(path, err), missing: false };
  } finally {
    await opened.fh.close();
  }
}
