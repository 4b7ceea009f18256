import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { EXAMPLES_DIR } from '../../../plugins/examples/build.ts';
import { ISF_LIMITS, parseIsf } from '../../../plugins/isf/header.ts';
import { checkShaderInputs } from '../../../plugins/isf/inputs.ts';
import { parseManifest } from '../../../plugins/manifest.ts';

// ISF headers and their mapping to hana parameters: what the daemon accepts before a shader's
// source ever reaches a page, and each refusal with a reason a plugin author can act on.

const header = (h: unknown, body = 'void main() { gl_FragColor = vec4(1.0); }') =>
  `/*${JSON.stringify(h)}*/\n${body}\n`;

function refused(source: string, pattern: RegExp) {
  const r = parseIsf(source);
  assert.ok(!r.ok, 'refused');
  assert.match(r.error, pattern);
}

describe('parseIsf', () => {
  it('accepts the six input types, passes with persistent and float buffers, and fills defaults', () => {
    const r = parseIsf(
      header({
        ISFVSN: '2',
        INPUTS: [
          { NAME: 'level', TYPE: 'float', DEFAULT: 0.5, MIN: 0, MAX: 1 },
          { NAME: 'on', TYPE: 'bool', DEFAULT: true },
          { NAME: 'hit', TYPE: 'event' },
          { NAME: 'mode', TYPE: 'long', VALUES: [0, 1], LABELS: ['a', 'b'], DEFAULT: 1 },
          { NAME: 'tint', TYPE: 'color', DEFAULT: [1, 0, 0, 1] },
          { NAME: 'at', TYPE: 'point2D', DEFAULT: [0.5, 0.5] },
        ],
        PASSES: [{ TARGET: 'acc', PERSISTENT: true, FLOAT: true }, {}],
      }),
    );
    if (!r.ok) assert.fail(r.error);
    assert.deepEqual(
      r.shader.header.INPUTS.map((i) => i.TYPE),
      ['float', 'bool', 'event', 'long', 'color', 'point2D'],
    );
    assert.deepEqual(r.shader.header.PASSES[0], { TARGET: 'acc', PERSISTENT: true, FLOAT: true });
    const bare = parseIsf(header({}));
    if (!bare.ok) assert.fail(bare.error);
    assert.deepEqual(bare.shader.header.INPUTS, []);
    assert.deepEqual(bare.shader.header.PASSES, [{}]);
  });

  it('refuses a missing, unclosed or non-JSON header', () => {
    refused('void main() {}', /starts with a \/\* comment/);
    refused('/* {"INPUTS": [] ', /never closed/);
    refused('/* {INPUTS: [] } */', /not JSON/);
  });

  it('refuses wrong types: an unknown TYPE, image and audio inputs, a DEFAULT of the wrong kind', () => {
    refused(
      header({ INPUTS: [{ NAME: 'x', TYPE: 'vec3' }] }),
      /TYPE must be one of float, bool, long, color, point2D, event/,
    );
    refused(
      header({ INPUTS: [{ NAME: 'inputImage', TYPE: 'image' }] }),
      /TYPE image: hana has no image or audio inputs/,
    );
    refused(header({ INPUTS: [{ NAME: 'fft', TYPE: 'audioFFT' }] }), /audioFFT/);
    refused(header({ INPUTS: [{ NAME: 'x', TYPE: 'float', DEFAULT: 'big' }] }), /DEFAULT/);
    refused(header({ INPUTS: [{ NAME: 'c', TYPE: 'color', DEFAULT: [1, 0, 0] }] }), /DEFAULT/);
    refused(header({ INPUTS: [{ NAME: 'x', TYPE: 'float', COLOUR: 1 }] }), /COLOUR/);
  });

  it('refuses names that are not identifiers, are reserved, or repeat', () => {
    refused(header({ INPUTS: [{ NAME: 'two words', TYPE: 'float' }] }), /GLSL identifier/);
    refused(header({ INPUTS: [{ NAME: 'TIME', TYPE: 'float' }] }), /ISF declares itself/);
    refused(header({ INPUTS: [{ NAME: 'gl_Position', TYPE: 'float' }] }), /reserved/);
    refused(
      header({ INPUTS: [{ NAME: 'a', TYPE: 'float' }], PASSES: [{ TARGET: 'a' }, {}] }),
      /declared twice/,
    );
  });

  it('refuses what is over the limits: source size, passes, inputs; and WIDTH, IMPORTED, #version', () => {
    refused(header({}, `// ${'x'.repeat(ISF_LIMITS.sourceBytes)}`), /larger than 65536 bytes/);
    refused(
      header({ PASSES: [{ TARGET: 'a' }, { TARGET: 'b' }, { TARGET: 'c' }, { TARGET: 'd' }, {}] }),
      /at most 4 PASSES/,
    );
    const many = Array.from({ length: 33 }, (_, i) => ({ NAME: `in${i}`, TYPE: 'float' }));
    refused(header({ INPUTS: many }), /at most 32 INPUTS/);
    refused(header({ PASSES: [{ TARGET: 'half', WIDTH: '$WIDTH/2' }, {}] }), /WIDTH is not supported/);
    refused(header({ IMPORTED: { logo: { PATH: 'logo.png' } } }), /IMPORTED images are not supported/);
    refused(`${header({})}\n#version 300 es\n`, /#version/);
    refused(header({ PASSES: [{}, {}] }), /pass 0 has no TARGET/);
  });
});

describe('checkShaderInputs', () => {
  const registry = createRegistry(DEFAULT_PARAMS);
  const all = (_path: string) => true;
  const shader = parseIsf(
    header({
      INPUTS: [
        { NAME: 'level', TYPE: 'float' },
        { NAME: 'hit', TYPE: 'event' },
        { NAME: 'tint', TYPE: 'color' },
        { NAME: 'at', TYPE: 'point2D' },
      ],
    }),
  );
  if (!shader.ok) throw new Error(shader.error);
  const h = shader.shader.header;
  const check = (inputs: Record<string, string | [string, string]>, canRead = all) =>
    checkShaderInputs({ file: 'a.fs', inputs }, h, registry, canRead);

  it('accepts inputs mapped to declared parameters of a fitting type, point2D to two', () => {
    assert.deepEqual(
      check({
        level: '/layer/1/opacity',
        hit: '/strobe',
        tint: '/layer/1/color',
        at: ['/layer/1/hue', '/layer/2/hue'],
      }),
      { ok: true },
    );
  });

  it('refuses an input the shader does not declare, an undeclared parameter, a type that does not fit, and a parameter the plugin may not read', () => {
    const r1 = check({ speed: '/tempo' });
    assert.equal(!r1.ok && r1.code, 'shader-input-unknown');
    const r2 = check({ level: '/layer/9/opacity' });
    assert.equal(!r2.ok && r2.code, 'shader-input-undeclared');
    assert.match(!r2.ok ? r2.error : '', /\/layer\/9\/opacity, which is not a declared parameter/);
    const r3 = check({ tint: '/tempo' });
    assert.equal(!r3.ok && r3.code, 'shader-input-type');
    assert.match(!r3.ok ? r3.error : '', /tint is a color input but \/tempo is a float parameter/);
    const r4 = check({ hit: '/master/blackout' });
    assert.equal(!r4.ok && r4.code, 'shader-input-type');
    const r5 = check({ at: '/layer/1/hue' });
    assert.equal(!r5.ok && r5.code, 'shader-input-type');
    const r6 = check({ level: '/layer/1/opacity' }, (p) => p !== '/layer/1/opacity');
    assert.equal(!r6.ok && r6.code, 'shader-input-not-readable');
  });

  it('the manifest refuses a shader that is not a .fs file inside the plugin, or more than four', () => {
    const base = {
      id: 'com.example.s',
      name: 'S',
      version: '1.0.0',
      publisher: '0123456789abcdef',
      entry: 'dist/plugin.js',
    };
    const bad = parseManifest({ ...base, shaders: [{ file: '../x.fs' }] });
    assert.ok(!bad.ok);
    const notFs = parseManifest({ ...base, shaders: [{ file: 'x.glsl' }] });
    assert.ok(!notFs.ok && /ending in ".fs"/.test(notFs.error));
    const five = parseManifest({ ...base, shaders: Array.from({ length: 5 }, () => ({ file: 'a.fs' })) });
    assert.ok(!five.ok && /at most 4 shaders/.test(five.error));
  });

  it('every ISF example parses and its mapping fits the default parameters', async () => {
    for (const name of ['isf-plasma', 'isf-rings', 'isf-trails']) {
      const m = parseManifest(JSON.parse(await readFile(`${EXAMPLES_DIR}/${name}/plugin.json`, 'utf8')));
      if (!m.ok) assert.fail(m.error);
      for (const ref of m.manifest.shaders ?? []) {
        const r = parseIsf(await readFile(`${EXAMPLES_DIR}/${name}/${ref.file}`, 'utf8'));
        if (!r.ok) assert.fail(`${name}: ${r.error}`);
        assert.deepEqual(checkShaderInputs(ref, r.shader.header, registry, all), { ok: true }, name);
      }
    }
  });
});
