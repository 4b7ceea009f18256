import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { DEFAULT_PARAMS, type ParamSpec } from '../../daemon/config/params-schema.ts';
import { checkValue } from '../../daemon/state/check-value.ts';
import { type AddressPattern, compilePattern } from '../../daemon/state/pattern.ts';
import type { ParamValue } from '../../plugins/api/hana-plugin.d.ts';
import { validateDisplayList } from '../../plugins/display-list.ts';
import { bundleExample, EXAMPLES_DIR, listExamples, OUTPUT } from '../../plugins/examples/build.ts';
import { type PluginManifest, parseManifest } from '../../plugins/manifest.ts';
import { generatePublisherKey, signPlugin, unlockSecretKey, verifyPlugin } from '../../plugins/signing.ts';
import { frameAt, type LoadedPlugin, loadPlugin } from './example-runner.ts';

// The example plugins: the committed bundles are what the sources build to, each manifest is
// valid, each runs in a real isolate for hundreds of frames returning valid display lists and
// writing only what it declares, and each signs and verifies with a key made here.

const run = promisify(execFile);
const EXPECTED = ['beat-strobe', 'geometry', 'lfo'];
/** The ISF examples: their picture is the shader (test/plugins/isf/examples.test.ts). */
const SHADERS = ['isf-plasma', 'isf-rings', 'isf-trails'];

type Example = { name: string; dir: string; manifest: PluginManifest; bundle: string };
const examples: Example[] = [];

const patterns = (sources: readonly string[]): AddressPattern[] =>
  sources.map((s) => {
    const r = compilePattern(s);
    assert.ok(r.ok, `pattern ${s}`);
    return r.pattern;
  });

/** Every declared parameter the manifest may read, with a value drawn by `pick`. */
function readable(manifest: PluginManifest, pick: (path: string, spec: ParamSpec) => ParamValue) {
  const reads = patterns(manifest.reads);
  const out: Record<string, ParamValue> = {};
  for (const [path, spec] of Object.entries(DEFAULT_PARAMS)) {
    if (reads.some((p) => p.match(path))) out[path] = pick(path, spec);
  }
  return out;
}

const defaultValue = (spec: ParamSpec): ParamValue => {
  if (spec.type === 'trigger') return null;
  if ('default' in spec && spec.default !== undefined) return spec.default;
  return spec.type === 'bool' ? false : spec.type === 'color' ? '#ffffffff' : spec.type === 'string' ? '' : 0;
};

