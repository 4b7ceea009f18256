import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import type { Value } from '../../../daemon/state/coerce.ts';
import { compareStamps, createHlc, type Stamp, ZERO_STAMP } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { type Change, createStore, type Entry, type StoreInit } from '../../../daemon/state/store.ts';
import { PERSON_LEAD_MS } from '../../../daemon/state/write-order.ts';

// The LWW store: defaults, local batches, notifications, and merge of replicated entries,
// with a fake wall clock so every stamp is known in advance.

const PARAMS = ParamMap.parse({
  '/a': { type: 'float', min: 0, max: 1, default: 0.5 },
  '/b': { type: 'int', min: 10, max: 20 },
  '/c': { type: 'color' },
  '/s': { type: 'string' },
  '/on': { type: 'bool', default: true },
  '/t': { type: 'trigger' },
});

function setup(init: Partial<StoreInit> = {}, node = 'n1') {
  let clock = 1_000_000;
  const hlc = createHlc({ node, now: () => clock });
  const store = createStore({ registry: createRegistry(PARAMS), hlc, ...init });
  const batches: (readonly Change[])[] = [];
  store.subscribe((c) => batches.push(c));
  return {
    store,
    hlc,
    batches,
    setClock: (t: number) => {
      clock = t;
    },
  };
}

const remote = (value: Value, t: number, c: number, node: string, source = `peer:${node}`): Entry => ({
  value,
  stamp: { t, c, node },
  source,
});

describe('createStore: defaults', () => {
  it('holds every declared path at its initial value, ZERO_STAMP, source "default"', () => {
    const { store } = setup();
    const all = new Map(store.entries());
    assert.deepEqual([...all.keys()].sort(), ['/a', '/b', '/c', '/on', '/s', '/t']);
    assert.deepEqual(store.get('/a'), { value: 0.5, stamp: ZERO_STAMP, source: 'default' });
    assert.equal(store.get('/b')?.value, 10);
    assert.equal(store.get('/c')?.value, '#000000ff');
    assert.equal(store.get('/s')?.value, '');
    assert.equal(store.get('/on')?.value, true);
    assert.equal(store.get('/t')?.value, null);
    assert.equal(store.get('/nope'), undefined);
  });
});

describe('store.apply', () => {
  it('applies a batch with one stamp each and one notification holding all changes', () => {
    const { store, batches } = setup();
    const changes = store.apply(
      [
        { path: '/a', value: 0.25 },
        { path: '/b', value: 12 },
        { path: '/c', value: '#ff0000ff' },
      ],
      'cli',
    );
    assert.deepEqual(changes, [
      {
        path: '/a',
        value: 0.25,
        previous: 0.5,
        stamp: { t: 1_000_000, c: 0, node: 'n1' },
        source: 'cli',
        human: true,
        changed: true,
      },
      {
        path: '/b',
        value: 12,
        previous: 10,
        stamp: { t: 1_000_000, c: 1, node: 'n1' },
        source: 'cli',
        human: true,
        changed: true,
      },
      {
        path: '/c',
        value: '#ff0000ff',
        previous: '#000000ff',
        stamp: { t: 1_000_000, c: 2, node: 'n1' },
        source: 'cli',
        human: true,
        changed: true,
      },
    ]);
    assert.equal(batches.length, 1);
    assert.deepEqual(batches[0], changes);
    assert.deepEqual(store.get('/b'), {
      value: 12,
      stamp: { t: 1_000_000, c: 1, node: 'n1' },
      source: 'cli',
      human: true,
    });
  });

  it('stamps later batches after earlier ones', () => {
    const { store, setClock } = setup();
    const [first] = store.apply([{ path: '/a', value: 0.1 }], 'cli');
    setClock(999_000); // the wall clock stepping back changes nothing
    const [second] = store.apply([{ path: '/a', value: 0.2 }], 'cli');
    assert.equal(compareStamps(first!.stamp, second!.stamp), -1);
  });

  it('a write of the same value is recorded but marked unchanged', () => {
    const { store, batches } = setup();
    const [c] = store.apply([{ path: '/a', value: 0.5 }], 'osc');
    assert.equal(c!.changed, false);
    assert.equal(c!.previous, 0.5);
    assert.equal(store.get('/a')?.source, 'osc');
    assert.equal(batches.length, 1, 'a re-send is still notified (feedback may need it)');
  });

  it('a trigger is always changed', () => {
    const { store } = setup();
    const [c1] = store.apply([{ path: '/t', value: null }], 'osc');
    const [c2] = store.apply([{ path: '/t', value: null }], 'osc');
    assert.equal(c1!.changed, true);
    assert.equal(c2!.changed, true);
  });

  it('the same path twice in one batch: both recorded, the last wins', () => {
    const { store, batches } = setup();
    const changes = store.apply(
      [
        { path: '/a', value: 0.1 },
        { path: '/a', value: 0.2 },
      ],
      'cli',
    );
    assert.deepEqual(
      changes.map((c) => [c.previous, c.value]),
      [
        [0.5, 0.1],
        [0.1, 0.2],
      ],
    );
    assert.equal(store.get('/a')?.value, 0.2);
    assert.equal(batches.length, 1);
  });

  it('an empty batch changes nothing and notifies no one', () => {
    const { store, batches } = setup();
    assert.deepEqual(store.apply([], 'cli'), []);
    assert.equal(batches.length, 0);
  });

  it('an undeclared path is a programmer error and applies nothing of the batch', () => {
    const { store, batches } = setup();
    assert.throws(
      () =>
        store.apply(
          [
            { path: '/a', value: 0.9 },
            { path: '/nope', value: 1 },
          ],
          'cli',
        ),
      /undeclared path \/nope/,
    );
    assert.equal(store.get('/a')?.value, 0.5);
    assert.deepEqual(store.get('/a')?.stamp, ZERO_STAMP);
    assert.equal(batches.length, 0);
  });
});

