import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { LinkConfig } from '../../../daemon/config/link-schema.ts';
import { createLinkManager, type LinkManager } from '../../../daemon/link/manager.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';
import { openPeerStore } from '../../../trust-store/peers.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';
import { sessionPair } from '../../helpers/link-sessions.ts';
import { waitFor } from '../../helpers/wait.ts';

// Two link managers joined by an in-memory session pair, on a fake clock: two hours of show
// run in about a second, and every timer a link holds can be counted.

const log = pino({ level: 'silent' });
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const flush = () => new Promise<void>((r) => setImmediate(r));

async function manager(identity: Identity, name: string, clock: ReturnType<typeof createFakeClock>) {
  const dir = await mkdtemp(join(tmpdir(), 'hana-liveness-'));
  dirs.push(dir);
  const opened = await openPeerStore(join(dir, 'peers.json'));
  assert.ok(opened.ok);
  return createLinkManager({
    config: LinkConfig.parse({ policy: 'accept-new' }),
    identity,
    name,
    store: opened.store,
    log,
    security: log,
    dial: () => Promise.reject(new Error('no dialling in this test')),
    now: clock.now,
    timers: clock.timers,
  });
}

describe('link liveness on a fake clock', () => {
  it('holds a constant number of timers per link through two hours of heartbeats', async () => {
    const clock = createFakeClock();
    const [ia, ib] = await Promise.all([createIdentity(), createIdentity()]);
    const a: LinkManager = await manager(ia, 'a', clock);
    const b: LinkManager = await manager(ib, 'b', clock);
    try {
      const idle = clock.pending(); // the two dialers' ticks
      const [sa, sb] = sessionPair(ia, ib);
      a.onSession(sa);
      b.onSession(sb);
      await waitFor(() => a.stats().linked === 1 && b.stats().linked === 1);
      assert.equal(a.stats().linked, 1);
      assert.equal(b.stats().linked, 1);
      const linked = clock.pending();
      assert.equal(linked, idle + 2, 'one heartbeat timer per link, the bind timeout cleared');
      const samples: number[] = [];
      for (let minute = 0; minute < 120; minute++) {
        await clock.advance(60_000, flush);
        samples.push(clock.pending());
      }
      assert.deepEqual(new Set(samples), new Set([linked]), 'the count never grows');
      assert.equal(a.stats().linked, 1, 'two hours of heartbeats kept the link up');
      assert.equal(a.links()[0]!.silent ?? false, false);
      assert.ok((a.links()[0]!.rttMs ?? -1) >= 0, 'pongs were measured');
    } finally {
      await a.close();
      await b.close();
    }
    assert.equal(clock.pending(), 0, 'closing clears every timer');
  });
});
