import { createHash, sign, verify } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../trust-store/secure-file.ts';
import {
  digestPlugin,
  type FileEntry,
  listingDigest,
  MAX_FILES,
  readPluginFile,
  SIGNATURE_FILE,
} from './digest.ts';
import { type PluginManifest, PublisherKeyId, parseManifest } from './manifest.ts';
import { comparePaths, relativePathProblem } from './paths.ts';
import { base64Of, type PublisherSecretKey, publicKeyFromBase64, publisherKeyId } from './publisher-key.ts';

// Detached plugin signatures in the manner of minisign: plugin.sig lists every file with its
// hash, and one Ed25519 signature covers the digest of that listing together with a trusted
// comment (plugin id, version, signing time), so neither the files nor the comment can be
// swapped for another signed plugin's.

export { generatePublisherKey, unlockSecretKey } from './publisher-key.ts';

const MANIFEST_FILE = 'plugin.json';
const MAX_SIGNATURE_BYTES = 4 * 1024 * 1024;
const MAX_MANIFEST_BYTES = 64 * 1024;
// Domain separation: these bytes can never be mistaken for another message signed by the same key.
const CONTEXT = Buffer.from('hana plugin signature v1\0', 'utf8');

const TrustedComment = z
  .object({ id: z.string().max(64), version: z.string().max(64), time: z.iso.datetime() })
  .strict();
export type TrustedComment = z.infer<typeof TrustedComment>;

