import { X509Certificate } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { type Credentials, createCertificate } from '../protocols/dtls/werift.ts';
import { deviceIdFromCertDer } from './device-id.ts';
import { readOwnFile, writeFileAtomic } from './secure-file.ts';

// The daemon's identity: an ECDSA P-256 key pair and self-signed certificate, created on first
// start and kept in <home>/identity.json (0600). The device ID is derived from the certificate,
// so losing or silently regenerating this file would make every peer see a stranger: a corrupt
// file is an error that names it, never a reason to start over.

const IdentityFile = z
  .object({
    version: z.literal(1),
    certPem: z.string().min(100),
    keyPem: z.string().min(100),
    createdAt: z.string(),
  })
  .strict();

export type Identity = Credentials & {
  readonly deviceId: string;
  readonly certDer: Uint8Array;
  readonly createdAt: string;
};

export const identityPath = (home: string) => join(home, 'identity.json');

/** Also reads the identity kept after a rotation (trust-store/previous-identity.ts). */
export function identityFromPem(f: { certPem: string; keyPem: string; createdAt: string }): Identity {
  const der = new Uint8Array(new X509Certificate(f.certPem).raw);
  return {
    certPem: f.certPem,
    keyPem: f.keyPem,
    certDer: der,
    deviceId: deviceIdFromCertDer(der),
    createdAt: f.createdAt,
  };
}

export async function createIdentity(): Promise<Identity> {
  const cred = await createCertificate();
  return identityFromPem({ ...cred, createdAt: new Date().toISOString() });
}

export async function saveIdentity(home: string, id: Identity): Promise<void> {
  const body = { version: 1, certPem: id.certPem, keyPem: id.keyPem, createdAt: id.createdAt };
  await writeFileAtomic(identityPath(home), `${JSON.stringify(body, null, 2)}\n`);
}

export type LoadIdentity = { ok: true; identity: Identity; created: boolean } | { ok: false; error: string };

export async function loadOrCreateIdentity(home: string): Promise<LoadIdentity> {
  const path = identityPath(home);
  const st = await lstat(path).catch(() => undefined);
  if (st?.isSymbolicLink()) {
    return {
      ok: false,
      error: `${path} is a symbolic link; refusing to follow it (or to replace it with a new identity)`,
    };
  }
  if (st && process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    return {
      ok: false,
      error: `${path} holds this daemon's private key but other users may read it (mode ${(st.mode & 0o777).toString(8)}): run \`chmod 600 ${path}\``,
    };
  }
  const read = await readOwnFile(path);
  if (!read.ok) {
    if (!read.missing) return { ok: false, error: `${read.error}; the identity was not replaced` };
    const identity = await createIdentity();
    await saveIdentity(home, identity);
    return { ok: true, identity, created: true };
  }
  try {
    const parsed = IdentityFile.parse(JSON.parse(read.text));
    return { ok: true, identity: identityFromPem(parsed), created: false };
  } catch (err) {
    return {
      ok: false,
      error: `${path} is corrupt (${(err as Error).message.split('\n')[0]}); it was not replaced, because a new identity would make every pinned peer refuse this daemon. Restore it from a backup, or move it away to start as a new device.`,
    };
  }
}
