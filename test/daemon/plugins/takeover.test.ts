import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTakeover } from '../../../daemon/plugins/takeover.ts';
import { ZERO_STAMP } from '../../../daemon/state/hlc.ts';
import { isHumanSource } from '../../../daemon/state/human-source.ts';
import type { Change } from '../../../daemon/state/store.ts';

const change = (path: string, source: string): Change => ({
  path,
  value: 1,
  previous: 0,
  stamp: ZERO_STAMP,
  source,
  changed: true,
});

describe('takeover', () => {
  it('counts OSC, MIDI, the CLI and scenes as people; plugins, peers, sync corrections and defaults as automation', () => {
    for (const s of [
      'osc:udp:127.0.0.1:9000',
      'osc:ws:127.0.0.1:5',
      'midi:nanoKONTROL2',
      'cli',
      'scene:intro',
    ])
      assert.equal(isHumanSource(s), true, s);
    for (const s of [
      'plugin:hana.examples.lfo',
      'peer:ABCD',
      'peer:ABCD:via:EFGH',
      'sync:correction',
      'default',
    ])
      assert.equal(isHumanSource(s), false, s);
  });

  it('holds a path for holdMs after a human write, to the millisecond, and only that path', () => {
    let now = 5000;
    const t = createTakeover({ holdMs: 2000, now: () => now });
    t.observe([change('/a', 'plugin:x'), change('/b', 'peer:P')]);
    assert.equal(t.held('/a'), false, 'automation takes nothing over');
    assert.equal(t.held('/b'), false);
    t.observe([change('/a', 'cli')]);
    assert.equal(t.held('/a'), true);
    assert.equal(t.held('/b'), false);
    now += 1999;
    assert.equal(t.held('/a'), true);
    now += 1;
    assert.equal(t.held('/a'), false);
    t.observe([change('/a', 'midi:pad')]);
    now += 1000;
    t.observe([change('/a', 'osc:udp:1.2.3.4:5')]);
    now += 1500;
    assert.equal(t.held('/a'), true, 'a new touch restarts the hold');
  });

  it('a person on a linked peer (touch, from the sync gate) holds the path as a local person does', () => {
    let now = 0;
    const t = createTakeover({ holdMs: 2000, now: () => now });
    t.touch('/layer/2/opacity');
    now += 1999;
    assert.equal(t.held('/layer/2/opacity'), true);
    assert.equal(t.held('/layer/1/opacity'), false);
    now += 1;
    assert.equal(t.held('/layer/2/opacity'), false);
  });

  it('holds nothing with holdMs 0', () => {
    const t = createTakeover({ holdMs: 0, now: () => 0 });
    t.observe([change('/a', 'cli')]);
    t.touch('/b');
    assert.equal(t.held('/a'), false);
    assert.equal(t.held('/b'), false);
  });
});
