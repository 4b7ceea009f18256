import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareSemver, type PluginManifest, parseManifest, parseSemver } from '../../plugins/manifest.ts';

// plugin.json comes out of a downloaded folder: every field is checked, unknown fields are
// errors, and a bad manifest is a typed error that says which field, never an exception.

const VALID = {
  id: 'com.example.strobe',
  name: 'Strobe',
  version: '1.2.3',
  publisher: '0123456789abcdef',
  entry: 'dist/index.js',
};

function accepted(json: unknown): PluginManifest {
  const r = parseManifest(json);
  if (!r.ok) assert.fail(r.error);
  return r.manifest;
}

function refused(json: unknown, field?: string): string {
  const r = parseManifest(json);
  if (r.ok) assert.fail(`expected ${JSON.stringify(json)} to be refused`);
  if (field) assert.match(r.error, new RegExp(`at ${field.replace(/[.[\]]/g, '\\$&')}`), r.error);
  return r.error;
}

const withField = (field: string, value: unknown) => ({ ...VALID, [field]: value });

describe('parseManifest: valid manifests', () => {
  it('fills defaults for a minimal manifest', () => {
    const m = accepted(VALID);
    assert.deepEqual(m, {
      ...VALID,
      reads: [],
      writes: [],
      limits: { memoryMb: 32, cpuMsPerFrame: 8, fps: 60 },
    });
  });

  it('keeps every field of a full manifest', () => {
    const full = {
      ...VALID,
      version: '2.0.0-rc.1',
      reads: ['/tempo', '/layer/*/opacity', '/layer/[1-4]/{hue,color}', '//blackout'],
      writes: ['/strobe'],
      limits: { memoryMb: 256, cpuMsPerFrame: 50, fps: 120 },
      description: 'Flashes on every beat.\nNeeds /tempo.',
    };
    assert.deepEqual(accepted(full), full);
  });

  it('fills only the missing limits', () => {
    assert.deepEqual(accepted(withField('limits', { fps: 30 })).limits, {
      memoryMb: 32,
      cpuMsPerFrame: 8,
      fps: 30,
    });
  });

  it('accepts boundary values', () => {
    accepted(withField('id', 'a.b'));
    accepted(withField('id', 'x'.repeat(64)));
    accepted(withField('id', 'org.hana-vj.fx2'));
    accepted(withField('name', 'n'.repeat(64)));
    accepted(withField('entry', 'index.mjs'));
    accepted(withField('limits', { memoryMb: 8, cpuMsPerFrame: 1, fps: 1 }));
    accepted(
      withField(
        'reads',
        Array.from({ length: 64 }, (_, i) => `/p/${i}`),
      ),
    );
  });
});

