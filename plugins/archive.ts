import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../trust-store/secure-file.ts';
import { digestPlugin, readPluginFile, SIGNATURE_FILE } from './digest.ts';
import { comparePaths, relativePathProblem } from './paths.ts';

// The single-file form of a plugin folder (`.hana-plugin`), for distribution. It carries bytes,
// not trust: the folder it unpacks to is verified against plugin.sig like any other. What this
// module guarantees is that reading a hostile archive is bounded and can only create regular
// files inside a fresh folder of the caller's choosing.
//
// | offset     | bytes | field                                                                |
// |------------|-------|----------------------------------------------------------------------|
// | 0          | 12    | magic "HANA-PLUGIN\n"                                                |
// | 12         | 1     | format version = 1                                                   |
// | 13         | 4     | L = index length, uint32 big-endian, at most 1 MiB                   |
// | 17         | L     | index, UTF-8 JSON {"files":[{"path":"…","size":n},…]}                |
// | 17 + L     | Σ n   | the files' bytes, concatenated in index order                        |
// | end − 32   | 32    | SHA-256 of every byte before it                                      |
//
// Paths follow plugins/paths.ts and are listed in strictly ascending comparePaths order, so an
// archive has one spelling: no duplicates, and packing a folder twice gives identical bytes (no
// times, owners or modes are stored — plugins need none, and each is one more thing to check).
// The checksum only catches a damaged download with a clear message; tampering is for the
// signature to catch.

export const ARCHIVE_EXTENSION = '.hana-plugin';
const MAGIC = Buffer.from('HANA-PLUGIN\n', 'utf8');
const VERSION = 1;
const HEAD_BYTES = MAGIC.length + 1 + 4;
const SUM_BYTES = 32;
export const ARCHIVE_LIMITS = {
  /** Whole archive, and so the sum of the files. */
  maxBytes: 64 * 1024 * 1024,
  maxFiles: 4096,
  maxIndexBytes: 1024 * 1024,
  maxDepth: 32,
} as const;

export type ArchiveCode =
  | 'not-archive'
  | 'unsupported-version'
  | 'truncated'
  | 'corrupt'
  | 'bad-index'
  | 'unsafe-path'
  | 'too-large'
  | 'unreadable'
  | 'unsafe-file';
export type ArchiveFailure = { ok: false; code: ArchiveCode; error: string; path?: string };
export type ArchiveFile = { readonly path: string; readonly bytes: Uint8Array };

const fail = (code: ArchiveCode, error: string, path?: string): ArchiveFailure =>
  path === undefined ? { ok: false, code, error } : { ok: false, code, error, path };

const Index = z
  .object({
    files: z
      .array(z.object({ path: z.string().max(1024), size: z.number().int().min(0) }).strict())
      .max(ARCHIVE_LIMITS.maxFiles, `at most ${ARCHIVE_LIMITS.maxFiles} files`),
  })
  .strict();

/** Why this listing cannot be unpacked as given, or undefined. Paths must already be sorted. */
function listingProblem(paths: readonly string[]): ArchiveFailure | undefined {
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i]!;
    const problem = relativePathProblem(p);
    // JSON.stringify: a hostile name must not reach a terminal raw.
    if (problem) return fail('unsafe-path', `the archive holds a path that ${problem}: ${JSON.stringify(p)}`);
    if (p.split('/').length > ARCHIVE_LIMITS.maxDepth) {
      return fail('unsafe-path', `${p} is nested more than ${ARCHIVE_LIMITS.maxDepth} folders deep`, p);
    }
    if (i > 0) {
      const prev = paths[i - 1]!;
      const c = comparePaths(prev, p);
      if (c === 0) return fail('unsafe-path', `${p} is in the archive twice`, p);
      if (c > 0) return fail('unsafe-path', `the archive's paths are not in canonical order at ${p}`, p);
    }
  }
  // A file whose name is a folder of another file ("a" and "a/b"): one would overwrite the other.
  const all = new Set(paths);
  for (const p of paths) {
    const segs = p.split('/');
    for (let n = 1; n < segs.length; n++) {
      const parent = segs.slice(0, n).join('/');
      if (all.has(parent)) return fail('unsafe-path', `${parent} is both a file and the folder of ${p}`, p);
    }
  }
  return undefined;
}

