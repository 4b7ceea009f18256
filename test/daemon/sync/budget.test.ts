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
import { createSyncService } from '../../../daemon/sync/service.ts';
import { createSigner } from '../../../daemon/sync/signer.ts';
import { encodeSync } from '../../../daemon/sync/v2/codec.ts';
import { signBatch } from '../../../daemon/sync/v2/pack.ts';
import { createIdentity } from '../../../trust-store/identity.ts';
import { mustOpen } from '../../trust-store/helpers.ts';

// A trusted performer that floods its link with validly signed batches: each costs this daemon a
// signature check, so the link gets sync.maxBatchesPerSecond (burst twice that) and no more. The
// clock is frozen, so exactly the burst passes whatever the machine's speed.

const log = pino({ level: 'silent' });
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-sync-budget-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('per-link sync budget', () => {
  it('a performer flooding signed batches gets its burst through, the rest dropped and counted, and the link stays usable', async () => {
    const [self, flooder] = [await createIdentity(), await createIdentity()];
    const peers = await mustOpen(join(dir, 'peers.json'));
    await peers.pin({ id: flooder.deviceId, name: 'flooder', state: 'trusted', role: 'performer' });
    const registry = createRegistry(ParamMap.parse({ '/n': { type: 'int', min: 0, max: 100_000 } }));
    const t0 = Date.now();
    const hlc = createHlc({ node: self.deviceId, now: () => t0 });
    const store = createStore({ registry, hlc });
    const rejections = createRejections({ log, security: securityLogger(log), intervalMs: 1000 });
    const config = SyncConfig.parse({ maxBatchesPerSecond: 100 });
    const frozen = 1_000;
    const sync = createSyncService({
      identity: () => self,
      config,
      registry,
      store,
      hlc,
      peers,
      rejections,
      log,
      now: () => frozen,
    });
    const handle = sync.attach(flooder.deviceId, () => {}, flooder.certDer);
    try {
      const sign = createSigner(() => flooder).sign;
      const SENT = 500;
      for (let i = 1; i <= SENT; i++) {
        const b = signBatch(
          flooder.deviceId,
          [{ path: '/n', value: i, stamp: { t: t0 - 1000, c: i, node: flooder.deviceId } }],
          sign,
        );
        handle.receive(
          encodeSync({ kind: 'snapshot-part', id: i, part: 0, parts: 1, batches: [b] }, flooder.deviceId),
        );
      }
      const burst = config.maxBatchesPerSecond * 2;
      const s = sync.status();
      assert.equal(s.rateLimited, SENT - burst, 'everything past the burst is dropped');
      assert.equal(s.applied, burst, 'the burst applies');
      assert.equal(store.get('/n')!.value, burst, 'the last batch within the budget holds');
      assert.equal(rejections.counts()['sync-rate-limited'], SENT - burst);
    } finally {
      handle.close();
      sync.close();
    }
  });
});
