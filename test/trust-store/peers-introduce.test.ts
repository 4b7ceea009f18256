import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fakeClock, idOf, mustOpen } from './helpers.ts';

// Pinning a peer another trusted peer introduced: judged inside the one write, recorded with
// who introduced it, and files written before introductions existed still load.

let dir: string;
let n = 0;
const fresh = () => join(dir, `peers-${++n}.json`);
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-peers-introduce-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BY = idOf('introducer');
const NEW = idOf('new');

describe('introduce', () => {
  it('loads a file without introducedBy, and writes and reloads one with it', async () => {
    const path = fresh();
    const at = '2026-11-22T10:00:00.000Z';
    const old = { id: BY, name: 'bee', state: 'trusted', role: 'performer', firstSeen: at, lastSeen: at };
    await writeFile(path, JSON.stringify({ version: 1, peers: [old], held: [] }));
    const store = await mustOpen(path, fakeClock().now);
    assert.deepEqual(store.list(), [old]);
    const r = await store.introduce({
      id: NEW,
      name: 'sea',
      role: 'performer',
      by: BY,
      address: '10.0.0.3:7400',
    });
    assert.equal(r.outcome, 'pinned');
    const onDisk = JSON.parse(await readFile(path, 'utf8'));
    assert.equal(onDisk.peers[1].introducedBy, BY);
    assert.equal(onDisk.peers[1].lastAddress, '10.0.0.3:7400');
    assert.deepEqual((await mustOpen(path)).get(NEW), store.get(NEW));
  });

  it('never unblocks, never changes a trusted pin, trusts a pending one, and holds a taken name', async () => {
    const store = await mustOpen(fresh(), fakeClock().now);
    await store.pin({ id: BY, name: 'bee', state: 'trusted', role: 'performer' });
    await store.block(NEW);
    const intro = { id: NEW, name: 'sea', role: 'performer' as const, by: BY };
    assert.equal((await store.introduce(intro)).outcome, 'blocked');
    assert.equal(store.get(NEW)?.state, 'blocked');

    await store.forget(NEW);
    await store.pin({ id: NEW, name: 'sea', state: 'trusted', role: 'observer' });
    assert.equal((await store.introduce(intro)).outcome, 'known');
    assert.equal(store.get(NEW)?.role, 'observer', 'an introduction never changes a pin the operator made');
    assert.equal(store.get(NEW)?.introducedBy, undefined);

    await store.forget(NEW);
    await store.pin({ id: NEW, name: 'sea', state: 'pending', code: '123456' });
    const r = await store.introduce(intro);
    assert.equal(r.outcome, 'pinned');
    assert.equal(store.get(NEW)?.state, 'trusted');
    assert.equal(store.get(NEW)?.introducedBy, BY);
    assert.equal(store.get(NEW)?.code, undefined);

    const r2 = await store.introduce({ ...intro, id: idOf('impostor'), name: 'Sea' });
    assert.deepEqual(r2, { outcome: 'name-held', pinnedId: NEW });
    assert.equal(store.get(idOf('impostor')), undefined);
  });

  it('"introduced by" follows the introducer through a rotation', async () => {
    const store = await mustOpen(fresh(), fakeClock().now);
    await store.pin({ id: BY, name: 'bee', state: 'trusted' });
    await store.introduce({ id: NEW, name: 'sea', role: 'observer', by: BY });
    const next = idOf('introducer next');
    await store.rotate(BY, next);
    assert.equal(store.get(NEW)?.introducedBy, next);
  });
});
