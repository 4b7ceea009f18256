import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  scrypt,
} from 'node:crypto';
import { z } from 'zod';
import { PublisherKeyId } from './manifest.ts';

// A plugin publisher's Ed25519 key. The secret half lives in a JSON file encrypted with a key
// derived from a passphrase (scrypt → AES-256-GCM), so a copied laptop backup does not let
// anyone sign plugins that every hana daemon trusting this publisher would run.

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

// scrypt cost. 2^17 × r 8 = 128 MiB and ≈ 0.3 s here: paid once per signing session. The file
// records the cost so it can be raised later; the bounds stop a crafted file from asking for
// gigabytes of memory.
const LOG_N = 17;
const R = 8;
const P = 1;
// scrypt's memory is 128·N·r bytes: at most 256 MiB, whatever the file says.
const MAX_N_TIMES_R = 2 ** 21;

const SecretKeyFile = z
  .object({
    version: z.literal(1),
    algorithm: z.literal('Ed25519'),
    keyId: PublisherKeyId,
    publicKey: base64Of(32),
    kdf: z
      .object({
        name: z.literal('scrypt'),
        logN: z.number().int().min(14).max(20),
        r: z.number().int().min(1).max(16),
        p: z.number().int().min(1).max(4),
        salt: base64Of(16),
      })
      .strict()
      .refine((k) => 2 ** k.logN * k.r <= MAX_N_TIMES_R, 'scrypt would need more than 256 MiB'),
    cipher: z.literal('aes-256-gcm'),
    nonce: base64Of(12),
    tag: base64Of(16),
    /** PKCS#8 DER of the private key, encrypted. */
    encryptedKey: z.string().max(1024).base64(),
  })
  .strict();
type SecretKeyFile = z.infer<typeof SecretKeyFile>;

function deriveKey(passphrase: string, kdf: SecretKeyFile['kdf']): Promise<Buffer> {
  const N = 2 ** kdf.logN;
  return new Promise((done, fail) => {
    // maxmem: scrypt needs about 128·N·r bytes; Node's default cap (32 MiB) is below our cost.
    const opts = { N, r: kdf.r, p: kdf.p, maxmem: 2 * 128 * N * kdf.r };
    scrypt(passphrase.normalize('NFC'), Buffer.from(kdf.salt, 'base64'), 32, opts, (err, key) =>
      err ? fail(err) : done(key),
    );
  });
}

// Everything but the ciphertext is authenticated, so editing the key ID or public key in the
// file is caught at unlock instead of producing signatures under a wrong name.
function associatedData(f: Pick<SecretKeyFile, 'version' | 'keyId' | 'publicKey'>): Buffer {
  return Buffer.from(`hana publisher secret key v${f.version}\0${f.keyId}\0${f.publicKey}`);
}

export type GeneratedPublisherKey = {
  /** Base64 of the raw 32-byte Ed25519 public key: what daemons are told to trust. */
  readonly publicKey: string;
  readonly keyId: string;
  /** JSON text to save (0600); holds the secret key encrypted under the passphrase only. */
  readonly secretKeyFile: string;
};

export async function generatePublisherKey(passphrase: string): Promise<GeneratedPublisherKey> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  const head = { version: 1 as const, keyId: publisherKeyId(raw), publicKey: raw.toString('base64') };
  const kdf = { name: 'scrypt' as const, logN: LOG_N, r: R, p: P, salt: randomBytes(16).toString('base64') };
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(passphrase, kdf), nonce);
  cipher.setAAD(associatedData(head));
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const encrypted = Buffer.concat([cipher.update(der), cipher.final()]);
  der.fill(0);
  const file: SecretKeyFile = {
    version: head.version,
    algorithm: 'Ed25519',
    keyId: head.keyId,
    publicKey: head.publicKey,
    kdf,
    cipher: 'aes-256-gcm',
    nonce: nonce.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    encryptedKey: encrypted.toString('base64'),
  };
  return {
    publicKey: head.publicKey,
    keyId: head.keyId,
    secretKeyFile: `${JSON.stringify(file, null, 2)}\n`,
  };
}

export type PublisherSecretKey = {
  readonly keyId: string;
  readonly publicKey: string;
  readonly privateKey: KeyObject;
};

export type UnlockResult =
  | { ok: true; key: PublisherSecretKey }
  | { ok: false; code: 'bad-key-file' | 'wrong-passphrase'; error: string };

/** Decrypts a secret key file. Never throws on a bad file or passphrase. */
export async function unlockSecretKey(secretKeyFile: string, passphrase: string): Promise<UnlockResult> {
  let f: SecretKeyFile;
  try {
    const r = SecretKeyFile.safeParse(JSON.parse(secretKeyFile));
    if (!r.success) {
      return {
        ok: false,
        code: 'bad-key-file',
        error: `not a publisher secret key file: ${z.prettifyError(r.error)}`,
      };
    }
    f = r.data;
  } catch (err) {
    return {
      ok: false,
      code: 'bad-key-file',
      error: `not a publisher secret key file: ${(err as Error).message}`,
    };
  }
  let der: Buffer;
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      await deriveKey(passphrase, f.kdf),
      Buffer.from(f.nonce, 'base64'),
    );
    decipher.setAAD(associatedData(f));
    decipher.setAuthTag(Buffer.from(f.tag, 'base64'));
    der = Buffer.concat([decipher.update(Buffer.from(f.encryptedKey, 'base64')), decipher.final()]);
  } catch {
    // GCM cannot tell a wrong passphrase from an edited file; the first is far more likely.
    return {
      ok: false,
      code: 'wrong-passphrase',
      error: `wrong passphrase for publisher key ${f.keyId} (or the key file was altered)`,
    };
  }
  try {
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    const raw = rawPublicKey(createPublicKey(privateKey));
    const ours = privateKey.asymmetricKeyType === 'ed25519' && raw.toString('base64') === f.publicKey;
    if (!ours || publisherKeyId(raw) !== f.keyId) {
      return {
        ok: false,
        code: 'bad-key-file',
        error: `the secret key does not belong to key ID ${f.keyId}`,
      };
    }
    return { ok: true, key: { keyId: f.keyId, publicKey: f.publicKey, privateKey } };
  } catch (err) {
    return {
      ok: false,
      code: 'bad-key-file',
      error: `the decrypted secret key is unusable: ${(err as Error).message}`,
    };
  } finally {
    der.fill(0);
  }
}