describe('parseManifest: each invalid field', () => {
  it('never throws on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        assert.equal(typeof parseManifest(v).ok, 'boolean');
      }),
    );
    for (const v of [null, undefined, 'plugin', 42, [], [VALID]]) refused(v);
  });

  it('refuses unknown fields, top-level and in limits', () => {
    assert.match(refused({ ...VALID, permissions: ['all'] }), /permissions/);
    assert.match(refused(withField('limits', { memoryMb: 32, gpu: true })), /gpu/);
  });

  it('requires id, name, version, publisher and entry', () => {
    for (const field of ['id', 'name', 'version', 'publisher', 'entry']) {
      const { [field as keyof typeof VALID]: _, ...rest } = VALID;
      refused(rest, field);
    }
  });

  it('id: reverse-DNS-ish, 3–64 chars', () => {
    for (const id of [
      'ab',
      'x'.repeat(65),
      'Com.Example',
      'com_example',
      'com example',
      '...',
      '.com.x',
      'com..x',
      'com.x.',
      '-ab',
      'a/b',
    ]) {
      refused(withField('id', id), 'id');
    }
    refused(withField('id', 7), 'id');
  });

  it('name: 1–64 chars without control characters', () => {
    for (const name of ['', ' ', 'n'.repeat(65), 'bad\x1b[2Jname', 'tab\there'])
      refused(withField('name', name), 'name');
  });

  it('the attacker: names and descriptions that would look like something else on a terminal are refused, naming the character', () => {
    const cases: [string, RegExp][] = [
      ['Strobe\u202Egnp.exe', /bidirectional override or mark \(U\+202E/], // right-to-left override
      ['\u2066Strobe\u2069', /bidirectional/], // isolates
      ['Stro\u200Bbe', /invisible \(zero-width\) character \(U\+200B/],
      ['Strobe\uFEFF', /invisible/],
      ['Strobe\u2060', /invisible/],
      ['Str\u00ADobe', /invisible/], // soft hyphen
      ['Strobe\u009B2J', /C1 control character \(U\+009B/], // CSI as one C1 character
      ['Strobe\u0085next', /C1 control/],
      ['Strobe\u2028second line', /line or paragraph separator/],
      ['Strobe\u{E0041}', /invisible/], // tag characters
      ['bad\x1b[2Jname', /control character \(U\+001B/],
    ];
    for (const [text, why] of cases) {
      assert.match(refused(withField('name', text), 'name'), why, JSON.stringify(text));
      assert.match(refused(withField('description', `fine\n${text}`), 'description'), why);
    }
    // Letters of any script, emoji without joiners and newlines in a description are fine.
    accepted(withField('name', 'Strobe ストロボ 🎛 Ünïcödé'));
    accepted(withField('description', 'שלום\nمرحبا'));
  });

  it('version: semver without build metadata', () => {
    for (const v of [
      '1',
      '1.2',
      '1.2.3.4',
      'v1.2.3',
      '01.2.3',
      '1.02.3',
      '1.2.03',
      '1.2.3-',
      '1.2.3-a..b',
      '1.2.3-01',
      '1.2.3+build',
      ' 1.2.3',
      '1.2.3-α',
      '99999999999999999.0.0',
    ]) {
      refused(withField('version', v), 'version');
    }
  });

  it('publisher: 16 lowercase hex characters', () => {
    for (const p of ['0123456789ABCDEF', '0123456789abcde', '0123456789abcdef0', 'g123456789abcdef']) {
      refused(withField('publisher', p), 'publisher');
    }
  });

  it('entry: a relative path inside the plugin, to a .js file', () => {
    const bad = [
      '/etc/passwd.js',
      '../index.js',
      'dist/../../index.js',
      'dist/..',
      '..',
      'dist\\index.js',
      '..\\index.js',
      'dist/\0.js',
      'dist//index.js',
      './index.js',
      '',
      'index.ts',
      'dist/\x1b[0mindex.js',
    ];
    for (const entry of bad) refused(withField('entry', entry), 'entry');
    assert.match(refused(withField('entry', '../up.js')), /"\.\." segment/);
    assert.match(refused(withField('entry', '/abs.js')), /absolute/);
    assert.match(refused(withField('entry', 'a\\b.js')), /backslash/);
    assert.match(refused(withField('entry', 'a\0.js')), /NUL/);
  });

  it('reads/writes: OSC address patterns, at most 64', () => {
    for (const field of ['reads', 'writes']) {
      for (const pattern of ['tempo', '/layer/[1-4', '/layer/{a,b', '/a}', '/a//', `/${'x'.repeat(300)}`]) {
        assert.match(refused(withField(field, [pattern]), `${field}[0]`), /not an OSC address pattern/);
      }
      refused(withField(field, '/tempo'), field);
      refused(withField(field, [42]), `${field}[0]`);
      refused(
        withField(
          field,
          Array.from({ length: 65 }, (_, i) => `/p/${i}`),
        ),
        field,
      );
    }
  });

  it('limits: integers in range', () => {
    const cases: [string, unknown][] = [
      ['memoryMb', 7],
      ['memoryMb', 257],
      ['memoryMb', 32.5],
      ['cpuMsPerFrame', 0],
      ['cpuMsPerFrame', 51],
      ['fps', 0],
      ['fps', 121],
      ['fps', '60'],
    ];
    for (const [k, v] of cases) refused(withField('limits', { [k]: v }), `limits.${k}`);
    refused(withField('limits', null), 'limits');
  });

  it('description: at most 1024 chars, newlines allowed, other controls not', () => {
    accepted(withField('description', 'line one\nline two'));
    refused(withField('description', 'd'.repeat(1025)), 'description');
    refused(withField('description', 'bell\x07'), 'description');
    refused(withField('description', 5), 'description');
  });
});

describe('semver', () => {
  it('orders the semver.org precedence example', () => {
    const chain = [
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-beta',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
    ];
    for (let i = 0; i < chain.length; i++) {
      for (let j = 0; j < chain.length; j++) {
        assert.equal(compareSemver(chain[i]!, chain[j]!), Math.sign(i - j), `${chain[i]} vs ${chain[j]}`);
      }
    }
  });

  it('compares major, minor and patch numerically', () => {
    const chain = [
      '0.0.0',
      '0.0.9',
      '0.0.10',
      '0.1.0',
      '0.10.0',
      '1.0.0',
      '2.0.0',
      '2.1.0',
      '2.1.1',
      '10.0.0',
    ];
    for (let i = 1; i < chain.length; i++) {
      assert.equal(compareSemver(chain[i - 1]!, chain[i]!), -1, `${chain[i - 1]} < ${chain[i]}`);
      assert.equal(compareSemver(chain[i]!, chain[i - 1]!), 1);
    }
    assert.equal(compareSemver('1.0.0-rc.1', '0.9.9'), 1, 'the core version decides before the pre-release');
    assert.equal(compareSemver('1.0.0-1', '1.0.0-a'), -1, 'numeric identifiers sort first');
    assert.equal(compareSemver('1.0.0-A', '1.0.0-a'), -1, 'ASCII order');
  });

  it('parses into parts', () => {
    assert.deepEqual(parseSemver('1.2.3-beta.11.x-y'), {
      major: 1,
      minor: 2,
      patch: 3,
      prerelease: ['beta', 11, 'x-y'],
    });
    assert.deepEqual(parseSemver('0.0.0'), { major: 0, minor: 0, patch: 0, prerelease: [] });
    assert.deepEqual(parseSemver('1.0.0-0a'), { major: 1, minor: 0, patch: 0, prerelease: ['0a'] });
    assert.equal(parseSemver('1.0.0-00'), undefined);
    assert.equal(parseSemver(`1.0.0-${'a'.repeat(64)}`), undefined);
  });

  it('throws RangeError when handed a non-version (a programmer error)', () => {
    assert.throws(() => compareSemver('1.0', '1.0.0'), RangeError);
  });

  it('is a total order (property)', () => {
    const ident = fc.oneof(
      fc.nat({ max: 20 }).map(String),
      fc.constantFrom('alpha', 'beta', 'rc', 'a-b', 'x1'),
    );
    const version = fc
      .tuple(fc.nat({ max: 3 }), fc.nat({ max: 3 }), fc.nat({ max: 3 }), fc.array(ident, { maxLength: 3 }))
      .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre.length ? `-${pre.join('.')}` : ''}`);
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        assert.equal(compareSemver(a, b), -compareSemver(b, a) || 0);
        assert.equal(compareSemver(a, b) === 0, a === b);
        if (compareSemver(a, b) <= 0 && compareSemver(b, c) <= 0) assert.ok(compareSemver(a, c) <= 0);
      }),
    );
  });
});
