import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  bootstrapBundledPlugins,
  LOCAL_PUBLISHER_NAME,
  PLACEHOLDER_PUBLISHER,
} from '../../plugins/bootstrap.ts';
import { installPlugin } from '../../plugins/install.ts';
import {
  listInstalled,
  loadEnabledPlugins,
  loadInstalledPlugin,
  pluginDir,
  removePlugin,
} from '../../plugins/installed.ts';
import { localKeyPath } from '../../plugins/local-key.ts';
import { loadPublishers, publishersPath, revokePublisher } from '../../trust-store/publishers.ts';
import { captureLogger } from '../helpers/log-capture.ts';
import { createInstallFixture, type InstallFixture } from './install-fixture.ts';

// First start: the bundled examples are signed under this installation's own key, which is
// trusted under a recognisable name, and installed — said in one log line. Later starts install
// new or upgraded examples only, respect removals and revocation, and trust nothing else.

let f: InstallFixture;
let examples: string;

async function example(
  name: string,
  opts: { id?: string; version?: string; publisher?: string; dist?: boolean } = {},
) {
  const dir = join(examples, name);
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(
    join(dir, 'plugin.json'),
    JSON.stringify({
      id: opts.id ?? `org.hana.examples.${name}`,
      name: `Example ${name}`,
      version: opts.version ?? '1.0.0',
      publisher: opts.publisher ?? PLACEHOLDER_PUBLISHER,
      entry: 'dist/plugin.js',
      reads: ['/tempo'],
    }),
  );
  await writeFile(join(dir, 'src', 'index.ts'), 'export function frame() { return []; }\n');
  if (opts.dist !== false) {
    await mkdir(join(dir, 'dist'), { recursive: true });
    await writeFile(
      join(dir, 'dist', 'plugin.js'),
      `export function frame() { return [{ op: "text", x: 1, y: 1, text: "${name}" }]; }\n`,
    );
  }
}

const run = async () => {
  const cap = captureLogger();
  const r = await bootstrapBundledPlugins({ home: f.home, examplesDir: examples, log: cap.log });
  return { r, lines: cap.lines };
};

beforeEach(async () => {
  f = await createInstallFixture('bootstrap');
  examples = join(f.root, 'examples');
  await example('dots');
  await example('waves');
  await example('foreign', { publisher: '0123456789abcdef' });
  await example('unbuilt', { dist: false });
  await writeFile(join(examples, 'README.md'), 'not an example');
});
afterEach(async () => {
  await f.cleanup();
});

