import { createPrivateKey } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { readOwnFile, writeFileAtomic } from '../trust-store/secure-file.ts';
import { PublisherKeyId } from './manifest.ts';
import {
  base64Of,
  newPublisherKey,
  type PublisherSecretKey,
  publisherKeyFromPrivate,
} from './publisher-key.ts';

// This installation's own publisher key, used only to sign the bundled examples so that they
// pass the same "signed by a trusted publisher" rule as everything else. It is a machine key like
// the daemon identity: kept unencrypted in <home>/local-publisher.key (0600), because the daemon
// must use it unattended at start, and sealing it under a key file kept in the same private home
// would add a file to lose without protecting anything the file mode does not already protect.

export const localKeyPath = (home: string) => join(home, 'local-publisher.key');

const LocalKeyFile = z.strictObject({
  version: z.literal(1),
  algorithm: z.literal('Ed25519'),
  keyId: PublisherKeyId,
  publicKey: base64Of(32),
  /** PKCS#8 DER of the private key, base64. */
  privateKey: z.string().max(256).base64(),
  createdAt: z.iso.datetime(),
});

export type LocalKey = { ok: true; key: PublisherSecretKey; created: boolean } | { ok: false; error: string };

/** Loads the local key; creates it only when `create` is set and no file exists. */
export async function loadLocalKey(
  home: string,
  opts: { create: boolean; now?: () => Date },
): Promise<LocalKey> {
  const path = localKeyPath(home);
  const st = await lstat(path).catch(() => undefined);
  if (st?.isSymbolicLink()) return { ok: false, error: `${path} is a symbolic link; refusing to follow it` };
  if (st && process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    return {
      ok: false,
      error: `${path} holds this installation's plugin signing key but other users may read it (mode ${(st.mode & 0o777).toString(8)}): run \`chmod 600 ${path}\``,
    };
  }
  const read = await readOwnFile(path);
  if (!read.ok) {
    if (!read.missing) return { ok: false, error: read.error };
    if (!opts.create) return { ok: false, error: `${path} does not exist` };
    const key = newPublisherKey();
    const der = key.privateKey.export({ format: 'der', type: 'pkcs8' });
    const file: z.infer<typeof LocalKeyFile> = {
      version: 1,
      algorithm: 'Ed25519',
      keyId: key.keyId,
      publicKey: key.publicKey,
      privateKey: der.toString('base64'),
      createdAt: (opts.now?.() ?? new Date()).toISOString(),
    };
    await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, 0o600);
    return { ok: true, key, created: true };
  }
  try {
    const f = LocalKeyFile.parse(JSON.parse(read.text));
    const key = publisherKeyFromPrivate(
      createPrivateKey({ key: Buffer.from(f.privateKey, 'base64'), format: 'der', type: 'pkcs8' }),
    );
    if (key.keyId !== f.keyId || key.publicKey !== f.publicKey)
      throw new Error('the private key does not match its key ID');
    return { ok: true, key, created: false };
  } catch (err) {
    return {
      ok: false,
      error: `${path} is corrupt (${(err as Error).message.split('\n')[0]}); it was not replaced: move it away to let hana make a new local key`,
    };
  }
}