describe('store.merge', () => {
  it('applies a newer remote entry and notifies it', () => {
    const { store, batches } = setup();
    const change = store.merge('/a', remote(0.9, 1_000_000, 0, 'n2'));
    assert.deepEqual(change, {
      path: '/a',
      value: 0.9,
      previous: 0.5,
      stamp: { t: 1_000_000, c: 0, node: 'n2' },
      source: 'peer:n2',
      changed: true,
    });
    assert.deepEqual(batches, [[change]]);
    assert.deepEqual(store.get('/a'), remote(0.9, 1_000_000, 0, 'n2'));
  });

  it('ignores an entry older than the current one', () => {
    const { store, batches } = setup();
    store.apply([{ path: '/a', value: 0.1 }], 'cli'); // (1_000_000, 0, n1)
    assert.equal(store.merge('/a', remote(0.9, 999_999, 5, 'n2')), undefined);
    assert.equal(store.merge('/a', remote(0.9, 1_000_000, 0, 'n0')), undefined);
    assert.equal(store.get('/a')?.value, 0.1);
    assert.equal(batches.length, 1);
  });

  it('breaks a stamp tie by node ID', () => {
    const { store } = setup();
    store.apply([{ path: '/a', value: 0.1 }], 'cli'); // (1_000_000, 0, n1), a person's
    // Peers' people's writes: among people, the stamp decides.
    assert.equal(store.merge('/a', { ...remote(0.2, 1_000_000, 0, 'n0'), human: true }), undefined);
    assert.equal(
      store.merge('/a', { ...remote(0.1, 1_000_000, 0, 'n1'), human: true }),
      undefined,
      'an equal write is no news',
    );
    const won = store.merge('/a', { ...remote(0.4, 1_000_000, 0, 'n2'), human: true });
    assert.equal(won?.value, 0.4);
    assert.equal(store.get('/a')?.value, 0.4);
  });

  it('ranks two values under one stamp (an equivocating origin) by the value, the same on every daemon', () => {
    for (const order of [
      [0.3, 0.7],
      [0.7, 0.3],
    ]) {
      const { store } = setup();
      for (const v of order) store.merge('/a', remote(v, 1_000_000, 4, 'n2'));
      assert.equal(store.get('/a')?.value, 0.7, `arrival order ${order.join(', ')}`);
    }
  });

  it('any real stamp beats the declared default', () => {
    const { store } = setup();
    assert.equal(store.merge('/b', remote(15, 0, 1, 'n2'))?.value, 15);
    assert.equal(store.merge('/c', remote('#ffffffff', 0, 0, 'a'))?.value, '#ffffffff');
  });

  it('marks an equal value unchanged, a trigger always changed', () => {
    const { store } = setup();
    assert.equal(store.merge('/a', remote(0.5, 1_000_000, 0, 'n2'))?.changed, false);
    assert.equal(store.merge('/t', remote(null, 1_000_000, 0, 'n2'))?.changed, true);
  });

  it('ignores undeclared paths', () => {
    const { store, batches } = setup();
    assert.equal(store.merge('/nope', remote(1, 1_000_000, 0, 'n2')), undefined);
    assert.equal(store.get('/nope'), undefined);
    assert.equal(batches.length, 0);
  });

  it('advances the local clock so later local writes win over what was merged', () => {
    const { store } = setup();
    store.merge('/a', remote(0.9, 1_001_500, 4, 'n2')); // 1.5 s ahead of our wall clock, inside the 2 s bound
    const [mine] = store.apply([{ path: '/a', value: 0.1 }], 'cli');
    assert.deepEqual(mine!.stamp, { t: 1_001_500, c: 6, node: 'n1' });
    assert.equal(store.get('/a')?.value, 0.1);
  });

  it('refuses an entry stamped too far ahead of our clock (it would outlive every local write)', () => {
    const { store, hlc, batches } = setup();
    const before = hlc.peek();
    assert.equal(store.merge('/a', remote(0.9, 1_000_000 + 3_600_000, 0, 'n2')), undefined);
    assert.equal(store.get('/a')?.value, 0.5);
    assert.deepEqual(hlc.peek(), before);
    assert.equal(batches.length, 0);
  });

  it('two peers that both see a far-future entry and then a local write still agree', () => {
    const a = setup({}, 'na');
    const b = setup({}, 'nb');
    const future = remote(0.9, 1_000_000 + 3_600_000, 0, 'nc');
    a.store.merge('/a', future);
    b.store.merge('/a', future);
    const [local] = a.store.apply([{ path: '/a', value: 0.1 }], 'cli');
    b.store.merge('/a', { value: local!.value, stamp: local!.stamp, source: 'peer:na' });
    assert.equal(a.store.get('/a')?.value, 0.1);
    assert.equal(b.store.get('/a')?.value, 0.1);
  });

  it('refuses an entry whose stamp is not a number (NaN would beat every stamp)', () => {
    const { store } = setup();
    assert.equal(store.merge('/a', remote(0.9, Number.NaN, 0, 'n2')), undefined);
    assert.equal(store.get('/a')?.value, 0.5);
    assert.equal(store.merge('/a', remote(0.8, 1_000_000, 0, 'n2'))?.value, 0.8);
  });
});

