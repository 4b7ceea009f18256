import {
  createCipheriv,
  createDecipheriv,
  hkdfSync,
  randomBytes,
  type ScryptOptions,
  scrypt,
  scryptSync,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { shortId } from './device-id.ts';
import { readPrivateFile, writeFileAtomic } from './secure-file.ts';

// Files encrypted at rest (scenes, persisted state, the home's check value): AES-256-GCM under a
// key derived from a passphrase (scrypt) or read from a key file. Every byte of the header is
// authenticated as AAD, so changing the version, the KDF, the device, the salt or the nonce
// fails exactly like changing the ciphertext does: there is no "wrong plaintext", only a typed
// refusal.
//
// Format 2 names the device that wrote the file, so a file copied from another laptop that
// shares the passphrase is refused by name instead of loading silently. Format 1 (no device) is
// still written for files that are meant to travel (a publisher key) and read for homes that
// were sealed before format 2: readSealed takes a HomeBinding that says which of those to accept.
//
// | offset | bytes | field                                                                    |
// |--------|-------|--------------------------------------------------------------------------|
// | 0      | 12    | magic "HANA-SEALED\n"                                                    |
// | 12     | 1     | version: 1, or 2 with a device                                           |
// | 13     | 1     | KDF: 1 = scrypt(NFC passphrase, salt, N=2^15, r=8, p=1);                 |
// |        |       |      2 = key file, HKDF-SHA256(key, salt, "hana-sealed v1 key file")     |
// | 14     | 1     | version 2 only: d, the device ID's length in bytes (1–255)               |
// | 15     | d     | version 2 only: the writer's device ID, UTF-8                            |
// | h − 28 | 16    | salt, random per seal (h = 42 in version 1, 43 + d in version 2)         |
// | h − 12 | 12    | GCM nonce, random per seal                                               |
// | h      | n     | ciphertext (n = plaintext length)                                        |
// | h + n  | 16    | GCM tag over the ciphertext with bytes 0 … h − 1 as AAD                  |
//
// The key file goes through HKDF with the per-file salt so no two files share an AES key: a
// random 96-bit nonce then never risks repeating under one key, however many files are sealed.

export type SealKey = { kind: 'passphrase'; passphrase: string } | { kind: 'keyfile'; key: Uint8Array };

/**
 * Which sealed files belong to this home. A format-2 file must name a device this home has had
 * (a key rotation adds one); a format-1 file must be one this home held when it was upgraded.
 */
export type HomeBinding = {
  /** The device writing now; read at each write, since a rotation changes it. */
  readonly device: string;
  knows(device: string): boolean;
  knowsLegacy(data: Uint8Array): boolean;
};

export type UnsealCode =
  | 'not-sealed'
  | 'unsupported-version'
  | 'wrong-key-or-tampered'
  | 'truncated'
  | 'other-device'
  | 'unknown-legacy';
export type Unsealed =
  | { ok: true; plaintext: Uint8Array; device: string | null }
  | { ok: false; code: UnsealCode; error: string };
/** readSealed adds 'unreadable' (missing, a directory, no permission): `missing` tells a first run apart. */
export type ReadSealed =
  | (Unsealed & { missing?: false })
  | { ok: false; code: 'unreadable'; missing: boolean; error: string };

const MAGIC = new TextEncoder().encode('HANA-SEALED\n');
const UNBOUND = 1;
const BOUND = 2;
const KDF_SCRYPT = 1;
const KDF_KEYFILE = 2;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const V1_HEADER_BYTES = MAGIC.length + 2 + SALT_BYTES + NONCE_BYTES;
const MAX_DEVICE_BYTES = 255;
export const KEY_BYTES = 32;

// scrypt needs 128·N·r bytes = 32 MiB here; Node's default maxmem is exactly 32 MiB and refuses it.
const SCRYPT: ScryptOptions = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const HKDF_INFO = new TextEncoder().encode('hana-sealed v1 key file');

const kdfOf = (key: SealKey): number => (key.kind === 'passphrase' ? KDF_SCRYPT : KDF_KEYFILE);

/** The secret scrypt or HKDF starts from; a malformed key is a programmer error. */
function secretOf(key: SealKey): Uint8Array {
  if (key.kind === 'passphrase') {
    if (key.passphrase.length === 0) throw new RangeError('a sealing passphrase must not be empty');
    // The same passphrase typed on two systems may arrive composed or decomposed.
    return new TextEncoder().encode(key.passphrase.normalize('NFC'));
  }
  if (key.key.length !== KEY_BYTES)
    throw new RangeError(`a sealing key is ${KEY_BYTES} bytes, got ${key.key.length}`);
  return key.key;
}

function deriveSync(key: SealKey, salt: Uint8Array): Uint8Array {
  const secret = secretOf(key);
  if (key.kind === 'passphrase') return scryptSync(secret, salt, KEY_BYTES, SCRYPT);
  return new Uint8Array(hkdfSync('sha256', secret, salt, HKDF_INFO, KEY_BYTES));
}

/** The async form runs scrypt on the thread pool (~0.1 s) instead of stalling the event loop mid-show. */
async function deriveAsync(key: SealKey, salt: Uint8Array): Promise<Uint8Array> {
  const secret = secretOf(key);
  if (key.kind === 'keyfile') return deriveSync(key, salt);
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, KEY_BYTES, SCRYPT, (err, derived) => (err ? reject(err) : resolve(derived))),
  );
}

