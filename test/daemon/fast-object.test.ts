import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { createCoalescer as createAuditCoalescer } from '../../daemon/audit/coalesce.ts';
import { withGetters } from '../../daemon/fast-object.ts';
import { createFairQueue } from '../../daemon/ingest/fair-queue.ts';
import { createSenderCache } from '../../daemon/ingest/source-cache.ts';
import { createRateLimiter } from '../../daemon/ingest/token-bucket.ts';
import { createCoalescer as createMidiCoalescer } from '../../daemon/midi/rate.ts';
import { createFanout } from '../../daemon/output/fanout.ts';
import { createIdentityRef } from '../../daemon/peering/identity-ref.ts';
import { createHlc } from '../../daemon/state/hlc.ts';
import { createRegistry } from '../../daemon/state/registry.ts';
import { createStore } from '../../daemon/state/store.ts';
import { createSubscribers } from '../../daemon/state/subscribers.ts';
import { createStateDigest } from '../../daemon/sync/digest.ts';
import { createForeignTable } from '../../daemon/sync/foreign.ts';
import { createHeldTable } from '../../daemon/sync/held.ts';
import { createKeyDirectory } from '../../daemon/sync/keys.ts';
import type { Identity } from '../../trust-store/identity.ts';

// The objects every OSC write goes through must be in V8's fast mode: an object literal with a
// getter is built as a dictionary, and each method called on it is a generic lookup that
// optimized code cannot fold (issue 18 found three per write in the store's `apply`). V8's own
// answer, %HasFastProperties, is asked through a function compiled with natives syntax on.

setFlagsFromString('--allow-natives-syntax');
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

describe('fast objects on the write path', () => {
  it('the check tells a literal with a getter (dictionary) from one without', () => {
    const slow = {
      get size() {
        return 1;
      },
      add() {},
    };
    assert.equal(hasFastProperties(slow), false, 'V8 builds a literal with a getter as a dictionary');
    assert.equal(hasFastProperties({ add() {} }), true);
  });

  it('withGetters: fast, live, enumerable and read-only', () => {
    let n = 1;
    const o = withGetters({ bump: () => n++ }, { size: () => n });
    assert.equal(hasFastProperties(o), true);
    assert.equal(o.size, 1);
    o.bump();
    assert.equal(o.size, 2, 'read when asked, not when made');
    assert.deepEqual(Object.keys(o), ['bump', 'size']);
    assert.equal({ ...o }.size, 2);
    assert.throws(() => {
      (o as { size: number }).size = 5;
    }, TypeError);
  });

  it('withGetters: every object a factory makes stays fast and reads its own state', () => {
    // A second object given its own getter function for the same name becomes a dictionary.
    const make = (n: number) => withGetters({ add() {} }, { size: () => n });
    const made = [make(1), make(2), make(3)];
    assert.deepEqual(
      made.map((o) => hasFastProperties(o)),
      [true, true, true],
    );
    assert.deepEqual(
      made.map((o) => o.size),
      [1, 2, 3],
    );
  });

  it('the clock, store, subscribers, registry, limiter, sender cache, queue and identity are fast', () => {
    const registry = createRegistry(
      { '/a': { type: 'float', min: 0, max: 1 } } as never,
      {
        '/hana/x': { type: 'string' },
      } as never,
    );
    const identity = createIdentityRef({ deviceId: 'DEV' } as Identity);
    const hlc = createHlc({ node: () => identity.deviceId });
    const objects: Record<string, object> = {
      hlc,
      identity,
      registry,
      stored: registry.stored,
      store: createStore({ registry: registry.stored, hlc }),
      subscribers: createSubscribers(),
      limiter: createRateLimiter({ ratePerSecond: 100, burst: 10 }),
      senders: createSenderCache(),
      queue: createFairQueue({
        cpuShare: 0.5,
        burstMs: 50,
        quantum: 4,
        unitsPerTurn: 100,
        turnMs: 5,
        maxQueuedUnits: 1000,
        run: () => {},
        onDrop: () => {},
      }),
    };
    assert.deepEqual(slowOnes(objects), []);
    assert.equal(hlc.node, 'DEV');
    assert.equal(identity.history.length, 1);
    assert.equal(registry.stored.paths.length, 2);
  });

  it('so are the audit, sync, MIDI and output objects called per write, record or frame', () => {
    const midi = createMidiCoalescer(10, () => {});
    const objects: Record<string, object> = {
      audit: createAuditCoalescer(100),
      digest: createStateDigest(),
      held: createHeldTable(16),
      foreign: createForeignTable(16),
      keys: createKeyDirectory(),
      fanout: createFanout(),
      midi,
    };
    assert.deepEqual(slowOnes(objects), []);
    assert.equal(midi.pending, 0);
    midi.close();
  });
});

function slowOnes(objects: Record<string, object>): string[] {
  return Object.entries(objects)
    .filter(([, o]) => !hasFastProperties(o))
    .map(([name]) => name);
}
