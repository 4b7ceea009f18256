import assert from 'node:assert/strict';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { installPlugin } from '../../plugins/install.ts';
import {
  disablePlugin,
  enablePlugin,
  indexPath,
  type LoadResult,
  listInstalled,
  loadEnabledPlugins,
  loadInstalledPlugin,
  pluginDir,
  quarantinePlugin,
  removePlugin,
} from '../../plugins/installed.ts';
import { revokePublisher } from '../../trust-store/publishers.ts';
import { captureLogger } from '../helpers/log-capture.ts';
import { flipByte } from './helpers.ts';
import { createInstallFixture, ENTRY, type InstallFixture } from './install-fixture.ts';

// Loading an installed plugin re-verifies it every time: a byte changed after install, a
// publisher revoked since, or a folder swapped for another signed version is refused, and the
// daemon's loadEnabledPlugins reports each refusal with its reason.

let f: InstallFixture;
before(async () => {
  f = await createInstallFixture('installed');
  await f.trust(f.a, 'Example Co');
});
after(async () => {
  await f.cleanup();
});

let n = 0;
/** Installs a fresh plugin with a unique id and returns the id. */
async function installed(spec: Parameters<InstallFixture['plugin']>[0] = {}): Promise<string> {
  const id = spec.id ?? `com.example.p${++n}`;
  const r = await installPlugin(f.home, await f.plugin({ ...spec, id }));
  if (!r.ok) assert.fail(r.error);
  return id;
}

function refusedLoad(r: LoadResult, code: string, path?: string): string {
  if (r.ok) assert.fail(`expected ${code}, got a loaded plugin`);
  assert.equal(r.code, code, r.error);
  if (path !== undefined) {
    assert.equal(r.path, path);
    assert.ok(r.error.includes(path), r.error);
  }
  return r.error;
}

describe('loadInstalledPlugin', () => {
  it('returns the manifest, the exact entry source, the folder and the publisher', async () => {
    const id = await installed();
    const r = await loadInstalledPlugin(f.home, id);
    if (!r.ok) assert.fail(r.error);
    assert.equal(r.plugin.manifest.id, id);
    assert.deepEqual(r.plugin.manifest.limits, { memoryMb: 32, cpuMsPerFrame: 8, fps: 60 });
    assert.equal(r.plugin.entrySource, ENTRY);
    assert.equal(r.plugin.dir, pluginDir(f.home, id));
    assert.deepEqual(r.plugin.publisher, { keyId: f.a.gen.keyId, name: 'Example Co' });
  });

  for (const file of ['dist/plugin.js', 'plugin.json', 'assets/a.txt']) {
    it(`refuses after one byte of ${file} changes, naming it`, async () => {
      const id = await installed({ files: { 'assets/a.txt': 'asset' } });
      await flipByte(join(pluginDir(f.home, id), file), 1);
      const msg = refusedLoad(await loadInstalledPlugin(f.home, id), 'file-changed', file);
      assert.ok(msg.startsWith(`${id}: `), 'the message names the plugin');
    });
  }

  it('refuses a file added to the installed folder, and a deleted signature', async () => {
    const id = await installed();
    await writeFile(join(pluginDir(f.home, id), 'dist', 'payload.js'), 'x');
    refusedLoad(await loadInstalledPlugin(f.home, id), 'file-added', 'dist/payload.js');
    await rm(join(pluginDir(f.home, id), 'dist', 'payload.js'));
    await rm(join(pluginDir(f.home, id), 'plugin.sig'));
    refusedLoad(await loadInstalledPlugin(f.home, id), 'unsigned');
  });

  it('refuses a folder swapped for another correctly signed version (index mismatch)', async () => {
    const id = await installed({ version: '2.0.0' });
    const old = await f.plugin({ id, version: '1.0.0' });
    await rm(pluginDir(f.home, id), { recursive: true });
    await rename(old, pluginDir(f.home, id));
    const msg = refusedLoad(await loadInstalledPlugin(f.home, id), 'index-mismatch');
    assert.match(msg, /1\.0\.0 .* not the 2\.0\.0 .* reinstall/);
  });

  it('refuses an unknown id and a missing folder', async () => {
    refusedLoad(await loadInstalledPlugin(f.home, 'com.example.none'), 'not-installed');
    const id = await installed();
    await rm(pluginDir(f.home, id), { recursive: true });
    refusedLoad(await loadInstalledPlugin(f.home, id), 'unsigned');
  });

  it('an installed plugin of a publisher revoked later refuses to load', async () => {
    const g = await createInstallFixture('installed-revoke');
    try {
      await g.trust(g.b, 'Soon Revoked');
      const r = await installPlugin(g.home, await g.plugin({ by: g.b }));
      assert.ok(r.ok);
      assert.ok((await loadInstalledPlugin(g.home, 'com.example.dots')).ok);
      await revokePublisher(g.home, { key: g.b.gen.keyId, reason: 'compromised' });
      const msg = refusedLoad(await loadInstalledPlugin(g.home, 'com.example.dots'), 'publisher-revoked');
      assert.match(msg, /Soon Revoked .* revoked at .* \(compromised\)/);
    } finally {
      await g.cleanup();
    }
  });

  it('refuses, naming the file, when the index is damaged', async () => {
    const g = await createInstallFixture('installed-index');
    try {
      await writeFile(indexPath(g.home), '{"version":1,"plugins":[{"id":"x"}]}');
      const msg = refusedLoad(await loadInstalledPlugin(g.home, 'x'), 'index-unreadable');
      assert.ok(msg.includes(indexPath(g.home)));
      const e = await enablePlugin(g.home, 'x');
      assert.ok(!e.ok && e.code === 'index-unreadable');
      assert.equal(await readFile(indexPath(g.home), 'utf8'), '{"version":1,"plugins":[{"id":"x"}]}');
    } finally {
      await g.cleanup();
    }
  });
});

