import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ConfigResult, loadConfig, parseConfig } from '../../../daemon/config/load.ts';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import type { ConfigInput } from '../../../daemon/config/schema.ts';

// Reading the config file: every way it can be wrong gives one message naming the file, and
// command-line overrides go through the same validation as the file.

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-config-test-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

function okConfig(r: ConfigResult) {
  if (!r.ok) assert.fail(r.error);
  return r;
}

function errorOf(r: ConfigResult): string {
  if (r.ok) assert.fail('expected an error');
  return r.error;
}

describe('parseConfig', () => {
  it('names the source on success and in errors', () => {
    assert.equal(okConfig(parseConfig({}, 'somewhere')).source, 'somewhere');
    assert.match(
      errorOf(parseConfig({ osc: { port: -5 } }, '/etc/hana.json')),
      /^invalid config in \/etc\/hana\.json:/,
    );
  });

  it('rejects non-objects', () => {
    assert.equal(parseConfig(null, 'x').ok, false);
    assert.equal(parseConfig(42, 'x').ok, false);
  });
});

describe('loadConfig', () => {
  it('without a file uses the embedded defaults', async () => {
    const r = okConfig(await loadConfig(undefined));
    assert.equal(r.source, 'embedded defaults');
    assert.equal(r.config.osc.port, 8000);
    assert.deepEqual(r.config.params, DEFAULT_PARAMS);
  });

  it('reads and validates a JSON file', async () => {
    const path = await file(
      'good.json',
      JSON.stringify({
        name: 'stage-left',
        osc: { port: 9001 },
        params: { '/x': { type: 'int', min: 0, max: 9 } },
      }),
    );
    const r = okConfig(await loadConfig(path));
    assert.equal(r.source, path);
    assert.equal(r.config.name, 'stage-left');
    assert.equal(r.config.osc.port, 9001);
    assert.deepEqual(r.config.params, { '/x': { type: 'int', min: 0, max: 9, outOfRange: 'clamp' } });
  });

  it('an empty JSON object is all defaults', async () => {
    const r = okConfig(await loadConfig(await file('empty.json', '{}\n')));
    assert.equal(r.config.osc.bind, '127.0.0.1');
  });

  it('a missing file is an error naming it', async () => {
    const path = join(dir, 'does-not-exist.json');
    const e = errorOf(await loadConfig(path));
    assert.ok(e.startsWith(`cannot read config file ${path}: `), e);
    assert.match(e, /ENOENT/);
  });

  it('a directory is an error naming it', async () => {
    const e = errorOf(await loadConfig(dir));
    assert.ok(e.startsWith(`cannot read config file ${dir}: `), e);
  });

  it('invalid JSON is an error naming the file', async () => {
    const path = await file('broken.json', '{ "osc": { "port": 9000, } ');
    const e = errorOf(await loadConfig(path));
    assert.ok(e.startsWith(`config file ${path} is not valid JSON: `), e);
  });

  it('an empty file is invalid JSON', async () => {
    const path = await file('zero.json', '');
    assert.match(errorOf(await loadConfig(path)), /is not valid JSON/);
  });

  it('a JSON array, null, string or number is not a config object', async () => {
    for (const [name, text] of [
      ['array.json', '[{"osc": {}}]'],
      ['null.json', 'null'],
      ['string.json', '"hello"'],
      ['number.json', '8000'],
    ] as const) {
      const path = await file(name, text);
      assert.equal(errorOf(await loadConfig(path)), `config file ${path} must hold a JSON object`, name);
    }
  });

  it('a schema error names the file and the field', async () => {
    const path = await file('bad.json', JSON.stringify({ osc: { bind: '0.0.0.0' } }));
    const e = errorOf(await loadConfig(path));
    assert.ok(e.startsWith(`invalid config in ${path}:\n`), e);
    assert.match(e, /at osc\.allow/);
  });

  it('applies overrides on top of the file before validating', async () => {
    const path = await file('base.json', JSON.stringify({ osc: { port: 9000, tcp: false } }));
    const seen: ConfigInput[] = [];
    const r = okConfig(
      await loadConfig(path, (input) => {
        seen.push(structuredClone(input));
        return { ...input, osc: { ...input.osc, port: 9100 } };
      }),
    );
    assert.deepEqual(seen, [{ osc: { port: 9000, tcp: false } }], 'the override sees the file as parsed');
    assert.equal(r.config.osc.port, 9100);
    assert.equal(r.config.osc.tcp, false, 'the rest of the file is kept');
  });

  it('overrides are validated too', async () => {
    const path = await file('base2.json', '{}');
    const e = errorOf(await loadConfig(path, (input) => ({ ...input, osc: { port: 70000 } })));
    assert.match(e, /at osc\.port/);
    const e2 = errorOf(await loadConfig(path, (input) => ({ ...input, osc: { bind: '0.0.0.0' } })));
    assert.match(e2, /osc\.allow/);
  });

  it('overrides apply to the embedded defaults when there is no file', async () => {
    const r = okConfig(await loadConfig(undefined, () => ({ osc: { port: 0 }, log: { level: 'debug' } })));
    assert.equal(r.config.osc.port, 0);
    assert.equal(r.config.log.level, 'debug');
    const e = errorOf(await loadConfig(undefined, () => ({ osc: { port: -1 } })));
    assert.match(e, /^invalid config in embedded defaults:/);
  });

  it('overrides are not applied when the file cannot be read', async () => {
    let called = false;
    const r = await loadConfig(join(dir, 'missing.json'), (i) => {
      called = true;
      return i;
    });
    assert.equal(r.ok, false);
    assert.equal(called, false);
  });
});
