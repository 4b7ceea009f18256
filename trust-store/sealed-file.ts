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
import { readPrivateFile, writeFileAtomic } from './secure-file.ts';

// Files encrypted at rest (scenes, persisted state): AES-256-GCM under a key derived from a
// passphrase (scrypt) or read from a key file. Every byte of the header is authenticated as
// AAD, so changing the version, the KDF, the salt or the nonce fails exactly like changing the
// ciphertext does: there is no "wrong plaintext", only a typed refusal.
//
// | offset | bytes | field                                                                    |
// |--------|-------|--------------------------------------------------------------------------|
// | 0      | 12    | magic "HANA-SEALED\n"                                                    |
// | 12     | 1     | version = 1                                                              |
// | 13     | 1     | KDF: 1 = scrypt(NFC passphrase, salt, N=2^15, r=8, p=1);                 |
// |        |       |      2 = key file, HKDF-SHA256(key, salt, "hana-sealed v1 key file")     |
// | 14     | 16    | salt, random per seal                                                    |
// | 30     | 12    | GCM nonce, random per seal                                               |
// | 42     | n     | ciphertext (n = plaintext length)                                        |
// | 42 + n | 16    | GCM tag over the ciphertext with bytes 0–41 as AAD                       |
//
// The key file goes through HKDF with the per-file salt so no two files share an AES key: a
// random 96-bit nonce then never risks repeating under one key, however many files are sealed.

export type SealKey = { kind: 'passphrase'; passphrase: string } | { kind: 'keyfile'; key: Uint8Array };

export type UnsealCode = 'not-sealed' | 'unsupported-version' | 'wrong-key-or-tampered' | 'truncated';
export type Unsealed = { ok: true; plaintext: Uint8Array } | { ok: false; code: UnsealCode; error: string };
/** readSealed adds 'unreadable' (missing, a directory, no permission): `missing` tells a first run apart. */
export type ReadSealed =
  | (Unsealed & { missing?: false })
  | { ok: false; code: 'unreadable'; missing: boolean; error: string };

const MAGIC = new TextEncoder().encode('HANA-SEALED\n');
const VERSION = 1;
const KDF_SCRYPT = 1;
const KDF_KEYFILE = 2;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + 2 + SALT_BYTES + NONCE_BYTES;
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

function header(kdf: number): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  h.set(MAGIC, 0);
  h[MAGIC.length] = VERSION;
  h[MAGIC.length + 1] = kdf;
  h.set(randomBytes(SALT_BYTES + NONCE_BYTES), MAGIC.length + 2);
  return h;
}

const saltOf = (h: Uint8Array) => h.subarray(MAGIC.length + 2, MAGIC.length + 2 + SALT_BYTES);
const nonceOf = (h: Uint8Array) => h.subarray(MAGIC.length + 2 + SALT_BYTES, HEADER_BYTES);

function encrypt(h: Uint8Array, aesKey: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', aesKey, nonceOf(h), { authTagLength: TAG_BYTES });
  cipher.setAAD(h);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  const out = new Uint8Array(HEADER_BYTES + body.length);
  out.set(h, 0);
  out.set(body, HEADER_BYTES);
  return out;
}

/** Encrypts with a fresh salt and nonce: sealing the same plaintext twice gives different bytes. */
export function seal(plaintext: Uint8Array, key: SealKey): Uint8Array {
  const h = header(kdfOf(key));
  return encrypt(h, deriveSync(key, saltOf(h)), plaintext);
}

type Parsed = { ok: true; header: Uint8Array; body: Uint8Array } | Extract<Unsealed, { ok: false }>;

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
  if (version !== VERSION) {
    return refuse(
      'unsupported-version',
      `sealed with format version ${version}; this hana reads version ${VERSION}`,
    );
  }
  if (data.length < HEADER_BYTES + TAG_BYTES) {
    return refuse(
      'truncated',
      `cut short: ${data.length} bytes, a sealed file has at least ${HEADER_BYTES + TAG_BYTES}`,
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
  return { ok: true, header: data.subarray(0, HEADER_BYTES), body: data.subarray(HEADER_BYTES) };
}

function decrypt(p: { header: Uint8Array; body: Uint8Array }, aesKey: Uint8Array): Unsealed {
  const ciphertext = p.body.subarray(0, p.body.length - TAG_BYTES);
  const tag = p.body.subarray(p.body.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey, nonceOf(p.header), { authTagLength: TAG_BYTES });
    decipher.setAAD(p.header);
    decipher.setAuthTag(tag);
    const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    // A copy, not a view: small Buffers share a pool whose other bytes must not ride along.
    return { ok: true, plaintext: new Uint8Array(plaintext) };
  } catch {
    return refuse(
      'wrong-key-or-tampered',
      'cannot decrypt: the passphrase or key is wrong, or the file was modified or damaged ' +
        '(AES-GCM cannot tell these apart)',
    );
  }
}

/** Decrypts and authenticates; every malformed or tampered input is a typed refusal, never an exception. */
export function unseal(data: Uint8Array, key: SealKey): Unsealed {
  const p = parse(data, key);
  return p.ok ? decrypt(p, deriveSync(key, saltOf(p.header))) : p;
}

/** Seals and writes through writeFileAtomic: mode 0600, fsync, rename over the old file. */
export async function writeSealedAtomic(path: string, plaintext: Uint8Array, key: SealKey): Promise<void> {
  const h = header(kdfOf(key));
  await writeFileAtomic(path, encrypt(h, await deriveAsync(key, saltOf(h)), plaintext), 0o600);
}

/** Reads and unseals a file; every error names it. */
export async function readSealed(path: string, key: SealKey): Promise<ReadSealed> {
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
  const r = p.ok ? decrypt(p, await deriveAsync(key, saltOf(p.header))) : p;
  return r.ok ? r : { ...r, error: `${path}: ${r.error}` };
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