describe('enable, disable, quarantine, remove, loadEnabledPlugins', () => {
  it('loads enabled plugins and reports disabled, quarantined and refused ones with reasons', async () => {
    const g = await createInstallFixture('installed-enabled');
    try {
      await g.trust(g.a);
      for (const id of ['com.x.good', 'com.x.off', 'com.x.sick', 'com.x.tampered']) {
        assert.ok((await installPlugin(g.home, await g.plugin({ id }))).ok);
      }
      assert.ok((await disablePlugin(g.home, 'com.x.off')).ok);
      const q = await quarantinePlugin(
        g.home,
        'com.x.sick',
        'exceeded 8 ms CPU\x1b[2J 5 frames in a row',
        () => new Date('2026-11-22T10:00:00Z'),
      );
      assert.ok(q.ok && q.plugin.quarantined?.reason === 'exceeded 8 ms CPU [2J 5 frames in a row');
      await flipByte(join(pluginDir(g.home, 'com.x.tampered'), 'dist', 'plugin.js'));

      const cap = captureLogger();
      const r = await loadEnabledPlugins(g.home, { log: cap.log });
      if (!r.ok) assert.fail(r.error);
      assert.deepEqual(
        r.plugins.map((p) => p.manifest.id),
        ['com.x.good'],
      );
      assert.deepEqual(r.disabled, ['com.x.off']);
      assert.deepEqual(
        r.refused.map((x) => [x.id, x.code, x.path]),
        [
          ['com.x.sick', 'quarantined', undefined],
          ['com.x.tampered', 'file-changed', 'dist/plugin.js'],
        ],
      );
      assert.match(r.refused[0]!.error, /hana plugin enable com\.x\.sick/);
      const logged = cap.lines.filter((l) => l.event === 'plugin.refused');
      assert.equal(logged.length, 1);
      assert.equal(logged[0]!.security, true);
      assert.equal(logged[0]!.reason, 'file-changed');

      // enable clears quarantine; disable keeps the files.
      const e = await enablePlugin(g.home, 'com.x.sick');
      assert.ok(e.ok && e.plugin.enabled && e.plugin.quarantined === undefined);
      assert.ok((await enablePlugin(g.home, 'com.x.off')).ok);
      const again = await loadEnabledPlugins(g.home);
      assert.ok(again.ok);
      assert.deepEqual(again.ok && again.plugins.map((p) => p.manifest.id).sort(), [
        'com.x.good',
        'com.x.off',
        'com.x.sick',
      ]);
    } finally {
      await g.cleanup();
    }
  });

  it('remove deletes the files and the entry; unknown ids are not-installed', async () => {
    const id = await installed();
    const r = await removePlugin(f.home, id);
    assert.ok(r.ok && r.plugin.id === id);
    await assert.rejects(readFile(join(pluginDir(f.home, id), 'plugin.json')), { code: 'ENOENT' });
    const list = await listInstalled(f.home);
    assert.ok(list.ok && !list.plugins.some((p) => p.id === id));
    for (const change of [removePlugin, enablePlugin, disablePlugin]) {
      const x = await change(f.home, id);
      assert.ok(!x.ok && x.code === 'not-installed');
    }
    // Reinstalling after removal is allowed, at any version (removal is the deliberate downgrade).
    const back = await installPlugin(f.home, await f.plugin({ id, version: '0.1.0' }));
    assert.ok(back.ok && back.change === 'installed');
  });
});
