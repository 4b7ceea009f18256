import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { StorageKey } from '../../../daemon/config/storage-schema.ts';
import { type KeyResult, listSealedFiles, resolveStorageKey } from '../../../daemon/persist/key.ts';
import { tempHomes } from './helpers.ts';

// Where the sealing key comes from: a key file made on first start, or a passphrase from the
// environment or a private file. Never a fresh key while sealed files need the old one.

const home = tempHomes('hana-key-');

function resolve(h: string, key: unknown, env: NodeJS.ProcessEnv = {}): Promise<KeyResult> {
  return resolveStorageKey({
    home: h,
    key: StorageKey.parse(key),
    sealedFiles: () => listSealedFiles(join(h, 'storage.check'), join(h, 'state.sealed'), join(h, 'scenes')),
    env,
  });
}

function ok(r: KeyResult) {
  if (!r.ok) assert.fail(`${r.code}: ${r.error}`);
  return r;
}

function refused(r: KeyResult, code: string, pattern: RegExp) {
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.code, code, r.error);
  assert.match(r.error, pattern);
}

describe('storage key: key file', () => {
  it('creates <home>/storage.key (32 random bytes, 0600) on first start and reads the same key after', async () => {
    const h = await home();
    const first = ok(await resolve(h, {}));
    assert.equal(first.created, true);
    assert.equal(first.origin, join(h, 'storage.key'));
    const st = await stat(join(h, 'storage.key'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.size, 32);
    const second = ok(await resolve(h, { kind: 'keyfile' }));
    assert.equal(second.created, false);
    assert.deepEqual(second.key, first.key);
    const other = ok(await resolve(await home(), {}));
    assert.notDeepEqual(other.key, first.key, 'each home its own key');
  });

  it('refuses to make a new key when sealed files exist without one', async () => {
    const h = await home();
    await writeFile(join(h, 'scenes', 'intro.scene'), 'sealed bytes');
    refused(
      await resolve(h, {}),
      'key-missing',
      /storage\.key is missing but .*intro\.scene need it: restore/,
    );
    await writeFile(join(h, 'state.sealed'), 'sealed bytes');
    refused(await resolve(h, {}), 'key-missing', /state\.sealed and 1 more/);
    await assert.rejects(stat(join(h, 'storage.key')), 'no key was written');
    // The check value alone is enough: it holds the audit log's key.
    const c = await home();
    await writeFile(join(c, 'storage.check'), 'sealed bytes');
    refused(await resolve(c, {}), 'key-missing', /storage\.key is missing but .*storage\.check need it/);
  });

  it('refuses a configured key file that is missing, readable by others, or the wrong size', async () => {
    const h = await home();
    refused(
      await resolve(h, { kind: 'keyfile', path: 'usb/key' }),
      'key-missing',
      /storage\.key\.path.*restore it/,
    );
    const path = join(h, 'k');
    await writeFile(path, Buffer.alloc(32, 7), { mode: 0o644 });
    await chmod(path, 0o644);
    refused(await resolve(h, { kind: 'keyfile', path }), 'key-file', /chmod 600/);
    await chmod(path, 0o600);
    assert.deepEqual(ok(await resolve(h, { kind: 'keyfile', path: 'k' })).key, {
      kind: 'keyfile',
      key: new Uint8Array(32).fill(7),
    });
    await writeFile(path, 'too short');
    refused(await resolve(h, { kind: 'keyfile', path }), 'key-file', /exactly 32 bytes or 64 hex/);
  });
});

describe('storage key: passphrase', () => {
  it('reads the passphrase from the named environment variable, and says which one is missing', async () => {
    const h = await home();
    const r = ok(await resolve(h, { kind: 'passphrase' }, { HANA_PASSPHRASE: 'open sesame' }));
    assert.deepEqual(r.key, { kind: 'passphrase', passphrase: 'open sesame' });
    assert.equal(r.origin, '$HANA_PASSPHRASE');
    refused(
      await resolve(h, { kind: 'passphrase', env: 'SHOW_PASS' }, {}),
      'no-passphrase',
      /SHOW_PASS.*not set/,
    );
    refused(
      await resolve(h, { kind: 'passphrase' }, { HANA_PASSPHRASE: '' }),
      'no-passphrase',
      /HANA_PASSPHRASE/,
    );
  });

  it('reads a private passphrase file without its trailing newline; refuses one others can read, or an empty one', async () => {
    const h = await home();
    const path = join(h, 'pass');
    await writeFile(path, 'two words\n', { mode: 0o600 });
    const r = ok(await resolve(h, { kind: 'passphrase', file: 'pass' }));
    assert.deepEqual(r.key, { kind: 'passphrase', passphrase: 'two words' });
    await chmod(path, 0o640);
    refused(await resolve(h, { kind: 'passphrase', file: path }), 'passphrase-file', /chmod 600/);
    await chmod(path, 0o600);
    await writeFile(path, '\n');
    refused(await resolve(h, { kind: 'passphrase', file: path }), 'passphrase-file', /is empty/);
    refused(
      await resolve(h, { kind: 'passphrase', file: 'nope' }),
      'passphrase-file',
      /cannot read passphrase file/,
    );
    assert.equal((await readFile(path, 'utf8')).length, 1, 'never rewritten');
  });

  it('keeps each field with its kind in the config', () => {
    assert.equal(StorageKey.safeParse({ kind: 'keyfile', file: 'x' }).success, false);
    assert.equal(StorageKey.safeParse({ kind: 'passphrase', path: 'x' }).success, false);
    assert.equal(StorageKey.safeParse({ kind: 'passphrase', env: 'not a name' }).success, false);
  });
});