/** A valid random value for a parameter spec, from a seeded generator. */
function randomValue(spec: ParamSpec, rnd: () => number): ParamValue {
  switch (spec.type) {
    case 'float':
      return (spec.min ?? -1000) + rnd() * ((spec.max ?? 1000) - (spec.min ?? -1000));
    case 'int':
      return Math.round((spec.min ?? -1000) + rnd() * ((spec.max ?? 1000) - (spec.min ?? -1000)));
    case 'bool':
      return rnd() < 0.5;
    case 'color':
      return `#${Math.floor(rnd() * 2 ** 32)
        .toString(16)
        .padStart(8, '0')}`;
    case 'string':
      return 'x'.repeat(Math.floor(rnd() * 10));
    case 'trigger':
      return null;
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

before(async () => {
  for (const name of await listExamples()) {
    const dir = join(EXAMPLES_DIR, name);
    const parsed = parseManifest(JSON.parse(await readFile(join(dir, 'plugin.json'), 'utf8')));
    assert.ok(parsed.ok, `${name}/plugin.json: ${parsed.ok ? '' : parsed.error}`);
    examples.push({
      name,
      dir,
      manifest: parsed.manifest,
      bundle: await readFile(join(dir, OUTPUT), 'utf8'),
    });
  }
});

test('the six examples are there, with valid manifests pointing at their bundle', () => {
  assert.deepEqual(
    examples.map((e) => e.name),
    [...EXPECTED, ...SHADERS].sort(),
  );
  for (const name of SHADERS) assert.ok(examples.find((e) => e.name === name)!.manifest.shaders, name);
  for (const e of examples) {
    assert.equal(e.manifest.entry, OUTPUT, e.name);
    assert.equal(
      e.manifest.publisher,
      '0000000000000000',
      `${e.name}: the bootstrap rewrites the placeholder`,
    );
    assert.match(e.manifest.id, /^hana\.examples\./);
  }
  const lfo = examples.find((e) => e.name === 'lfo')!;
  assert.deepEqual(lfo.manifest.writes, ['/layer/2/opacity']);
});

test('the committed dist/plugin.js of each example is exactly a fresh build of its source', async () => {
  for (const e of examples) {
    const fresh = await bundleExample(e.dir);
    assert.equal(e.bundle, fresh, `${e.name}/${OUTPUT} is stale: run \`npm run build:examples\``);
    assert.match(fresh, /^"use strict";\nvar plugin = \(\(\) => \{/, 'an IIFE defining the global `plugin`');
    assert.doesNotMatch(fresh, /sourceMappingURL|require\(|import\s*\(/);
  }
  // Building twice gives the same bytes (no timestamps, no absolute paths).
  const again = await bundleExample(examples[0]!.dir);
  assert.equal(again, examples[0]!.bundle);
  assert.ok(!again.includes(EXAMPLES_DIR), 'no absolute paths in the bundle');
});

test('the example sources type-check against the sandbox API alone (no Node, no DOM)', async () => {
  const tsc = join(EXAMPLES_DIR, '..', '..', 'node_modules', '.bin', 'tsc');
  const r = await run(tsc, ['-p', EXAMPLES_DIR], { timeout: 60_000 }).catch((err) => err);
  assert.equal(r.code ?? 0, 0, `tsc -p plugins/examples:\n${r.stdout}${r.stderr}`);
});

describe('each example in a real isolate', () => {
  const loaded = new Map<string, LoadedPlugin>();
  after(() => {
    for (const p of loaded.values()) p.dispose();
  });

  for (const name of EXPECTED) {
    test(`${name}: 400 frames of varying time, tempo and parameters give valid display lists and only declared writes`, async () => {
      const e = examples.find((x) => x.name === name)!;
      const p = await loadPlugin(e.bundle);
      loaded.set(name, p);
      const writes = patterns(e.manifest.writes);
      const checkWrites = (out: { writes: Array<[string, unknown]> }, where: string) => {
        for (const [path, value] of out.writes) {
          assert.ok(
            writes.some((w) => w.match(path)),
            `${where}: wrote ${path}, not in writes ${e.manifest.writes}`,
          );
          const spec = DEFAULT_PARAMS[path];
          assert.ok(spec, `${where}: ${path} is a declared parameter`);
          assert.ok(checkValue(spec, value as ParamValue).ok, `${where}: ${path} = ${value} is valid`);
        }
      };
      const setup = p.setup({ id: e.manifest.id, width: 1280, height: 720 });
      checkWrites(setup, 'setup');

      const rnd = seeded(name.length * 7919);
      let time = rnd() * 1000;
      let commands = 0;
      for (let i = 0; i < 400; i++) {
        // Mostly steady frames, sometimes a jump (a peer's clock correction) or a tempo change.
        time += rnd() < 0.05 ? (rnd() - 0.3) * 100 : 1 / 60;
        const tempo = i % 50 === 0 ? 20 + rnd() * 979 : 120;
        const params =
          i % 7 === 0
            ? {} // a parameter not yet known to the daemon
            : readable(e.manifest, (_, spec) => randomValue(spec, rnd));
        const size = i % 100 === 99 ? { width: 320, height: 1080 } : { width: 1280, height: 720 };
        const out = p.frame(frameAt(i, time, tempo, params, size));
        const v = validateDisplayList(out.list);
        assert.ok(v.ok, `${name} frame ${i}: ${v.ok ? '' : v.error}`);
        commands += v.commands.length;
        checkWrites(out, `${name} frame ${i}`);
      }
      // The LFO is a control: it writes and draws nothing (a clean demo, issue 16).
      if (name === 'lfo') assert.equal(commands, 0, 'the LFO draws nothing');
      else assert.ok(commands > 400, `${name} draws something (${commands} commands in 400 frames)`);
    });
  }

  test('any frame data at all: a valid display list or nothing, never a throw (property)', async () => {
    for (const e of examples) {
      const p = await loadPlugin(e.bundle);
      try {
        const value = fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.string(), fc.constant(null));
        fc.assert(
          fc.property(
            fc.double({ min: -1e6, max: 1e6, noNaN: true }),
            fc.double({ min: 20, max: 999, noNaN: true }),
            fc.dictionary(fc.constantFrom(...Object.keys(DEFAULT_PARAMS)), value),
            (time, tempo, params) => {
              const out = p.frame(frameAt(1, time, tempo, params as Record<string, ParamValue>));
              const v = validateDisplayList(out.list);
              assert.ok(v.ok, `${e.name}: ${v.ok ? '' : v.error}`);
            },
          ),
          { numRuns: 150, seed: 42 },
        );
      } finally {
        p.dispose();
      }
    }
  });

  test('two isolates given the same frame data draw the same picture (what two laptops rely on)', async () => {
    for (const e of examples) {
      const [a, b] = [await loadPlugin(e.bundle), await loadPlugin(e.bundle)];
      try {
        const rnd = seeded(99);
        for (let i = 0; i < 50; i++) {
          const info = frameAt(
            i,
            100 + i * 0.37,
            128,
            readable(e.manifest, (_, s) => randomValue(s, rnd)),
          );
          const [x, y] = [a.frame(info), b.frame(info)];
          assert.deepEqual(x.list, y.list, `${e.name} frame ${i}`);
          assert.deepEqual(x.writes, y.writes, `${e.name} frame ${i} writes`);
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    }
  });
});

test('with the default parameters of a fresh `hana start`, each example draws something', async () => {
  for (const e of examples.filter((x) => !x.manifest.shaders && x.name !== 'lfo')) {
    const p = await loadPlugin(e.bundle);
    try {
      const params = readable(e.manifest, (_, spec) => defaultValue(spec));
      for (const time of [0, 0.1, 1.7, 33.3]) {
        const v = validateDisplayList(p.frame(frameAt(0, time, 120, params)).list);
        assert.ok(v.ok && v.commands.length > 0, `${e.name} at ${time} s`);
      }
    } finally {
      p.dispose();
    }
  }
});

test('beat-strobe flashes on the beat and fades within the beat; its level, /layer/2/opacity, is left to the output mixer', async () => {
  const e = examples.find((x) => x.name === 'beat-strobe')!;
  const p = await loadPlugin(e.bundle);
  try {
    const flash = (beat: number, level: number) => {
      const info = frameAt(0, beat / 2, 120, { '/layer/2/opacity': level, '/layer/2/color': '#ff0000ff' });
      const list = p.frame(info).list as Array<Record<string, unknown>>;
      return list.find((c) => c.op === 'rect' && c.w === 1280 && c.h === 720);
    };
    const onBeat = flash(8, 1); // beat 8: first beat of a bar
    assert.ok(onBeat, 'a full-frame flash on the beat');
    assert.equal(onBeat.color, '#ff0000');
    assert.equal(onBeat.blend, 'add');
    assert.ok((onBeat.alpha as number) > 0.99);
    const offBar = flash(9, 1)!;
    assert.ok((offBar.alpha as number) < (onBeat.alpha as number), 'other beats of the bar hit softer');
    const late = flash(8.8, 1);
    assert.ok(!late || (late.alpha as number) < 0.01, 'faded by the end of the beat');
    // The manifest puts it on mixer channel 2: the page applies /layer/2/opacity to the whole
    // layer, so the plugin must not apply it a second time.
    assert.deepEqual(flash(8, 0), onBeat, 'the flash is the same at any /layer/2/opacity');
    assert.equal(e.manifest.layer, 2);
    // The beat counter is always drawn: four squares, the current one filled.
    const info = frameAt(0, 5.5 / 2, 120, {});
    const squares = (p.frame(info).list as Array<Record<string, unknown>>).filter(
      (c) => c.op === 'rect' && c.w !== 1280,
    );
    assert.equal(squares.length, 4);
    assert.deepEqual(
      squares.map((s) => s.fill),
      [false, true, false, false],
    );
  } finally {
    p.dispose();
  }
});

test('lfo sweeps /layer/2/opacity over 0–1 every eight beats, at most 20 writes per second', async () => {
  const e = examples.find((x) => x.name === 'lfo')!;
  const p = await loadPlugin(e.bundle);
  try {
    const setup = p.setup({ id: e.manifest.id, width: 1280, height: 720 });
    assert.equal(setup.logs.length, 1, 'setup says what it does');
    const values: number[] = [];
    // 8 beats at 120 bpm = 4 s = 240 frames.
    for (let i = 0; i <= 240; i++) {
      const out = p.frame(frameAt(i, i / 60, 120, {}));
      for (const [path, value] of out.writes) {
        assert.equal(path, '/layer/2/opacity');
        values.push(value as number);
      }
    }
    assert.ok(values.length <= 4 * 20 + 1, `${values.length} writes in 4 s`);
    assert.ok(values.length >= 40, `${values.length} writes: the wave is followed`);
    assert.ok(Math.min(...values) < 0.01 && Math.max(...values) > 0.99, 'the full range is swept');
  } finally {
    p.dispose();
  }
});

test('each example signs with a key generated here and verifies only against that key', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hana-examples-test-'));
  try {
    const gen = await generatePublisherKey('examples test passphrase');
    const other = await generatePublisherKey('another passphrase');
    const unlocked = await unlockSecretKey(gen.secretKeyFile, 'examples test passphrase');
    assert.ok(unlocked.ok);
    for (const e of examples) {
      const dir = join(root, e.name);
      await cp(e.dir, dir, { recursive: true });
      // What the installer's bootstrap does: put the local key's ID in, then sign.
      await writeFile(
        join(dir, 'plugin.json'),
        JSON.stringify({
          ...JSON.parse(await readFile(join(dir, 'plugin.json'), 'utf8')),
          publisher: gen.keyId,
        }),
      );
      const signed = await signPlugin(dir, unlocked.key);
      assert.ok(signed.ok, `${e.name}: ${signed.ok ? '' : signed.error}`);
      const good = await verifyPlugin(dir, new Map([[gen.keyId, gen.publicKey]]));
      assert.ok(good.ok, `${e.name}: ${good.ok ? '' : good.error}`);
      const bad = await verifyPlugin(dir, new Map([[other.keyId, other.publicKey]]));
      assert.equal(bad.ok ? 'verified' : bad.code, 'unknown-publisher');
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