describe('store.subscribe', () => {
  it('a throwing subscriber does not break apply or merge, others still run, the error is reported', () => {
    const errors: unknown[] = [];
    const { store, batches } = setup({ onSubscriberError: (e) => errors.push(e) });
    const boom = new Error('boom');
    store.subscribe(() => {
      throw boom;
    });
    const after: (readonly Change[])[] = [];
    store.subscribe((c) => after.push(c));

    const changes = store.apply([{ path: '/a', value: 0.3 }], 'cli');
    assert.equal(changes.length, 1);
    assert.equal(store.get('/a')?.value, 0.3);
    assert.equal(batches.length, 1);
    assert.deepEqual(after, [changes]);
    assert.deepEqual(errors, [boom]);

    const merged = store.merge('/b', remote(11, 1_000_500, 0, 'n2'));
    assert.equal(merged?.value, 11);
    assert.equal(errors.length, 2);
    assert.equal(after.length, 2);
  });

  it('a throwing subscriber without an error handler is swallowed', () => {
    const { store } = setup();
    store.subscribe(() => {
      throw new Error('boom');
    });
    assert.equal(store.apply([{ path: '/a', value: 0.3 }], 'cli').length, 1);
    assert.equal(store.get('/a')?.value, 0.3);
  });

  it('unsubscribe stops notifications; calling it twice is harmless', () => {
    const { store } = setup();
    const seen: (readonly Change[])[] = [];
    const off = store.subscribe((c) => seen.push(c));
    store.apply([{ path: '/a', value: 0.1 }], 'cli');
    off();
    off();
    store.apply([{ path: '/a', value: 0.2 }], 'cli');
    store.merge('/a', { ...remote(0.9, 1_000_100, 0, 'n2'), human: true });
    assert.equal(store.get('/a')?.value, 0.9, 'the merge itself happened');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]![0]!.value, 0.1);
  });
});