/** Encodes files (any order; sorted here). Throws on programmer errors: unsafe paths, limits. */
export function encodeArchive(files: readonly ArchiveFile[]): Buffer {
  const sorted = [...files].sort((a, b) => comparePaths(a.path, b.path));
  const bad = listingProblem(sorted.map((f) => f.path));
  if (bad) throw new RangeError(bad.error);
  if (sorted.length > ARCHIVE_LIMITS.maxFiles)
    throw new RangeError(`more than ${ARCHIVE_LIMITS.maxFiles} files`);
  const index = Buffer.from(
    JSON.stringify({ files: sorted.map((f) => ({ path: f.path, size: f.bytes.length })) }),
    'utf8',
  );
  if (index.length > ARCHIVE_LIMITS.maxIndexBytes) throw new RangeError('the file list is over 1 MiB');
  const head = Buffer.alloc(HEAD_BYTES);
  MAGIC.copy(head, 0);
  head[MAGIC.length] = VERSION;
  head.writeUInt32BE(index.length, MAGIC.length + 1);
  const body = Buffer.concat([head, index, ...sorted.map((f) => f.bytes)]);
  if (body.length + SUM_BYTES > ARCHIVE_LIMITS.maxBytes) {
    throw new RangeError(`the archive would be over ${ARCHIVE_LIMITS.maxBytes} bytes`);
  }
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

export type Decoded = { ok: true; files: ArchiveFile[] } | ArchiveFailure;

/** Decodes and checks an archive held in memory. Never throws on its content. */
export function decodeArchive(data: Uint8Array): Decoded {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  if (buf.length > ARCHIVE_LIMITS.maxBytes)
    return fail('too-large', `the archive is over ${ARCHIVE_LIMITS.maxBytes} bytes`);
  const prefix = buf.subarray(0, MAGIC.length);
  if (buf.length === 0 || !prefix.equals(MAGIC.subarray(0, prefix.length))) {
    return fail('not-archive', 'not a hana plugin archive (no HANA-PLUGIN header)');
  }
  if (buf.length < HEAD_BYTES + SUM_BYTES)
    return fail('truncated', `the archive is cut short (${buf.length} bytes)`);
  const version = buf[MAGIC.length]!;
  if (version !== VERSION) {
    return fail(
      'unsupported-version',
      `archive format version ${version}; this hana reads version ${VERSION}`,
    );
  }
  const indexLength = buf.readUInt32BE(MAGIC.length + 1);
  if (indexLength > ARCHIVE_LIMITS.maxIndexBytes)
    return fail('too-large', `the archive's file list is over 1 MiB`);
  const dataStart = HEAD_BYTES + indexLength;
  if (dataStart + SUM_BYTES > buf.length)
    return fail('truncated', 'the archive is cut short inside its file list');
  let index: z.infer<typeof Index>;
  try {
    const r = Index.safeParse(JSON.parse(buf.subarray(HEAD_BYTES, dataStart).toString('utf8')));
    if (!r.success)
      return fail('bad-index', `the archive's file list is invalid: ${z.prettifyError(r.error)}`);
    index = r.data;
  } catch (err) {
    return fail('bad-index', `the archive's file list is not JSON: ${(err as Error).message}`);
  }
  const bad = listingProblem(index.files.map((f) => f.path));
  if (bad) return bad;
  // Sizes are summed before anything is sliced, so a size of 2^52 is a refusal, not an allocation.
  let total = 0;
  for (const f of index.files) {
    total += f.size;
    if (total > ARCHIVE_LIMITS.maxBytes)
      return fail('too-large', `the archive lists more than ${ARCHIVE_LIMITS.maxBytes} bytes of files`);
  }
  const expectedLength = dataStart + total + SUM_BYTES;
  if (buf.length < expectedLength)
    return fail('truncated', `the archive is cut short: ${buf.length} of ${expectedLength} bytes`);
  if (buf.length > expectedLength)
    return fail('corrupt', `the archive has ${buf.length - expectedLength} bytes after its end`);
  const sum = createHash('sha256')
    .update(buf.subarray(0, buf.length - SUM_BYTES))
    .digest();
  if (!sum.equals(buf.subarray(buf.length - SUM_BYTES))) {
    return fail('corrupt', 'the archive is damaged (its checksum does not match); download it again');
  }
  const files: ArchiveFile[] = [];
  let at = dataStart;
  for (const f of index.files) {
    files.push({ path: f.path, bytes: buf.subarray(at, at + f.size) });
    at += f.size;
  }
  return { ok: true, files };
}

/** Reads a plugin folder's files for packing: every file digestPlugin lists, plus plugin.sig. */
export async function readPluginFolder(
  dir: string,
): Promise<{ ok: true; files: ArchiveFile[] } | ArchiveFailure> {
  const d = await digestPlugin(dir);
  if (!d.ok) return fail(d.code, d.error, d.path);
  const files: ArchiveFile[] = [];
  let total = 0;
  const sig = await readPluginFile(dir, SIGNATURE_FILE, ARCHIVE_LIMITS.maxBytes);
  if (sig.ok) files.push({ path: SIGNATURE_FILE, bytes: sig.bytes });
  else if (!sig.missing) return fail(sig.code, sig.error, sig.path);
  for (const e of d.files) {
    total += e.size;
    if (total > ARCHIVE_LIMITS.maxBytes)
      return fail('too-large', `the plugin is over ${ARCHIVE_LIMITS.maxBytes} bytes`);
    const r = await readPluginFile(dir, e.path, ARCHIVE_LIMITS.maxBytes);
    if (!r.ok) return fail(r.code, r.error, r.path);
    // The folder changed between listing and reading: pack a stable folder, not a mix.
    if (createHash('sha256').update(r.bytes).digest('hex') !== e.sha256) {
      return fail('unreadable', `${e.path} changed while it was being packed; try again`, e.path);
    }
    files.push({ path: e.path, bytes: r.bytes });
  }
  if (files.length > ARCHIVE_LIMITS.maxFiles)
    return fail('too-large', `the plugin has more than ${ARCHIVE_LIMITS.maxFiles} files`);
  return { ok: true, files };
}

export type PackResult = { ok: true; path: string; bytes: number; files: number } | ArchiveFailure;

/** Packs the folder into `out` (written atomically, 0644: it is meant to be shared). */
export async function packPlugin(dir: string, out: string): Promise<PackResult> {
  const read = await readPluginFolder(dir);
  if (!read.ok) return read;
  let bytes: Buffer;
  try {
    bytes = encodeArchive(read.files);
  } catch (err) {
    return fail('too-large', (err as Error).message);
  }
  await writeFileAtomic(out, bytes, 0o644);
  return { ok: true, path: out, bytes: bytes.length, files: read.files.length };
}

/** Reads an archive file, refusing anything but a regular file within the size limit. */
export async function readArchive(path: string): Promise<Decoded> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return fail('unreadable', `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return fail('unreadable', `${path} is not a regular file`);
    if (st.size > ARCHIVE_LIMITS.maxBytes) {
      return fail(
        'too-large',
        `${path} is ${st.size} bytes; a plugin archive is at most ${ARCHIVE_LIMITS.maxBytes}`,
      );
    }
    // Read at most one byte past the size seen, whatever the file grows to after the stat.
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) return fail('unreadable', `${path} grew while it was being read; try again`);
    }
    return decodeArchive(buf.subarray(0, n));
  } catch (err) {
    return fail('unreadable', `cannot read ${path}: ${(err as Error).message}`);
  } finally {
    await fh.close();
  }
}

/**
 * Writes decoded files into `dir`, which must not exist yet (it is created, 0700). Only regular
 * files and folders are created, each exclusively and without following links, so nothing can
 * land outside `dir` even if the listing checks had a hole.
 */
export async function writeArchiveFiles(files: readonly ArchiveFile[], dir: string): Promise<void> {
  await mkdir(dir, { mode: 0o700 });
  const made = new Set<string>();
  for (const f of files) {
    const segs = f.path.split('/');
    for (let n = 1; n < segs.length; n++) {
      const sub = segs.slice(0, n).join('/');
      if (made.has(sub)) continue;
      await mkdir(join(dir, sub), { mode: 0o700 });
      made.add(sub);
    }
    const fh = await open(
      join(dir, f.path),
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      await fh.writeFile(f.bytes);
    } finally {
      await fh.close();
    }
  }
}

export type UnpackResult = { ok: true; dir: string; files: number } | ArchiveFailure;

/** Reads `archive` and unpacks it into the new folder `dir`. Nothing is written if the archive is bad. */
export async function unpackArchive(archive: string, dir: string): Promise<UnpackResult> {
  const decoded = await readArchive(archive);
  if (!decoded.ok) return decoded;
  try {
    await writeArchiveFiles(decoded.files, dir);
  } catch (err) {
    return fail('unreadable', `cannot unpack into ${dir}: ${(err as Error).message}`);
  }
  return { ok: true, dir, files: decoded.files.length };
}

/** Whether `path` names an archive (a regular file) rather than a plugin folder. */
export async function isArchivePath(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  return st?.isFile() === true;
}
