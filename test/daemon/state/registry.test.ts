import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import { createRegistry, type Resolved } from '../../../daemon/state/registry.ts';

// Resolution of addresses and address patterns against the declared parameters, and the
// bounded cache of compiled patterns.

const registry = createRegistry(DEFAULT_PARAMS);

function paths(r: Resolved): readonly string[] {
  if (!r.ok) assert.fail(`expected a resolution, got: ${r.reason}`);
  return r.paths;
}

describe('createRegistry', () => {
  it('lists the declared paths sorted and returns their specs', () => {
    assert.deepEqual(registry.paths, Object.keys(DEFAULT_PARAMS).sort());
    assert.equal(registry.paths.length, 26);
    assert.deepEqual(registry.get('/tempo'), DEFAULT_PARAMS['/tempo']);
    assert.equal(registry.get('/nope'), undefined);
    assert.equal(registry.get('/layer/1'), undefined);
  });

  it('works with no parameters at all', () => {
    const empty = createRegistry({});
    assert.deepEqual(empty.paths, []);
    assert.deepEqual(paths(empty.resolve('/a')), []);
    assert.deepEqual(paths(empty.resolve('//*')), []);
  });
});

describe('registry.resolve', () => {
  it('resolves an exact declared path to itself', () => {
    assert.deepEqual(paths(registry.resolve('/master/opacity')), ['/master/opacity']);
    assert.deepEqual(paths(registry.resolve('/strobe')), ['/strobe']);
  });

  it('resolves an unknown address to no paths (not an error)', () => {
    assert.deepEqual(registry.resolve('/nope'), { ok: true, paths: [] });
    assert.deepEqual(paths(registry.resolve('/layer/1')), []);
    assert.deepEqual(paths(registry.resolve('/master/opacity/x')), []);
    assert.deepEqual(paths(registry.resolve('/MASTER/OPACITY')), []);
  });

  it('resolves patterns to every matching path, sorted', () => {
    assert.deepEqual(paths(registry.resolve('/layer/*/opacity')), [
      '/layer/1/opacity',
      '/layer/2/opacity',
      '/layer/3/opacity',
      '/layer/4/opacity',
    ]);
    assert.deepEqual(paths(registry.resolve('/layer/[1-2]/{hue,color}')), [
      '/layer/1/color',
      '/layer/1/hue',
      '/layer/2/color',
      '/layer/2/hue',
    ]);
    assert.deepEqual(paths(registry.resolve('/layer/[!1-3]/?ue')), ['/layer/4/hue']);
    assert.deepEqual(paths(registry.resolve('/*')), ['/scene', '/strobe', '/tempo']);
  });

  it('resolves // patterns across levels', () => {
    assert.deepEqual(paths(registry.resolve('//opacity')), [
      '/layer/1/opacity',
      '/layer/2/opacity',
      '/layer/3/opacity',
      '/layer/4/opacity',
      '/master/opacity',
    ]);
    assert.deepEqual(paths(registry.resolve('//*')), registry.paths);
    assert.deepEqual(paths(registry.resolve('/layer//color')).length, 4);
  });

  it('resolves a pattern matching nothing to no paths', () => {
    assert.deepEqual(registry.resolve('/layer/*/nope'), { ok: true, paths: [] });
    assert.deepEqual(paths(registry.resolve('/layer/[5-9]/hue')), []);
  });

  it('reports a bad pattern with the reason', () => {
    assert.deepEqual(registry.resolve('master/opacity'), { ok: false, reason: 'does not start with "/"' });
    assert.deepEqual(registry.resolve('/layer/[1/hue'), { ok: false, reason: 'has "[" without "]"' });
    assert.deepEqual(registry.resolve('/layer/*/'), { ok: false, reason: 'ends with "/"' });
    assert.deepEqual(registry.resolve(`/${'*'.repeat(300)}`), {
      ok: false,
      reason: 'longer than 256 characters',
    });
  });

  it('gives the same answer for a pattern asked again (cached or not)', () => {
    const first = paths(registry.resolve('/layer/{1,3}/hue'));
    const again = paths(registry.resolve('/layer/{1,3}/hue'));
    assert.deepEqual(first, ['/layer/1/hue', '/layer/3/hue']);
    assert.deepEqual(again, first);
    const bad = registry.resolve('/{a');
    assert.deepEqual(registry.resolve('/{a'), bad);
    assert.equal(bad.ok, false);
  });
});

describe('registry.resolve: bounded pattern cache', () => {
  /** A distinct pattern per i that matches exactly one known layer's opacity. */
  const patternFor = (i: number) => `/layer/{${(i % 4) + 1},z${i}}/opacity`;
  const expected = (i: number) => [`/layer/${(i % 4) + 1}/opacity`];

  it('stays correct after thousands of distinct patterns, including re-asked early ones', () => {
    const r = createRegistry(DEFAULT_PARAMS);
    for (let i = 0; i < 3000; i++)
      assert.deepEqual(paths(r.resolve(patternFor(i))), expected(i), patternFor(i));
    for (let i = 0; i < 3000; i += 7) assert.deepEqual(paths(r.resolve(patternFor(i))), expected(i));
    // Exact paths and bad patterns still resolve correctly after the churn.
    assert.deepEqual(paths(r.resolve('/tempo')), ['/tempo']);
    assert.equal(r.resolve('/x]').ok, false);
  });

  it('does not keep every pattern ever seen', () => {
    // The cache hands back the same result object on a hit; after many other distinct patterns
    // the first one has been evicted and is resolved afresh (equal, but a new object).
    const r = createRegistry(DEFAULT_PARAMS);
    const first = r.resolve(patternFor(0));
    assert.equal(r.resolve(patternFor(0)), first, 'a repeated pattern is served from the cache');
    for (let i = 1; i <= 2000; i++) r.resolve(patternFor(i));
    const later = r.resolve(patternFor(0));
    assert.notEqual(later, first, 'an old pattern was evicted');
    assert.deepEqual(later, first);
  });
});
