import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createDialer } from '../../../daemon/link/dialer.ts';
import type { DtlsSession } from '../../../protocols/dtls/endpoint.ts';
import { openPeerStore, type PeerStore } from '../../../trust-store/peers.ts';
import { manualTimers } from '../../plugins/runtime/manual-timers.ts';

// Issue 18 (an idle daemon must be idle): the dial tick ran four times a second for ever, with
// nothing to dial on a daemon that has no peers configured or announced.

let dir: string;
let store: PeerStore;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-dialer-'));
  const opened = await openPeerStore(join(dir, 'peers.json'));
  assert.ok(opened.ok);
  store = opened.store;
});
after(() => rm(dir, { recursive: true, force: true }));

describe('dialer tick', () => {
  it('runs only while there is an address to dial', () => {
    const timers = manualTimers();
    const dials: string[] = [];
    const d = createDialer({
      store,
      log: pino({ level: 'silent' }),
      linkedTo: () => false,
      now: () => 0,
      timers,
      dial: (r) => {
        dials.push(`${r.address}:${r.port}`);
        return Promise.reject(new Error('no answer')) as Promise<DtlsSession>;
      },
    });
    try {
      assert.deepEqual(timers.pending(), [], 'no target, no tick');
      const remote = { address: '127.0.0.1', port: 4000 };
      d.addTarget(remote);
      assert.deepEqual(dials, ['127.0.0.1:4000'], 'a new target is dialled at once');
      assert.deepEqual(timers.pending(), [250], 'and the tick runs for its redials');
      d.addTarget({ address: '127.0.0.1', port: 4001 });
      assert.equal(timers.pending().length, 1, 'one tick, however many targets');
      timers.runNext();
      assert.deepEqual(timers.pending(), [250], 'it goes on while targets remain');
      d.removeTarget(remote);
      d.removeTarget({ address: '127.0.0.1', port: 4001 });
      assert.equal(d.size(), 0);
      timers.runNext();
      assert.deepEqual(timers.pending(), [], 'the last target gone, the tick stops');
    } finally {
      d.close();
    }
  });
});
