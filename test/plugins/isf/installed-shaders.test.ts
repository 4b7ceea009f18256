import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import { planShaders } from '../../../daemon/output/shader-plan.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { EXAMPLES_DIR } from '../../../plugins/examples/build.ts';
import { installPlugin } from '../../../plugins/install.ts';
import { loadEnabledPlugins, loadInstalledPlugin, pluginDir } from '../../../plugins/installed.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { flipByte } from '../helpers.ts';
import { createInstallFixture, type InstallFixture } from '../install-fixture.ts';

// A plugin's ISF shaders are signed plugin files: installed, loaded and re-verified like its
// entry. A shader edited after signing is refused as a security event; a shader whose header
// is invalid, or whose inputs map to parameters this daemon does not declare, never runs.

let f: InstallFixture;
let plasma: string;
before(async () => {
  f = await createInstallFixture('isf-installed');
  await f.trust(f.a, 'Example Co');
  plasma = await readFile(join(EXAMPLES_DIR, 'isf-plasma', 'shaders', 'plasma.fs'), 'utf8');
});
after(async () => {
  await f.cleanup();
});

async function install(id: string, shader: string, inputs: Record<string, string> = { hue: '/layer/3/hue' }) {
  const dir = await f.plugin({
    id,
    files: { 'shaders/a.fs': shader },
    manifest: { reads: ['/layer/3/*'], writes: [], layer: 3, shaders: [{ file: 'shaders/a.fs', inputs }] },
  });
  const r = await installPlugin(f.home, dir);
  if (!r.ok) assert.fail(r.error);
}

describe('ISF shader files in installed plugins', () => {
  it('loads the shader text exactly as signed, parsed, with its mapping', async () => {
    await install('com.example.isf1', plasma);
    const r = await loadInstalledPlugin(f.home, 'com.example.isf1');
    if (!r.ok) assert.fail(r.error);
    assert.equal(r.plugin.shaders.length, 1);
    assert.equal(r.plugin.shaders[0]!.shader.source, plasma);
    assert.deepEqual(r.plugin.shaders[0]!.ref.inputs, { hue: '/layer/3/hue' });
  });

  it('a shader changed after signing fails verification, logged as a security event', async () => {
    await install('com.example.isf2', plasma);
    await flipByte(join(pluginDir(f.home, 'com.example.isf2'), 'shaders', 'a.fs'), 200);
    const r = await loadInstalledPlugin(f.home, 'com.example.isf2');
    assert.ok(!r.ok);
    assert.equal(r.code, 'file-changed');
    assert.equal(r.path, 'shaders/a.fs');
    const cap = captureLogger();
    const all = await loadEnabledPlugins(f.home, { log: cap.log });
    if (!all.ok) assert.fail(all.error);
    assert.ok(!all.plugins.some((p) => p.manifest.id === 'com.example.isf2'));
    const logged = cap.lines.find((l) => l.event === 'plugin.refused' && l.plugin === 'com.example.isf2');
    assert.equal(logged?.security, true);
  });

  it('a signed shader with a wrong header is refused at load with the reason', async () => {
    await install(
      'com.example.isf3',
      '/*{ "INPUTS": [{ "NAME": "hue", "TYPE": "image" }] }*/\nvoid main() {}\n',
      {},
    );
    const r = await loadInstalledPlugin(f.home, 'com.example.isf3');
    assert.ok(!r.ok);
    assert.equal(r.code, 'shader-invalid');
    assert.match(r.error, /shaders\/a\.fs: input "hue" is of TYPE image/);
  });

  it('inputs mapped to parameters this daemon does not declare leave the plugin out', async () => {
    await install('com.example.isf4', plasma, { hue: '/layer/3/nothing' });
    const r = await loadInstalledPlugin(f.home, 'com.example.isf4');
    if (!r.ok) assert.fail(r.error);
    const planned = planShaders([r.plugin], createRegistry(DEFAULT_PARAMS));
    assert.equal(planned.plan.size, 0);
    assert.deepEqual(
      planned.refused.map((x) => [x.id, x.code]),
      [['com.example.isf4', 'shader-input-undeclared']],
    );
  });
});
