import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCoalescer } from '../../../daemon/audit/coalesce.ts';
import type { Change } from '../../../daemon/state/store.ts';

const change = (source: string, value: number, path = '/a'): Change => ({
  path,
  value,
  previous: value - 1,
  stamp: { t: value, c: 0, node: 'n' },
  source,
  changed: true,
});
const brief = (records: ReturnType<ReturnType<typeof createCoalescer>['due']>) =>
  records.map((r) => `${r.writer} ${r.old}→${r.new}${r.coalesced ? ` ×${r.coalesced}` : ''}`);

describe('audit coalescing', () => {
  it("ends a window at its end on the audit's clock, not before", () => {
    const c = createCoalescer(1000);
    assert.equal(c.offer(change('plugin:lfo', 1), 0).length, 1);
    assert.deepEqual(c.offer(change('plugin:lfo', 2), 400), []);
    assert.deepEqual(c.offer(change('plugin:lfo', 3), 800), []);
    assert.deepEqual(c.due(999), []);
    assert.deepEqual(brief(c.due(1000)), ['plugin:lfo 1→3 ×2']);
    assert.deepEqual(c.due(5000), [], 'nothing twice');
    assert.equal(c.offer(change('plugin:lfo', 4), 1001).length, 1, 'the next change opens a new window');
  });

  it('keeps writers and paths apart, and records a person one change at a time', () => {
    const c = createCoalescer(1000);
    const now = [
      ...c.offer(change('plugin:a', 1), 0),
      ...c.offer(change('plugin:b', 1), 0),
      ...c.offer(change('plugin:a', 1, '/b'), 0),
      ...c.offer(change('peer:P', 1), 0),
      ...c.offer(change('peer:P', 2), 10),
      ...c.offer(change('cli', 1), 0),
      ...c.offer(change('cli', 2), 10),
      ...c.offer(change('scene:x', 3), 20),
    ];
    assert.deepEqual(brief(now), [
      'plugin:a 0→1',
      'plugin:b 0→1',
      'plugin:a 0→1',
      'peer:P 0→1',
      'cli 0→1',
      'cli 1→2',
      'scene:x 2→3',
    ]);
    assert.deepEqual(brief(c.due(Number.POSITIVE_INFINITY)), ['peer:P 1→2 ×1']);
  });

  it('windowMs 0 records every change', () => {
    const c = createCoalescer(0);
    assert.equal(c.offer(change('plugin:a', 1), 0).length, 1);
    assert.equal(c.offer(change('plugin:a', 2), 0).length, 1);
  });
});
