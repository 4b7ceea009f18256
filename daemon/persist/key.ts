import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { KEY_BYTES, loadKeyFile, type SealKey } from '../../trust-store/sealed-file.ts';
import { readPrivateFile, writeFileAtomic } from '../../trust-store/secure-file.ts';
import type { StorageKey } from '../config/storage-schema.ts';

// The key that seals state and scenes. A daemon has no terminal to prompt on, so a passphrase
// comes from the environment or a file; a key file is made on first start when none is named.
// A missing key is never replaced by a new one while sealed files exist: they would become
// unreadable, and the operator would learn it only at the next scene load.

export type KeyResult =
  | { ok: true; key: SealKey; kind: 'keyfile' | 'passphrase'; origin: string; created: boolean }
  | { ok: false; code: KeyErrorCode; error: string };
export type KeyErrorCode = 'no-passphrase' | 'passphrase-file' | 'key-file' | 'key-missing';

export const DEFAULT_KEY_FILE = 'storage.key';

export type KeyInit = {
  home: string;
  key: StorageKey;
  /** Where sealed files live, to tell a first start from a lost key. */
  sealedFiles: () => Promise<string[]>;
  env?: NodeJS.ProcessEnv;
};

const inHome = (home: string, p: string) => (isAbsolute(p) ? p : join(home, p));

async function readPassphraseFile(
  path: string,
): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  const r = await readPrivateFile(path, 'passphrase file', 4096);
  if (!r.ok) return r;
  const text = new TextDecoder().decode(r.bytes).replace(/\r?\n$/, '');
  if (text.length === 0) return { ok: false, error: `passphrase file ${path} is empty` };
  return { ok: true, text };
}

export async function resolveStorageKey(init: KeyInit): Promise<KeyResult> {
  const { key, home } = init;
  if (key.kind === 'passphrase') {
    if (key.file !== undefined) {
      const path = inHome(home, key.file);
      const r = await readPassphraseFile(path);
      if (!r.ok) return { ok: false, code: 'passphrase-file', error: r.error };
      return {
        ok: true,
        key: { kind: 'passphrase', passphrase: r.text },
        kind: 'passphrase',
        origin: path,
        created: false,
      };
    }
    const value = (init.env ?? process.env)[key.env];
    if (value === undefined || value.length === 0) {
      return {
        ok: false,
        code: 'no-passphrase',
        error: `storage.key asks for a passphrase in the environment variable ${key.env}, which is not set: start with ${key.env}=… hana start, or set storage.key.file`,
      };
    }
    return {
      ok: true,
      key: { kind: 'passphrase', passphrase: value },
      kind: 'passphrase',
      origin: `$${key.env}`,
      created: false,
    };
  }

  const path = inHome(home, key.path ?? DEFAULT_KEY_FILE);
  const exists = await stat(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'ENOENT',
  );
  if (!exists) {
    if (key.path !== undefined) {
      return {
        ok: false,
        code: 'key-missing',
        error: `storage key file ${path} (storage.key.path) does not exist: restore it from your backup, or remove storage.key.path to use a new key in the home`,
      };
    }
    const sealed = await init.sealedFiles();
    if (sealed.length > 0) {
      return {
        ok: false,
        code: 'key-missing',
        error: `storage key file ${path} is missing but ${sealed[0]}${sealed.length > 1 ? ` and ${sealed.length - 1} more sealed file(s)` : ''} need it: restore ${path} from your backup (or move the sealed files away to start afresh)`,
      };
    }
    await writeFileAtomic(path, randomBytes(KEY_BYTES), 0o600);
  }
  const loaded = await loadKeyFile(path);
  if (!loaded.ok) return { ok: false, code: 'key-file', error: loaded.error };
  return {
    ok: true,
    key: { kind: 'keyfile', key: loaded.key },
    kind: 'keyfile',
    origin: path,
    created: !exists,
  };
}

/** Sealed files in a home (the check value, the state, the scenes), for the lost-key check. */
export async function listSealedFiles(
  checkPath: string,
  statePath: string,
  scenesDir: string,
): Promise<string[]> {
  const found: string[] = [];
  for (const p of [checkPath, statePath]) {
    if (
      await stat(p).then(
        () => true,
        () => false,
      )
    )
      found.push(p);
  }
  const names = await readdir(scenesDir).catch(() => [] as string[]);
  for (const n of names) if (n.endsWith('.scene')) found.push(join(scenesDir, n));
  return found;
}