describe('bootstrapBundledPlugins', () => {
  it('first run: makes and trusts a local key, signs and installs the examples, and says so', async () => {
    const { r, lines } = await run();
    assert.equal(r.firstRun, true);
    assert.match(r.keyId ?? '', /^[0-9a-f]{16}$/);
    assert.deepEqual(
      r.installed.map((x) => [x.id, x.version, x.change]),
      [
        ['org.hana.examples.dots', '1.0.0', 'installed'],
        ['org.hana.examples.waves', '1.0.0', 'installed'],
      ],
    );
    assert.deepEqual(
      r.skipped.map((s) => s.example),
      ['foreign', 'unbuilt'],
    );
    assert.match(r.skipped[0]!.reason, /placeholder publisher "0000000000000000"/);
    assert.match(r.skipped[1]!.reason, /dist\/.*build the example first/);

    const said = lines.filter((l) => l.event === 'plugins.bundled-installed');
    assert.equal(said.length, 1);
    assert.equal(
      said[0]!.msg,
      `signed and trusted 2 bundled examples under this installation's local key ${r.keyId}`,
    );
    assert.equal(said[0]!.security, true);

    assert.equal((await stat(localKeyPath(f.home))).mode & 0o777, 0o600);
    const pubs = await loadPublishers(f.home);
    assert.ok(pubs.ok);
    assert.deepEqual(
      pubs.ok && pubs.file.publishers.map((p) => [p.keyId, p.name, p.revoked]),
      [[r.keyId, LOCAL_PUBLISHER_NAME, undefined]],
      'only the local key is trusted',
    );
    // Installed copies hold plugin.json (publisher set to the local key) and dist/, not src/.
    const dir = pluginDir(f.home, 'org.hana.examples.dots');
    assert.deepEqual((await readdir(dir)).sort(), ['dist', 'plugin.json', 'plugin.sig']);
    assert.equal(JSON.parse(await readFile(join(dir, 'plugin.json'), 'utf8')).publisher, r.keyId);
    const loaded = await loadEnabledPlugins(f.home);
    assert.ok(loaded.ok);
    assert.deepEqual(loaded.ok && loaded.plugins.map((p) => [p.manifest.id, p.publisher.name]), [
      ['org.hana.examples.dots', LOCAL_PUBLISHER_NAME],
      ['org.hana.examples.waves', LOCAL_PUBLISHER_NAME],
    ]);
    // The examples folder itself is untouched.
    assert.equal(
      JSON.parse(await readFile(join(examples, 'dots', 'plugin.json'), 'utf8')).publisher,
      PLACEHOLDER_PUBLISHER,
    );
  });

  it('later runs change nothing, install upgrades and new examples, and leave removed ones removed', async () => {
    const first = await run();
    const again = await run();
    assert.equal(again.r.firstRun, false);
    assert.deepEqual(again.r.installed, []);
    assert.equal(again.lines.filter((l) => l.event === 'plugins.bundled-installed').length, 0);
    assert.deepEqual(
      again.r.skipped.filter((s) => s.reason === 'up to date').map((s) => s.example),
      ['dots', 'waves'],
    );

    await example('dots', { version: '1.1.0' });
    await example('sparks');
    assert.ok((await removePlugin(f.home, 'org.hana.examples.waves')).ok);
    const later = await run();
    assert.deepEqual(
      later.r.installed.map((x) => [x.id, x.version, x.change]),
      [
        ['org.hana.examples.dots', '1.1.0', 'upgraded'],
        ['org.hana.examples.sparks', '1.0.0', 'installed'],
      ],
    );
    assert.ok(
      later.r.skipped.some(
        (s) => s.id === 'org.hana.examples.waves' && s.reason === 'removed by the operator',
      ),
    );
    const said = later.lines.find((l) => l.event === 'plugins.bundled-installed');
    assert.equal(
      said?.msg,
      `signed and installed 2 new or updated bundled examples under this installation's local key ${first.r.keyId}`,
    );
    assert.equal(later.r.keyId, first.r.keyId, 'the same local key is reused');
  });

  it('installs nothing once the operator revoked the local key, and does not trust it again', async () => {
    const first = await run();
    await revokePublisher(f.home, { key: first.r.keyId!, reason: 'no examples here' });
    await example('dots', { version: '2.0.0' });
    const { r, lines } = await run();
    assert.deepEqual(r.installed, []);
    assert.match(r.skipped[0]!.reason, /revoked by the operator/);
    assert.ok(lines.some((l) => l.event === 'plugins.bundled-skipped'));
    const load = await loadInstalledPlugin(f.home, 'org.hana.examples.dots');
    assert.ok(!load.ok && load.code === 'publisher-revoked');
  });

  it('does not re-trust the local key if the operator removed it from publishers.json', async () => {
    const first = await run();
    await writeFile(publishersPath(f.home), JSON.stringify({ version: 1, publishers: [] }));
    await example('dots', { version: '2.0.0' });
    const { r } = await run();
    assert.deepEqual(r.installed, []);
    assert.match(r.skipped[0]!.reason, new RegExp(`${first.r.keyId} is no longer a trusted publisher`));
    const pubs = await loadPublishers(f.home);
    assert.deepEqual(pubs.ok && pubs.file.publishers, []);
  });

  it('skips an example whose id is installed from another publisher', async () => {
    await f.trust(f.a);
    assert.ok(
      (await installPlugin(f.home, await f.plugin({ id: 'org.hana.examples.dots', version: '9.0.0' }))).ok,
    );
    const { r } = await run();
    assert.deepEqual(
      r.installed.map((x) => x.id),
      ['org.hana.examples.waves'],
    );
    const dots = r.skipped.find((s) => s.example === 'dots');
    assert.match(dots?.reason ?? '', /installed from another publisher/);
    const list = await listInstalled(f.home);
    assert.equal(
      list.ok && list.plugins.find((p) => p.id === 'org.hana.examples.dots')?.publisherKeyId,
      f.a.gen.keyId,
    );
  });

  it('gives up, naming the file, on a damaged local key, and on a local key readable by others', async () => {
    await run();
    await writeFile(localKeyPath(f.home), '{"version":1}', { mode: 0o600 });
    await example('dots', { version: '3.0.0' });
    const damaged = await run();
    assert.deepEqual(damaged.r.installed, []);
    assert.match(damaged.r.skipped[0]!.reason, /local-publisher\.key is corrupt/);
    await rm(localKeyPath(f.home));
    await writeFile(localKeyPath(f.home), '{}', { mode: 0o644 });
    const readable = await run();
    assert.match(readable.r.skipped[0]!.reason, /chmod 600/);
  });

  it('does nothing without examples', async () => {
    await rm(examples, { recursive: true });
    const { r } = await run();
    assert.deepEqual(r, { firstRun: false, installed: [], skipped: [] });
    await assert.rejects(stat(localKeyPath(f.home)), { code: 'ENOENT' });
  });
});