function header(kdf: number, device: string | undefined): Uint8Array {
  const id = device === undefined ? undefined : new TextEncoder().encode(device);
  if (id && (id.length === 0 || id.length > MAX_DEVICE_BYTES))
    throw new RangeError(`a device ID in a sealed header is 1–${MAX_DEVICE_BYTES} bytes, got ${id.length}`);
  const idBytes = id ? 1 + id.length : 0;
  const h = new Uint8Array(V1_HEADER_BYTES + idBytes);
  h.set(MAGIC, 0);
  h[MAGIC.length] = id ? BOUND : UNBOUND;
  h[MAGIC.length + 1] = kdf;
  if (id) {
    h[MAGIC.length + 2] = id.length;
    h.set(id, MAGIC.length + 3);
  }
  h.set(randomBytes(SALT_BYTES + NONCE_BYTES), h.length - SALT_BYTES - NONCE_BYTES);
  return h;
}

// The salt and nonce close every header, whatever its version.
const saltOf = (h: Uint8Array) => h.subarray(h.length - SALT_BYTES - NONCE_BYTES, h.length - NONCE_BYTES);
const nonceOf = (h: Uint8Array) => h.subarray(h.length - NONCE_BYTES);

function encrypt(h: Uint8Array, aesKey: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', aesKey, nonceOf(h), { authTagLength: TAG_BYTES });
  cipher.setAAD(h);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  const out = new Uint8Array(h.length + body.length);
  out.set(h, 0);
  out.set(body, h.length);
  return out;
}

/**
 * Encrypts with a fresh salt and nonce: sealing the same plaintext twice gives different bytes.
 * With `device` the file is format 2 and names it; without, format 1 (a file meant to travel).
 */
export function seal(plaintext: Uint8Array, key: SealKey, device?: string): Uint8Array {
  const h = header(kdfOf(key), device);
  return encrypt(h, deriveSync(key, saltOf(h)), plaintext);
}

type Parsed =
  | { ok: true; header: Uint8Array; body: Uint8Array; device: string | null }
  | Extract<Unsealed, { ok: false }>;

const refuse = (code: UnsealCode, error: string): Extract<Unsealed, { ok: false }> => ({
  ok: false,
  code,
  error,
});

/** Everything that can be judged before any key is derived. */
function parse(data: Uint8Array, key: SealKey): Parsed {
  const prefix = data.subarray(0, MAGIC.length);
  if (!prefix.every((b, i) => b === MAGIC[i]))
    return refuse('not-sealed', 'not a sealed hana file (no HANA-SEALED header)');
  if (data.length <= MAGIC.length)
    return refuse('truncated', `cut short: ${data.length} bytes, not even a header`);
  const version = data[MAGIC.length]!;
  if (version !== UNBOUND && version !== BOUND) {
    return refuse(
      'unsupported-version',
      `sealed with format version ${version}; this hana reads versions ${UNBOUND} and ${BOUND}`,
    );
  }
  const idLength = version === BOUND ? (data[MAGIC.length + 2] ?? 0) : 0;
  const headerBytes = V1_HEADER_BYTES + (version === BOUND ? 1 + idLength : 0);
  if (data.length < headerBytes + TAG_BYTES) {
    return refuse(
      'truncated',
      `cut short: ${data.length} bytes, a sealed file has at least ${headerBytes + TAG_BYTES}`,
    );
  }
  const kdf = data[MAGIC.length + 1]!;
  if (kdf !== KDF_SCRYPT && kdf !== KDF_KEYFILE) {
    return refuse('unsupported-version', `sealed with an unknown key derivation (${kdf})`);
  }
  if (kdf !== kdfOf(key)) {
    const sealedWith = kdf === KDF_SCRYPT ? 'a passphrase' : 'a key file';
    const given = key.kind === 'passphrase' ? 'a passphrase' : 'a key file';
    return refuse(
      'wrong-key-or-tampered',
      `sealed with ${sealedWith} but ${given} was given (or the header was modified)`,
    );
  }
  // Not trusted until the tag checks: the device is part of the authenticated header.
  const device =
    version === BOUND
      ? new TextDecoder().decode(data.subarray(MAGIC.length + 3, MAGIC.length + 3 + idLength))
      : null;
  return { ok: true, header: data.subarray(0, headerBytes), body: data.subarray(headerBytes), device };
}

