import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { seal, unseal } from '../trust-store/sealed-file.ts';
import { PublisherKeyId } from './manifest.ts';

// A plugin publisher's Ed25519 key. The secret half lives in a JSON file whose private key is a
// sealed blob (trust-store/sealed-file.ts: scrypt → AES-256-GCM), so a copied laptop backup does
// not let anyone sign plugins that every hana daemon trusting this publisher would run. The key
// ID and public key stay readable beside it, so tools can say which key a file holds without
// the passphrase; after unsealing, both are checked against the private key itself.

/** First 16 hex of SHA-256 over the raw public key: short enough to read out, long enough to pin. */
export function publisherKeyId(rawPublicKey: Uint8Array): string {
  if (rawPublicKey.length !== 32) throw new RangeError('an Ed25519 public key is 32 bytes');
  return createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 16);
}

/** Base64 of exactly `bytes` bytes, in canonical form (so one key has one spelling). */
export function base64Of(bytes: number) {
  return z
    .string()
    .max(Math.ceil(bytes / 3) * 4)
    .refine((s) => {
      const b = Buffer.from(s, 'base64');
      return b.length === bytes && b.toString('base64') === s;
    }, `expected base64 of ${bytes} bytes`);
}

/** The public key object for a raw 32-byte key given as base64; undefined if it is not one. */
export function publicKeyFromBase64(publicKey: string): KeyObject | undefined {
  if (!base64Of(32).safeParse(publicKey).success) return undefined;
  const x = Buffer.from(publicKey, 'base64').toString('base64url');
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url');
}

// Sealed PKCS#8 DER of an Ed25519 key is 42 + 48 + 16 = 106 bytes; the bound leaves room only
// for a larger key encoding, not for a crafted file to make the reader allocate much.
const MAX_SEALED_BASE64 = 1024;

const SecretKeyFile = z
  .object({
    // Version 1 (its own scrypt + AES-GCM fields) never shipped and is not read.
    version: z.literal(2),
    algorithm: z.literal('Ed25519'),
    keyId: PublisherKeyId,
    publicKey: base64Of(32),
    /** HANA-SEALED bytes (passphrase KDF) holding the PKCS#8 DER of the private key. */
    sealed: z.string().max(MAX_SEALED_BASE64).base64(),
  })
  .strict();
type SecretKeyFile = z.infer<typeof SecretKeyFile>;

export type PublisherSecretKey = {
  readonly keyId: string;
  readonly publicKey: string;
  readonly privateKey: KeyObject;
};

export type GeneratedPublisherKey = {
  /** Base64 of the raw 32-byte Ed25519 public key: what daemons are told to trust. */
  readonly publicKey: string;
  readonly keyId: string;
  /** JSON text to save (0600); holds the secret key encrypted under the passphrase only. */
  readonly secretKeyFile: string;
};

/** The signing key for a private key object (the local machine key is kept unsealed). */
export function publisherKeyFromPrivate(privateKey: KeyObject): PublisherSecretKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('a publisher key is Ed25519');
  const raw = rawPublicKey(createPublicKey(privateKey));
  return { keyId: publisherKeyId(raw), publicKey: raw.toString('base64'), privateKey };
}

/** A fresh Ed25519 key pair, not yet written anywhere. */
export function newPublisherKey(): PublisherSecretKey {
  return publisherKeyFromPrivate(generateKeyPairSync('ed25519').privateKey);
}

/** Generates a key and its passphrase-sealed file. An empty passphrase is a programmer error. */
export async function generatePublisherKey(passphrase: string): Promise<GeneratedPublisherKey> {
  const key = newPublisherKey();
  const der = key.privateKey.export({ format: 'der', type: 'pkcs8' });
  let sealed: Uint8Array;
  try {
    sealed = seal(der, { kind: 'passphrase', passphrase });
  } finally {
    der.fill(0);
  }
  const file: SecretKeyFile = {
    version: 2,
    algorithm: 'Ed25519',
    keyId: key.keyId,
    publicKey: key.publicKey,
    sealed: Buffer.from(sealed).toString('base64'),
  };
  return {
    publicKey: key.publicKey,
    keyId: key.keyId,
    secretKeyFile: `${JSON.stringify(file, null, 2)}\n`,
  };
}

export type UnlockResult =
  | { ok: true; key: PublisherSecretKey }
  | { ok: false; code: 'bad-key-file' | 'wrong-passphrase'; error: string };

const badFile = (error: string): UnlockResult => ({ ok: false, code: 'bad-key-file', error });

/** The key ID and public key a secret key file claims, without the passphrase; undefined if it is not one. */
export function describeSecretKeyFile(
  secretKeyFile: string,
): { keyId: string; publicKey: string } | undefined {
  try {
    const r = SecretKeyFile.safeParse(JSON.parse(secretKeyFile));
    return r.success ? { keyId: r.data.keyId, publicKey: r.data.publicKey } : undefined;
  } catch {
    return undefined;
  }
}

/** Decrypts a secret key file. Never throws on a bad file or passphrase. */
export async function unlockSecretKey(secretKeyFile: string, passphrase: string): Promise<UnlockResult> {
  let f: SecretKeyFile;
  try {
    const r = SecretKeyFile.safeParse(JSON.parse(secretKeyFile));
    if (!r.success) return badFile(`not a publisher secret key file: ${z.prettifyError(r.error)}`);
    f = r.data;
  } catch (err) {
    return badFile(`not a publisher secret key file: ${(err as Error).message}`);
  }
  if (passphrase.length === 0) {
    return { ok: false, code: 'wrong-passphrase', error: `an empty passphrase cannot unlock key ${f.keyId}` };
  }
  const opened = unseal(Buffer.from(f.sealed, 'base64'), { kind: 'passphrase', passphrase });
  if (!opened.ok) {
    if (opened.code === 'wrong-key-or-tampered') {
      // GCM cannot tell a wrong passphrase from an edited file; the first is far more likely.
      return {
        ok: false,
        code: 'wrong-passphrase',
        error: `wrong passphrase for publisher key ${f.keyId} (or the key file was altered)`,
      };
    }
    return badFile(`the sealed secret key of ${f.keyId} is unusable: ${opened.error}`);
  }
  const der = Buffer.from(opened.plaintext.buffer, opened.plaintext.byteOffset, opened.plaintext.length);
  try {
    const key = publisherKeyFromPrivate(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
    // The readable fields are not covered by the seal: they must describe the sealed key.
    if (key.publicKey !== f.publicKey || key.keyId !== f.keyId) {
      return badFile(`the secret key does not belong to key ID ${f.keyId}; the key file was edited`);
    }
    return { ok: true, key };
  } catch (err) {
    return badFile(`the decrypted secret key is unusable: ${(err as Error).message}`);
  } finally {
    der.fill(0);
  }
}
