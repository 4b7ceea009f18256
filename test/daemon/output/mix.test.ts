import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CROSSFADE, changesTouchMix, mixPaths, touchesMix } from '../../../daemon/output/mix.ts';

// Which writes move the mix: the planned layers' opacity, blend and deck, and the crossfader;
// nothing else, however close its name.

describe('touchesMix', () => {
  const plan = new Map([
    ['com.example.a', 1],
    ['com.example.b', 3],
  ]);

  it('is true for the planned layers and the crossfader only', () => {
    for (const p of ['/layer/1/opacity', '/layer/1/blend', '/layer/3/deck', CROSSFADE])
      assert.ok(touchesMix(p, plan), p);
    for (const p of [
      '/layer/2/opacity',
      '/layer/1/hue',
      '/layer/1/opacity/x',
      '/layer/01/opacity',
      '/layer/1',
      '/master/opacity',
      '',
    ])
      assert.ok(!touchesMix(p, plan), p);
  });

  it('follows a new plan: the plugins changed, the plan was replaced', () => {
    assert.ok(!touchesMix('/layer/2/opacity', plan));
    const next = new Map([['com.example.c', 2]]);
    assert.ok(touchesMix('/layer/2/opacity', next));
    assert.ok(!touchesMix('/layer/1/opacity', next));
    assert.equal(mixPaths(next), mixPaths(next), 'listed once per plan');
    assert.deepEqual([...mixPaths(new Map())], [CROSSFADE]);
  });

  it('a batch touches the mix when any of its changes does, and an empty batch does not', () => {
    const at = (...paths: string[]) => paths.map((path) => ({ path }));
    assert.ok(changesTouchMix(at('/layer/1/hue', '/layer/3/deck'), plan));
    assert.ok(!changesTouchMix(at('/layer/1/hue', '/layer/2/opacity'), plan));
    assert.ok(!changesTouchMix([], plan));
  });
});
