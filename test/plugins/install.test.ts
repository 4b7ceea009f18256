import assert from 'node:assert/strict';
import { readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { packPlugin } from '../../plugins/archive.ts';
import { type InstallResult, installPlugin } from '../../plugins/install.ts';
import {
  disablePlugin,
  indexPath,
  listInstalled,
  pluginDir,
  quarantinePlugin,
} from '../../plugins/installed.ts';
import { revokePublisher } from '../../trust-store/publishers.ts';
import { flipByte } from './helpers.ts';
import { createInstallFixture, type InstallFixture } from './install-fixture.ts';

// `installPlugin`: verifies the copy it is about to install against the trusted publishers and
// refuses, with a reason naming the file where there is one: unsigned, unknown or revoked
// publisher, any changed byte, rollback, a second publisher for an id.

let f: InstallFixture;
beforeEach(async () => {
  f = await createInstallFixture('install');
});
afterEach(async () => {
  await f.cleanup();
});

function refused(r: InstallResult, code: string, path?: string): string {
  if (r.ok) assert.fail(`expected ${code}, got ${r.change}`);
  assert.equal(r.code, code, r.error);
  if (path !== undefined) {
    assert.equal(r.path, path);
    assert.ok(r.error.includes(path), `the error names ${path}: ${r.error}`);
  }
  return r.error;
}

async function assertNothingInstalled() {
  const list = await listInstalled(f.home);
  assert.ok(list.ok);
  assert.deepEqual(list.ok && list.plugins, []);
  // No staging folders left behind either.
  const left = await readdir(join(f.home, 'plugins')).catch(() => []);
  assert.deepEqual(left, []);
}

describe('install', () => {
  it('installs a folder signed by a trusted publisher: files copied, index 0600, enabled', async () => {
    await f.trust(f.a, 'Example Co');
    const src = await f.plugin();
    const r = await installPlugin(f.home, src, { now: () => new Date('2026-11-22T10:00:00Z') });
    if (!r.ok) assert.fail(r.error);
    assert.equal(r.change, 'installed');
    assert.equal(r.publisherName, 'Example Co');
    assert.deepEqual(
      { ...r.plugin, digest: r.plugin.digest.length },
      {
        id: 'com.example.dots',
        version: '1.0.0',
        publisherKeyId: f.a.gen.keyId,
        digest: 128,
        installedAt: '2026-11-22T10:00:00.000Z',
        enabled: true,
      },
    );
    const dir = pluginDir(f.home, 'com.example.dots');
    for (const p of ['plugin.json', 'plugin.sig', 'dist/plugin.js']) {
      assert.ok((await readFile(join(dir, p))).equals(await readFile(join(src, p))), p);
    }
    assert.equal((await stat(indexPath(f.home))).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(f.home, 'plugins')), ['com.example.dots']);
  });

  it('installs from an archive', async () => {
    await f.trust(f.a);
    const archive = join(f.root, 'dots.hana-plugin');
    assert.ok((await packPlugin(await f.plugin(), archive)).ok);
    const r = await installPlugin(f.home, archive);
    assert.ok(r.ok && r.change === 'installed');
  });

  it('refuses an unsigned plugin', async () => {
    await f.trust(f.a);
    refused(await installPlugin(f.home, await f.plugin({ sign: false })), 'unsigned');
    await assertNothingInstalled();
  });

  it('refuses an unknown publisher, saying how to trust one', async () => {
    const msg = refused(await installPlugin(f.home, await f.plugin()), 'unknown-publisher');
    assert.match(msg, new RegExp(`${f.a.gen.keyId} is not trusted.*hana publisher trust`));
    await assertNothingInstalled();
  });

  it('refuses a plugin signed with the wrong key (trusted B, manifest and signature by A)', async () => {
    await f.trust(f.b);
    refused(await installPlugin(f.home, await f.plugin({ by: f.a })), 'unknown-publisher');
    await assertNothingInstalled();
  });

  it('refuses a revoked publisher, naming it and the reason', async () => {
    await f.trust(f.a, 'Example Co');
    await revokePublisher(f.home, { key: f.a.gen.keyId, reason: 'key leaked' });
    const msg = refused(await installPlugin(f.home, await f.plugin()), 'publisher-revoked');
    assert.match(msg, /Example Co .* revoked at .* \(key leaked\)/);
    await assertNothingInstalled();
  });

  for (const file of ['plugin.json', 'dist/plugin.js', 'assets/data.txt']) {
    it(`refuses one changed byte in ${file}, naming it`, async () => {
      await f.trust(f.a);
      const src = await f.plugin({ files: { 'assets/data.txt': 'some data\n' } });
      await flipByte(join(src, file), 5);
      refused(await installPlugin(f.home, src), 'file-changed', file);
      await assertNothingInstalled();
    });
  }

  it('refuses an added and a deleted file, naming each', async () => {
    await f.trust(f.a);
    const src = await f.plugin({ files: { 'assets/data.txt': 'x' } });
    await writeFile(join(src, 'dist', 'extra.js'), 'globalThis.x = 1;');
    refused(await installPlugin(f.home, src), 'file-added', 'dist/extra.js');
    await unlink(join(src, 'dist', 'extra.js'));
    await unlink(join(src, 'assets', 'data.txt'));
    refused(await installPlugin(f.home, src), 'file-missing', 'assets/data.txt');
    await assertNothingInstalled();
  });

  it('refuses a tampered signature', async () => {
    await f.trust(f.a);
    const src = await f.plugin();
    const sig = JSON.parse(await readFile(join(src, 'plugin.sig'), 'utf8'));
    const bytes = Buffer.from(sig.signature, 'base64');
    bytes[0]! ^= 1;
    await writeFile(join(src, 'plugin.sig'), JSON.stringify({ ...sig, signature: bytes.toString('base64') }));
    refused(await installPlugin(f.home, src), 'bad-signature');
    await writeFile(join(src, 'plugin.sig'), '{ not json');
    refused(await installPlugin(f.home, src), 'bad-signature-file');
    await assertNothingInstalled();
  });

  it('refuses a tampered file inside an archive, naming it', async () => {
    await f.trust(f.a);
    const src = await f.plugin();
    await flipByte(join(src, 'dist', 'plugin.js'), 2);
    const archive = join(f.root, 'tampered.hana-plugin');
    assert.ok((await packPlugin(src, archive)).ok);
    refused(await installPlugin(f.home, archive), 'file-changed', 'dist/plugin.js');
    await assertNothingInstalled();
  });

  it('refuses a source that does not exist', async () => {
    refused(await installPlugin(f.home, join(f.root, 'nope')), 'not-found');
  });
});

