import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { SyncConfig } from '../../../daemon/config/sync-schema.ts';
import { createPeerSync, type PeerSync } from '../../../daemon/sync/peer-sync.ts';
import { createSigner } from '../../../daemon/sync/signer.ts';
import { decodeSync } from '../../../daemon/sync/v2/codec.ts';
import type { SyncEntry } from '../../../daemon/sync/v2/entries.ts';
import { createIdentity } from '../../../trust-store/identity.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';

// Two peer syncs joined in memory on a fake clock that never moves unless a test says so: an
// ack that arrives while the clock stands still waited on no timer (issue 18: a 1 ms ack timer
// fired late on a loaded laptop and filled the sender's window).

const [ida, idb] = [await createIdentity(), await createIdentity()];

/** A store with nothing to serve and a clock that is the fake one: what these tests do not look at. */
const quiet = (clock: ReturnType<typeof createFakeClock>) => ({
  timers: clock.timers,
  now: clock.now,
  wall: clock.now,
  entryOf: () => undefined,
  batchesIn: () => [],
  digest: () => ({ count: 0, hash: 0n, buckets: [] }),
  differing: () => [],
  certOf: () => undefined,
  onCert: () => {},
  onClock: () => {},
  onMalformed: (code: string, detail: string) => assert.fail(`${code}: ${detail}`),
  onUnsendable: (path: string, error: string) => assert.fail(`${path}: ${error}`),
});

function pairOf(config: Partial<SyncConfig>) {
  const clock = createFakeClock();
  const sides: Record<'a' | 'b', PeerSync> = {} as never;
  const applied: SyncEntry[] = [];
  const kinds: Record<'a' | 'b', string[]> = { a: [], b: [] };
  const make = (me: 'a' | 'b') => {
    const id = me === 'a' ? ida : idb;
    const other = me === 'a' ? 'b' : 'a';
    const signer = createSigner(() => id);
    return createPeerSync({
      peerId: (me === 'a' ? idb : ida).deviceId,
      self: () => id.deviceId,
      sign: signer.sign,
      config: SyncConfig.parse(config),
      send(datagram) {
        const r = decodeSync(datagram, id.deviceId);
        if (r.ok) kinds[me].push(r.msg.kind);
        // Delivered on a later turn, as a socket would.
        setImmediate(() => sides[other].receive(datagram));
      },
      ...quiet(clock),
      onBatch: (_b, fresh) => {
        if (me === 'b') applied.push(...fresh);
      },
    });
  };
  sides.a = make('a');
  sides.b = make('b');
  let c = 0;
  return {
    clock,
    sides,
    applied,
    kinds,
    write(value: number) {
      const e: SyncEntry = { path: '/fader', value, stamp: { t: clock.now(), c: c++, node: ida.deviceId } };
      sides.a.mark(e.path, e);
    },
    close() {
      sides.a.close();
      sides.b.close();
    },
  };
}

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await turn();
};

describe('peer sync: acks that do not wait', () => {
  it('by default an update is acknowledged within a few event-loop turns, with the clock standing still', async () => {
    const p = pairOf({});
    try {
      await turns(10); // the opening request and clock pings settle
      p.write(1);
      await turns(10);
      assert.deepEqual(
        p.applied.map((e) => e.value),
        [1],
      );
      assert.equal(p.sides.a.stats().out.acked, 1, 'acknowledged without any timer firing');
      assert.equal(p.sides.a.stats().out.inFlight, 0);
    } finally {
      p.close();
    }
  });

  it('one write per turn for 200 turns: every value arrives, one ack per turn that received something', async () => {
    const p = pairOf({});
    try {
      await turns(10);
      for (let i = 1; i <= 200; i++) {
        p.write(i);
        await turn();
      }
      await turns(20);
      assert.deepEqual(
        p.applied.map((e) => e.value),
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      const s = p.sides.a.stats().out;
      assert.equal(s.acked, s.updates);
      assert.equal(s.coalesced, 0);
      const acks = p.kinds.b.filter((k) => k === 'ack').length;
      const updates = p.kinds.a.filter((k) => k === 'updates').length;
      assert.ok(acks <= updates, `${acks} acks for ${updates} update datagrams`);
    } finally {
      p.close();
    }
  });

  it('with sync.ackDelayMs set, the ack waits for that delay on the injected clock', async () => {
    const p = pairOf({ ackDelayMs: 5 });
    try {
      await turns(10);
      p.write(1);
      await turns(10);
      assert.equal(p.applied.length, 1);
      assert.equal(p.sides.a.stats().out.acked, 0, 'not yet: the delay has not passed');
      await p.clock.advance(5, () => turns(3));
      await turns(10);
      assert.equal(p.sides.a.stats().out.acked, 1);
    } finally {
      p.close();
    }
  });
});

describe('peer sync: anti-entropy and a full window', () => {
  it('no digest leaves while values wait in the window, for at most three rounds in a row', async () => {
    const clock = createFakeClock();
    const signer = createSigner(() => ida);
    const kinds: string[] = [];
    const sync = createPeerSync({
      peerId: idb.deviceId,
      self: () => ida.deviceId,
      sign: signer.sign,
      // A silent peer: nothing is acknowledged, so the window stays full once filled (its
      // datagram times out after 4 × 4 × ackDelayMs = 800 ms, past the end of this test).
      config: SyncConfig.parse({ antiEntropyMs: 100, window: 1, maxWindow: 1, ackDelayMs: 50 }),
      send(datagram) {
        const r = decodeSync(datagram, ida.deviceId);
        if (r.ok) kinds.push(r.msg.kind);
      },
      ...quiet(clock),
      onBatch: () => {},
    });
    try {
      const write = (v: number) =>
        sync.mark('/f', { path: '/f', value: v, stamp: { t: clock.now() + v, c: 0, node: ida.deviceId } });
      write(0);
      await turns(3); // flushed: one datagram in flight, the window (1) full
      write(1);
      write(2);
      await turns(3); // both wait behind it
      assert.equal(sync.stats().out.queued > 0, true);
      const digests = () => kinds.filter((k) => k === 'digest').length;
      // Rounds come every 80–120 ms: 3 deferred rounds end within 4 × 120 ms, not within 3 × 80.
      await clock.advance(3 * 80 - 1, () => turns(1));
      assert.equal(digests(), 0, 'deferred while values wait');
      await clock.advance(4 * 120, () => turns(1));
      assert.ok(digests() >= 1, 'sent after at most three deferrals');
    } finally {
      sync.close();
    }
  });
});
