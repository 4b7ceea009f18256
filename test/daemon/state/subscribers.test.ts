import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { type Change, createStore } from '../../../daemon/state/store.ts';
import { createSubscribers } from '../../../daemon/state/subscribers.ts';

// Change subscribers: those bound to paths are passed over, with no call, for batches that do
// not touch them (issue 18: subscribers that record nothing cost nothing); everyone else sees
// every batch, and all are called in the order they subscribed.

const change = (path: string): Change => ({
  path,
  value: 1,
  previous: 0,
  stamp: { t: 1, c: 0, node: 'n' },
  source: 'cli',
  changed: true,
});

describe('change subscribers', () => {
  it('calls a path-bound listener only for batches touching its paths, with the whole batch, in subscription order', () => {
    const subs = createSubscribers();
    const calls: string[] = [];
    subs.add((cs) => calls.push(`all:${cs.map((c) => c.path).join('+')}`));
    subs.add((cs) => calls.push(`tempo:${cs.map((c) => c.path).join('+')}`), { paths: ['/tempo'] });
    subs.add((cs) => calls.push(`last:${cs.length}`));
    subs.notify([change('/layer/1/opacity')]);
    assert.deepEqual(calls, ['all:/layer/1/opacity', 'last:1']);
    calls.length = 0;
    subs.notify([change('/layer/1/opacity'), change('/tempo')]);
    assert.deepEqual(calls, ['all:/layer/1/opacity+/tempo', 'tempo:/layer/1/opacity+/tempo', 'last:2']);
  });

  it('a path another listener watches does not wake one bound to other paths', () => {
    const subs = createSubscribers();
    const calls: string[] = [];
    subs.add(() => calls.push('tempo'), { paths: ['/tempo'] });
    subs.add(() => calls.push('master'), { paths: ['/master/opacity', '/master/blackout'] });
    subs.notify([change('/master/blackout')]);
    assert.deepEqual(calls, ['master']);
  });

  it('unsubscribing ends its calls and its watch, not another listener on the same path; twice is harmless', () => {
    const subs = createSubscribers();
    const calls: string[] = [];
    const offA = subs.add(() => calls.push('a'), { paths: ['/tempo'] });
    subs.add(() => calls.push('b'), { paths: ['/tempo'] });
    offA();
    offA();
    subs.notify([change('/tempo')]);
    assert.deepEqual(calls, ['b']);
    assert.equal(subs.size, 1);
  });

  it('the same listener twice is one subscription; its first unsubscribe ends it', () => {
    const subs = createSubscribers();
    let n = 0;
    const fn = () => n++;
    const off = subs.add(fn);
    subs.add(fn, { paths: ['/tempo'] });
    subs.notify([change('/x')]);
    assert.equal(n, 1, 'the first subscription (every batch) stands');
    off();
    subs.notify([change('/x')]);
    assert.equal(n, 1);
  });

  it('a listener that throws is reported and the rest are still called', () => {
    const errors: unknown[] = [];
    const subs = createSubscribers((err) => errors.push(err));
    const calls: string[] = [];
    subs.add(() => {
      throw new Error('boom');
    });
    subs.add(() => calls.push('after'), { paths: ['/x'] });
    subs.notify([change('/x')]);
    assert.deepEqual(calls, ['after']);
    assert.equal((errors[0] as Error).message, 'boom');
  });

  it('through the store: a write to another parameter never calls a listener bound to /tempo', () => {
    const registry = createRegistry({
      '/tempo': { type: 'float', min: 20, max: 300, outOfRange: 'clamp' },
      '/layer/1/opacity': { type: 'float', min: 0, max: 1, outOfRange: 'clamp' },
    });
    const store = createStore({ registry, hlc: createHlc({ node: 'n1' }) });
    const seen: string[][] = [];
    store.subscribe((cs) => seen.push(cs.map((c) => c.path)), { paths: ['/tempo'] });
    for (let i = 0; i < 100; i++)
      store.apply([{ path: '/layer/1/opacity', value: i / 100 }], 'osc:udp:127.0.0.1:9000');
    assert.deepEqual(seen, []);
    store.apply([{ path: '/tempo', value: 128 }], 'cli');
    assert.deepEqual(seen, [['/tempo']]);
  });
});