describe('store.merge: convergence', () => {
  type Remote = { path: string; value: number; stamp: Stamp };
  const PATHS = ['/a', '/b', '/s'];
  const arbRemote: fc.Arbitrary<Remote> = fc.record({
    path: fc.constantFrom(...PATHS),
    value: fc.integer({ min: 0, max: 1000 }),
    stamp: fc.record({
      t: fc.integer({ min: 0, max: 30 }),
      c: fc.integer({ min: 0, max: 3 }),
      node: fc.constantFrom('n1', 'n2', 'n3', 'n4'),
    }),
  });
  // A writer never issues one stamp twice, so stamps are unique per path.
  const arbRemotes = fc.uniqueArray(arbRemote, {
    maxLength: 40,
    selector: (r) => `${r.path}|${r.stamp.t}|${r.stamp.c}|${r.stamp.node}`,
  });
  const permutation = (rs: Remote[]) =>
    fc.shuffledSubarray(rs, { minLength: rs.length, maxLength: rs.length });

  function run(order: Remote[], node: string) {
    // Wall clocks near the stamps so none is refused as too far ahead.
    const hlc = createHlc({ node, now: () => 20, maxDriftMs: 1000 });
    const store = createStore({ registry: createRegistry(PARAMS), hlc });
    for (const r of order)
      store.merge(r.path, { value: r.value, stamp: r.stamp, source: `peer:${r.stamp.node}` });
    return store;
  }

  it('property: two stores merging the same entries in different orders end identical', () => {
    fc.assert(
      fc.property(
        arbRemotes.chain((rs) => fc.tuple(fc.constant(rs), permutation(rs), permutation(rs))),
        ([all, order1, order2]) => {
          const s1 = run(order1, 'x');
          const s2 = run(order2, 'y');
          assert.deepEqual(new Map(s1.entries()), new Map(s2.entries()));
          // And both hold, per path, the entry with the greatest stamp.
          for (const path of PATHS) {
            const mine = all.filter((r) => r.path === path).sort((p, q) => compareStamps(p.stamp, q.stamp));
            const winner = mine.at(-1);
            const got = s1.get(path)!;
            if (winner && compareStamps(winner.stamp, ZERO_STAMP) > 0) {
              assert.deepEqual(got.stamp, winner.stamp);
              assert.equal(got.value, winner.value);
            } else {
              assert.deepEqual(got.stamp, ZERO_STAMP);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('store.apply: a person’s write leads automation (write-order.ts)', () => {
  it('leaves out a plugin’s write less than PERSON_LEAD_MS after a person’s, and applies one after it', () => {
    const { store, setClock, batches } = setup();
    setClock(2_000_000);
    store.apply([{ path: '/a', value: 0.25 }], 'osc:udp:127.0.0.1:9000');
    assert.equal(store.get('/a')?.human, true);
    setClock(2_000_000 + PERSON_LEAD_MS - 1);
    const held = store.apply(
      [
        { path: '/a', value: 0.7 },
        { path: '/b', value: 12 },
      ],
      'plugin:com.example.lfo',
    );
    assert.deepEqual(
      held.map((c) => c.path),
      ['/b'],
      'the write to /a is left out; /b, which no person wrote, is applied',
    );
    assert.equal(store.get('/a')?.value, 0.25);
    assert.equal(batches.at(-1)?.length, 1, 'only what was applied is notified');
    setClock(2_000_000 + PERSON_LEAD_MS);
    assert.equal(store.apply([{ path: '/a', value: 0.7 }], 'plugin:com.example.lfo').length, 1);
    assert.equal(store.get('/a')?.value, 0.7);
    assert.equal(store.get('/a')?.human, undefined);
  });

  it('always applies a person’s write, and a write marked as a person’s whatever its source', () => {
    const { store, setClock } = setup();
    setClock(3_000_000);
    store.apply([{ path: '/a', value: 0.25 }], 'cli');
    assert.equal(store.apply([{ path: '/a', value: 0.3 }], 'ui').length, 1);
    assert.equal(store.apply([{ path: '/a', value: 0.4 }], 'sync:correction', { human: true }).length, 1);
    assert.equal(store.get('/a')?.human, true);
    assert.equal(
      store.apply([{ path: '/a', value: 0.5 }], 'sync:correction').length,
      0,
      'automation, within the lead',
    );
  });

  it('merges a peer’s write by rank: its person’s mark outranks a later plugin write here', () => {
    const { store, setClock } = setup();
    setClock(4_000_000 + 5);
    store.apply([{ path: '/a', value: 0.7 }], 'plugin:com.example.lfo');
    const fromPeer = { ...remote(0.25, 4_000_000, 0, 'A'), human: true };
    assert.ok(store.merge('/a', fromPeer), 'stamped 5 ms before the plugin write, but a person’s');
    assert.equal(store.get('/a')?.value, 0.25);
    assert.equal(
      store.merge('/a', remote(0.9, 4_000_000 + 10, 0, 'B')),
      undefined,
      'a peer’s plugin within the lead',
    );
  });
});
