import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import { SyncConfig } from '../../../daemon/config/sync-schema.ts';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { createStateDigest } from '../../../daemon/sync/digest.ts';
import { createSyncService } from '../../../daemon/sync/service.ts';
import { decodeSync } from '../../../daemon/sync/v2/codec.ts';
import { createIdentity } from '../../../trust-store/identity.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';
import { mustOpen } from '../../trust-store/helpers.ts';

// The sync service keeps no digest while no peer is linked and rebuilds it when the first one
// links: what a peer is sent must equal the digest of the state as it stands, whatever was
// written while unlinked, between links, and while linked.

const log = pino({ level: 'silent' });
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-digest-link-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the sync service digest across links', () => {
  it('the digest sent on a link equals the digest of the store, after writes unlinked, linked and between links', async () => {
    const [self, peer, other] = [await createIdentity(), await createIdentity(), await createIdentity()];
    const peers = await mustOpen(join(dir, 'peers.json'));
    await peers.pin({ id: peer.deviceId, name: 'peer', state: 'trusted', role: 'performer' });
    await peers.pin({ id: other.deviceId, name: 'other', state: 'trusted', role: 'performer' });
    const params: Record<string, unknown> = {};
    for (let i = 0; i < 20; i++) params[`/p/${i}`] = { type: 'int', min: 0, max: 1000 };
    const registry = createRegistry(ParamMap.parse(params));
    const clock = createFakeClock();
    const hlc = createHlc({ node: self.deviceId, now: clock.now });
    const store = createStore({ registry, hlc });
    const config = SyncConfig.parse({});
    const sync = createSyncService({
      identity: () => self,
      config,
      registry,
      store,
      hlc,
      peers,
      rejections: createRejections({ log, security: securityLogger(log), intervalMs: 1000 }),
      log,
      now: clock.now,
      wall: clock.now,
      timers: clock.timers,
    });
    let n = 0;
    const write = (count: number) => {
      for (let i = 0; i < count; i++, n++) store.apply([{ path: `/p/${n % 20}`, value: n % 1000 }], 'cli');
    };
    /** The store's digest, built from scratch. */
    const expected = () => {
      const d = createStateDigest();
      for (const [path, e] of store.entries()) d.update(path, e.stamp, e.value);
      return d.snapshot();
    };
    /** Links, waits for the first digest the link sends, and checks it. */
    const linkAndCheck = async (to: typeof peer, what: string) => {
      const sent: Uint8Array[] = [];
      const handle = sync.attach(to.deviceId, (b) => sent.push(b), to.certDer);
      let digest: unknown;
      for (let i = 0; i < 100 && !digest; i++) {
        await clock.advance(config.antiEntropyMs / 4);
        for (const b of sent.splice(0)) {
          const m = decodeSync(b, self.deviceId);
          if (m.ok && m.msg.kind === 'digest') digest = m.msg;
        }
      }
      const { count, hash, buckets } = expected();
      assert.deepStrictEqual(digest, { kind: 'digest', count, hash, buckets }, what);
      return handle;
    };
    try {
      write(50);
      const first = await linkAndCheck(peer, 'written before any link');
      write(13);
      first.close();
      write(7); // fewer than the paths: some keep what was written before
      const second = await linkAndCheck(peer, 'written while linked, then after the link closed');
      write(9);
      const third = await linkAndCheck(
        other,
        'a second link while one is open: the digest kept write by write',
      );
      third.close();
      second.close();
      assert.ok(expected().count > 0);
    } finally {
      sync.close();
    }
  });
});