const ListedFile = z
  .object({
    path: z.string().max(1024),
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

// One canonical listing: safe paths in strictly ascending order, so the digest a verifier
// recomputes is the one the publisher signed and no path appears twice.
const FileList = z
  .array(ListedFile)
  .max(MAX_FILES)
  .superRefine((files, ctx) => {
    files.forEach((f, i) => {
      const problem = f.path === SIGNATURE_FILE ? 'is the signature file' : relativePathProblem(f.path);
      if (problem) ctx.addIssue({ code: 'custom', message: `path ${problem}`, path: [i, 'path'] });
      else if (i > 0 && comparePaths(files[i - 1]!.path, f.path) >= 0) {
        ctx.addIssue({ code: 'custom', message: 'paths are not sorted and unique', path: [i, 'path'] });
      }
    });
  });

export const SignatureFile = z
  .object({
    version: z.literal(1),
    algorithm: z.literal('Ed25519'),
    keyId: PublisherKeyId,
    files: FileList,
    /** JSON of a TrustedComment; the exact bytes are signed, so it is kept as a string. */
    trustedComment: z.string().max(1024),
    signature: base64Of(64),
  })
  .strict();
export type SignatureFile = z.infer<typeof SignatureFile>;

function signedMessage(files: readonly FileEntry[], trustedComment: string): Buffer {
  return Buffer.concat([CONTEXT, listingDigest(files), Buffer.from(trustedComment, 'utf8')]);
}

/** Signs a file listing (in comparePaths order) with a trusted comment; pure, writes nothing. */
export function signFiles(
  files: readonly FileEntry[],
  key: PublisherSecretKey,
  comment: TrustedComment,
): SignatureFile {
  const trustedComment = JSON.stringify({ id: comment.id, version: comment.version, time: comment.time });
  const signature = sign(null, signedMessage(files, trustedComment), key.privateKey).toString('base64');
  const listed = files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
  return { version: 1, algorithm: 'Ed25519', keyId: key.keyId, files: listed, trustedComment, signature };
}

export type VerifyCode =
  | 'unsigned'
  | 'bad-signature-file'
  | 'unknown-publisher'
  | 'bad-signature'
  | 'file-changed'
  | 'file-added'
  | 'file-missing'
  | 'manifest-invalid'
  | 'publisher-mismatch'
  | 'unsafe-file'
  | 'unreadable';

/** `path` names the file for the file-*, unsafe-file and unreadable codes. */
export type VerifyFailure = { ok: false; code: VerifyCode; error: string; path?: string };

export type VerifyResult =
  | {
      ok: true;
      manifest: PluginManifest;
      keyId: string;
      trustedComment: TrustedComment;
      /** The signed listing: a loader re-checks the entry's bytes against it when it reads them. */
      files: readonly FileEntry[];
    }
  | VerifyFailure;

const fail = (code: VerifyCode, error: string, path?: string): VerifyFailure =>
  path === undefined ? { ok: false, code, error } : { ok: false, code, error, path };

/** Reads plugin.json, checks it is the listed (hashed) one, and validates it. */
async function loadManifest(
  dir: string,
  files: readonly FileEntry[],
): Promise<{ ok: true; manifest: PluginManifest } | VerifyFailure> {
  const listed = files.find((f) => f.path === MANIFEST_FILE);
  if (!listed) return fail('manifest-invalid', `${MANIFEST_FILE} is missing from the plugin`);
  const read = await readPluginFile(dir, MANIFEST_FILE, MAX_MANIFEST_BYTES);
  if (!read.ok) return fail(read.code, read.error, read.path);
  // Read a second time after hashing: compare, so what is parsed is exactly what was hashed.
  const sha256 = createHash('sha256').update(read.bytes).digest('hex');
  if (sha256 !== listed.sha256 || read.bytes.length !== listed.size) {
    return fail('file-changed', `${MANIFEST_FILE} changed after it was signed`, MANIFEST_FILE);
  }
  let json: unknown;
  try {
    json = JSON.parse(read.bytes.toString('utf8'));
  } catch (err) {
    return fail('manifest-invalid', `${MANIFEST_FILE} is not JSON: ${(err as Error).message}`);
  }
  const parsed = parseManifest(json);
  if (!parsed.ok) return fail('manifest-invalid', `${MANIFEST_FILE} is invalid:\n${parsed.error}`);
  if (!files.some((f) => f.path === parsed.manifest.entry)) {
    return fail(
      'manifest-invalid',
      `${MANIFEST_FILE} names entry ${parsed.manifest.entry}, which is not in the plugin`,
    );
  }
  return parsed;
}

/** Failures use the verify codes: unsafe-file, unreadable, manifest-invalid, publisher-mismatch. */
export type SignResult = { ok: true; signature: SignatureFile } | VerifyFailure;

/**
 * Signs the plugin in `dir` and writes dir/plugin.sig. The trusted comment's id and version come
 * from plugin.json, whose `publisher` must be this key's ID (else no daemon would accept it).
 * Problems with the folder are typed results; it throws only if plugin.sig cannot be written.
 */
export async function signPlugin(
  dir: string,
  key: PublisherSecretKey,
  opts: { time?: Date } = {},
): Promise<SignResult> {
  const digest = await digestPlugin(dir);
  if (!digest.ok) return fail(digest.code, digest.error, digest.path);
  const m = await loadManifest(dir, digest.files);
  if (!m.ok) return m;
  if (m.manifest.publisher !== key.keyId) {
    return fail(
      'publisher-mismatch',
      `${MANIFEST_FILE} names publisher ${m.manifest.publisher} but the key is ${key.keyId}; set "publisher": "${key.keyId}"`,
    );
  }
  const time = (opts.time ?? new Date()).toISOString();
  const signature = signFiles(digest.files, key, { id: m.manifest.id, version: m.manifest.version, time });
  // Public data: readable by the daemon user and whoever installs the plugin.
  await writeFileAtomic(join(dir, SIGNATURE_FILE), `${JSON.stringify(signature, null, 2)}\n`, 0o644);
  return { ok: true, signature };
}

/** The first difference between the signed listing and the folder, in path order. */
function firstDifference(
  listed: readonly FileEntry[],
  actual: readonly FileEntry[],
): VerifyFailure | undefined {
  let i = 0;
  let j = 0;
  while (i < listed.length || j < actual.length) {
    const a = listed[i];
    const b = actual[j];
    const c = a && b ? comparePaths(a.path, b.path) : a ? -1 : 1;
    if (c < 0) return fail('file-missing', `${a!.path} is signed but missing`, a!.path);
    if (c > 0) return fail('file-added', `${b!.path} was added after signing`, b!.path);
    if (a!.sha256 !== b!.sha256 || a!.size !== b!.size) {
      return fail('file-changed', `${a!.path} changed after it was signed`, a!.path);
    }
    i++;
    j++;
  }
  return undefined;
}

/**
 * Verifies dir/plugin.sig against publishers trusted by key ID (→ base64 raw public key), then
 * the folder against the signed listing, then the manifest. Never throws on the folder's content.
 */
export async function verifyPlugin(
  dir: string,
  trustedPublishers: ReadonlyMap<string, string>,
): Promise<VerifyResult> {
  const read = await readPluginFile(dir, SIGNATURE_FILE, MAX_SIGNATURE_BYTES);
  if (!read.ok) {
    if (read.missing)
      return fail('unsigned', `${join(dir, SIGNATURE_FILE)} does not exist; the plugin is not signed`);
    return fail(read.code, read.error, read.path);
  }
  let sig: SignatureFile;
  try {
    const r = SignatureFile.safeParse(JSON.parse(read.bytes.toString('utf8')));
    if (!r.success)
      return fail('bad-signature-file', `${SIGNATURE_FILE} is malformed:\n${z.prettifyError(r.error)}`);
    sig = r.data;
  } catch (err) {
    return fail('bad-signature-file', `${SIGNATURE_FILE} is not JSON: ${(err as Error).message}`);
  }

  const trusted = trustedPublishers.get(sig.keyId);
  if (trusted === undefined) return fail('unknown-publisher', `publisher key ${sig.keyId} is not trusted`);
  const publicKey = publicKeyFromBase64(trusted);
  if (!publicKey || publisherKeyId(Buffer.from(trusted, 'base64')) !== sig.keyId) {
    return fail('unknown-publisher', `the trusted public key listed for ${sig.keyId} is not that key`);
  }
  const message = signedMessage(sig.files, sig.trustedComment);
  let good = false;
  try {
    good = verify(null, message, publicKey, Buffer.from(sig.signature, 'base64'));
  } catch {
    // A malformed signature is just a bad one.
  }
  if (!good) {
    return fail(
      'bad-signature',
      `the signature in ${SIGNATURE_FILE} does not match its file list and comment`,
    );
  }
  // From here the listing and the comment are the publisher's own words.
  let comment: TrustedComment;
  try {
    const c = TrustedComment.safeParse(JSON.parse(sig.trustedComment));
    if (!c.success) throw new Error(z.prettifyError(c.error));
    comment = c.data;
  } catch (err) {
    return fail('bad-signature-file', `the trusted comment is malformed: ${(err as Error).message}`);
  }

  const actual = await digestPlugin(dir);
  if (!actual.ok) return fail(actual.code, actual.error, actual.path);
  const diff = firstDifference(sig.files, actual.files);
  if (diff) return diff;

  const m = await loadManifest(dir, sig.files);
  if (!m.ok) return m;
  if (m.manifest.publisher !== sig.keyId) {
    return fail(
      'publisher-mismatch',
      `${MANIFEST_FILE} names publisher ${m.manifest.publisher} but it was signed by ${sig.keyId}`,
    );
  }
  if (comment.id !== m.manifest.id || comment.version !== m.manifest.version) {
    return fail(
      'manifest-invalid',
      `the signature is for ${comment.id}@${comment.version} but ${MANIFEST_FILE} says ${m.manifest.id}@${m.manifest.version}`,
    );
  }
  return { ok: true, manifest: m.manifest, keyId: sig.keyId, trustedComment: comment, files: sig.files };
}