describe('versions and publishers of an installed id', () => {
  it('upgrades to a higher version, keeping disabled and clearing quarantine', async () => {
    await f.trust(f.a);
    assert.ok((await installPlugin(f.home, await f.plugin({ version: '1.0.0' }))).ok);
    await disablePlugin(f.home, 'com.example.dots');
    await quarantinePlugin(f.home, 'com.example.dots', 'ran out of memory');
    const r = await installPlugin(
      f.home,
      await f.plugin({ version: '1.1.0', entry: 'export function frame() { return []; }\n' }),
    );
    if (!r.ok) assert.fail(r.error);
    assert.equal(r.change, 'upgraded');
    assert.equal(r.previousVersion, '1.0.0');
    assert.equal(r.plugin.enabled, false);
    assert.equal(r.plugin.quarantined, undefined);
    assert.match(
      await readFile(join(pluginDir(f.home, 'com.example.dots'), 'dist', 'plugin.js'), 'utf8'),
      /return \[\]/,
    );
  });

  it('refuses a rollback to a lower version, even with force', async () => {
    await f.trust(f.a);
    assert.ok((await installPlugin(f.home, await f.plugin({ version: '2.0.0' }))).ok);
    const older = await f.plugin({ version: '1.9.9' });
    assert.match(
      refused(await installPlugin(f.home, older), 'rollback'),
      /1\.9\.9 is older than the installed 2\.0\.0/,
    );
    refused(await installPlugin(f.home, older, { force: true }), 'rollback');
    refused(await installPlugin(f.home, await f.plugin({ version: '2.0.0-rc.1' })), 'rollback');
    const list = await listInstalled(f.home);
    assert.equal(list.ok && list.plugins[0]!.version, '2.0.0');
  });

  it('the same version with identical files reinstalls (repairing); with other files needs force', async () => {
    await f.trust(f.a);
    const src = await f.plugin();
    assert.ok((await installPlugin(f.home, src)).ok);
    await flipByte(join(pluginDir(f.home, 'com.example.dots'), 'dist', 'plugin.js'));
    const again = await installPlugin(f.home, src);
    assert.ok(again.ok && again.change === 'reinstalled');
    assert.ok(
      (await readFile(join(pluginDir(f.home, 'com.example.dots'), 'dist', 'plugin.js'))).equals(
        await readFile(join(src, 'dist', 'plugin.js')),
      ),
      'the damaged file was repaired',
    );
    const other = await f.plugin({ entry: 'export function frame() { return [{ op: "clear" }]; }\n' });
    refused(await installPlugin(f.home, other), 'same-version-differs');
    const forced = await installPlugin(f.home, other, { force: true });
    assert.ok(forced.ok && forced.change === 'reinstalled');
  });

  it('refuses the same id from another publisher, even with force', async () => {
    await f.trust(f.a);
    await f.trust(f.b);
    assert.ok((await installPlugin(f.home, await f.plugin({ by: f.a }))).ok);
    const msg = refused(
      await installPlugin(f.home, await f.plugin({ by: f.b, version: '9.0.0' }), { force: true }),
      'id-taken',
    );
    assert.match(msg, /already installed from publisher .*hana plugin remove com\.example\.dots/);
    const list = await listInstalled(f.home);
    assert.equal(list.ok && list.plugins[0]!.publisherKeyId, f.a.gen.keyId);
  });

  it('installs several plugins side by side', async () => {
    await f.trust(f.a);
    for (const id of ['com.example.one', 'com.example.two', 'org.other.three']) {
      assert.ok((await installPlugin(f.home, await f.plugin({ id }))).ok);
    }
    const list = await listInstalled(f.home);
    assert.deepEqual(list.ok && list.plugins.map((p) => p.id), [
      'com.example.one',
      'com.example.two',
      'org.other.three',
    ]);
  });
});
