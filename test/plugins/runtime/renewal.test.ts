import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultRenewMarkMb, hasLayers, lowMarkWaitMs } from '../../../plugins/runtime/renewal.ts';

// The pure parts of the plugin host's planned renewal; host-renewal.test.ts runs the real thing.

describe('renewal rules', () => {
  it('hasLayers: every expected layer, whatever else is there; junk is never a yes', () => {
    const frame = JSON.stringify({ index: 1, layers: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] });
    assert.equal(hasLayers(frame, new Set(['a', 'b'])), true);
    assert.equal(hasLayers(frame, new Set()), true);
    assert.equal(hasLayers(frame, new Set(['a', 'd'])), false);
    assert.equal(hasLayers('{"layers":', new Set()), false, 'cut JSON');
    assert.equal(hasLayers('{"layers":{"id":"a"}}', new Set(['a'])), false, 'layers not a list');
    assert.equal(hasLayers('[1,2]', new Set()), false);
    assert.equal(hasLayers('null', new Set()), false);
    assert.equal(
      hasLayers('{"layers":[null,7,{"id":"a"}]}', new Set(['a'])),
      true,
      'odd entries are skipped',
    );
  });

  it('a low mark doubles the wait, up to 1024 times the age', () => {
    assert.deepEqual(
      [1, 2, 3].map((n) => lowMarkWaitMs(1000, n)),
      [2000, 4000, 8000],
    );
    assert.equal(lowMarkWaitMs(1000, 50), 1_024_000);
  });

  it('the default mark is 60 % of the ceiling', () => {
    assert.equal(defaultRenewMarkMb(400), 240);
  });
});