function decrypt(p: Extract<Parsed, { ok: true }>, aesKey: Uint8Array): Unsealed {
  const ciphertext = p.body.subarray(0, p.body.length - TAG_BYTES);
  const tag = p.body.subarray(p.body.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey, nonceOf(p.header), { authTagLength: TAG_BYTES });
    decipher.setAAD(p.header);
    decipher.setAuthTag(tag);
    const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    // A copy, not a view: small Buffers share a pool whose other bytes must not ride along.
    return { ok: true, plaintext: new Uint8Array(plaintext), device: p.device };
  } catch {
    return refuse(
      'wrong-key-or-tampered',
      'cannot decrypt: the passphrase or key is wrong, or the file was modified or damaged ' +
        '(AES-GCM cannot tell these apart)',
    );
  }
}

/**
 * The one check of where an authenticated file comes from: a device this home has had, or a
 * format-1 file this home held when it was upgraded. Runs after decryption, so the device it
 * names is the one that really wrote the file.
 */
function bound(r: Unsealed, data: Uint8Array, binding: HomeBinding | undefined): Unsealed {
  if (!r.ok || !binding) return r;
  if (r.device === null) {
    if (binding.knowsLegacy(data)) return r;
    return refuse(
      'unknown-legacy',
      `sealed by a hana older than device-bound files and was not in this home when it was upgraded (nothing in it names its laptop), so it was copied here since`,
    );
  }
  if (binding.knows(r.device)) return r;
  return refuse(
    'other-device',
    `written by device ${shortId(r.device)}, not this one (${shortId(binding.device)}): it was copied from another laptop`,
  );
}

/** Decrypts and authenticates; every malformed or tampered input is a typed refusal, never an exception. */
export function unseal(data: Uint8Array, key: SealKey, binding?: HomeBinding): Unsealed {
  const p = parse(data, key);
  return p.ok ? bound(decrypt(p, deriveSync(key, saltOf(p.header))), data, binding) : p;
}

/** Seals (format 2 when `device` is given) and writes through writeFileAtomic: mode 0600, fsync, rename. */
export async function writeSealedAtomic(
  path: string,
  plaintext: Uint8Array,
  key: SealKey,
  device?: string,
): Promise<void> {
  const h = header(kdfOf(key), device);
  await writeFileAtomic(path, encrypt(h, await deriveAsync(key, saltOf(h)), plaintext), 0o600);
}

/** The format version byte of sealed bytes, or undefined for anything that is not a sealed file. */
export function sealedVersion(data: Uint8Array): number | undefined {
  if (data.length <= MAGIC.length || !MAGIC.every((b, i) => data[i] === b)) return undefined;
  return data[MAGIC.length];
}

/** Reads and unseals a file, refusing one that is not this home's when `binding` is given; every error names the file. */
export async function readSealed(path: string, key: SealKey, binding?: HomeBinding): Promise<ReadSealed> {
  let data: Uint8Array;
  try {
    data = await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const missing = e.code === 'ENOENT';
    return {
      ok: false,
      code: 'unreadable',
      missing,
      error: missing ? `${path} does not exist` : `cannot read ${path}: ${e.message}`,
    };
  }
  const p = parse(data, key);
  const r = p.ok ? bound(decrypt(p, await deriveAsync(key, saltOf(p.header))), data, binding) : p;
  if (r.ok) return r;
  // "<path> was written by device …" reads as one sentence; the other errors follow a colon.
  return { ...r, error: r.code === 'other-device' ? `${path} was ${r.error}` : `${path}: ${r.error}` };
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** A key file: exactly 32 raw bytes, or 64 hex characters (surrounding whitespace allowed), private to its owner. */
export async function loadKeyFile(
  path: string,
): Promise<{ ok: true; key: Uint8Array } | { ok: false; error: string }> {
  // 1 KiB leaves room for hex with whitespace; anything bigger is not a key.
  const r = await readPrivateFile(path, 'key file', 1024);
  if (!r.ok) return r;
  const raw = r.bytes;
  if (raw.length === KEY_BYTES) return { ok: true, key: raw };
  const text = new TextDecoder().decode(raw).trim();
  if (HEX_KEY.test(text)) return { ok: true, key: new Uint8Array(Buffer.from(text, 'hex')) };
  return {
    ok: false,
    error: `key file ${path} holds ${raw.length} bytes; it must hold exactly 32 bytes or 64 hex characters`,
  };
}
