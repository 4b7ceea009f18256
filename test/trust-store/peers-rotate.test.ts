import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PeerStore } from '../../trust-store/peers.ts';
import { decide } from '../../trust-store/policy.ts';
import { fakeClock, idOf, mustOpen, rejectsWithCode } from './helpers.ts';

// Moving a pin to a peer's next identity: one write, the pin's own name, role and state, and
// never onto an ID the store already knows in any form.

let dir: string;
let n = 0;
const fresh = () => join(dir, `peers-${++n}.json`);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-peers-rotate-test-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const OLD = idOf('old');
const NEW = idOf('new');
const OTHER = idOf('other');
const OWN = idOf('own');

describe('rotate', () => {
  it('moves a pin in place with its name, role, state, first sighting and address', async () => {
    const clock = fakeClock();
    const path = fresh();
    const store = await mustOpen(path, clock.now);
    await store.pin({ id: OTHER, name: 'before', state: 'trusted' });
    const first = clock.iso();
    await store.pin({ id: OLD, name: 'stage left', state: 'trusted', address: '10.0.0.2:7400' });
    await store.pin({ id: idOf('after'), name: 'after', state: 'trusted' });
    clock.advance(60_000);
    const moved = await store.rotate(OLD, NEW);
    assert.deepEqual(moved, {
      id: NEW,
      name: 'stage left',
      state: 'trusted',
      role: 'observer',
      firstSeen: first,
      lastSeen: clock.iso(),
      lastAddress: '10.0.0.2:7400',
    });
    assert.equal(store.get(OLD), undefined);
    assert.deepEqual(
      store.list().map((p) => p.name),
      ['before', 'stage left', 'after'],
    );
    const onDisk = JSON.parse(await readFile(path, 'utf8'));
    assert.deepEqual(onDisk.peers[1], moved);
    assert.equal(onDisk.peers.length, 3);
  });

  it('keeps a performer a performer and a pending pin pending, without its stale confirm code', async () => {
    const store = await mustOpen(fresh());
    await store.pin({ id: OLD, name: 'p', state: 'pending', role: 'performer', code: '123456' });
    const moved = await store.rotate(OLD, NEW);
    assert.equal(moved.state, 'pending');
    assert.equal(moved.role, 'performer');
    assert.equal('code' in moved, false);
  });

  it('refuses a new ID the store knows in any form, an unknown or blocked old pin, and changes nothing', async () => {
    for (const setup of [
      async (s: PeerStore) => s.pin({ id: NEW, name: 'victim', state: 'trusted', role: 'performer' }),
      async (s: PeerStore) => s.pin({ id: NEW, name: 'victim', state: 'pending' }),
      async (s: PeerStore) => s.block(NEW),
      async (s: PeerStore) => {
        await s.pin({ id: OTHER, name: 'victim', state: 'trusted' });
        await s.hold({ name: 'victim', presentedId: NEW, pinnedId: OTHER });
      },
      async (s: PeerStore) => {
        // A held change can outlive the pin it was against: that ID was still seen.
        await s.pin({ id: NEW, name: 'victim', state: 'trusted' });
        await s.hold({ name: 'victim', presentedId: OTHER, pinnedId: NEW });
        await s.forget(NEW);
      },
    ]) {
      const path = fresh();
      const store = await mustOpen(path);
      await store.pin({ id: OLD, name: 'observer', state: 'trusted' });
      await setup(store);
      const before = await readFile(path, 'utf8');
      const list = store.list();
      const held = store.held();
      await rejectsWithCode(store.rotate(OLD, NEW), 'known-peer');
      assert.equal(await readFile(path, 'utf8'), before);
      assert.deepEqual(store.list(), list);
      assert.deepEqual(store.held(), held);
    }
    const store = await mustOpen(fresh());
    await store.pin({ id: OLD, name: 'observer', state: 'trusted' });
    await rejectsWithCode(store.rotate(OLD, OLD), 'known-peer');
    await rejectsWithCode(store.rotate(OTHER, NEW), 'unknown-peer');
    await store.block(OLD);
    await rejectsWithCode(store.rotate(OLD, NEW), 'invalid-peer');
    assert.equal(store.get(OLD)?.state, 'blocked', 'a blocked ID is not freed by moving away');
    await rejectsWithCode(store.rotate(OLD, 'not an id'), 'invalid-device-id');
  });

  it('is one write: when it fails, neither the old pin is gone nor the new one there', async () => {
    const sub = join(dir, `sub-${++n}`);
    await mkdir(sub);
    const path = join(sub, 'peers.json');
    const store = await mustOpen(path);
    await store.pin({ id: OLD, name: 'stage left', state: 'trusted', role: 'performer' });
    const before = await readFile(path, 'utf8');
    await rename(sub, `${sub}-away`);
    await assert.rejects(store.rotate(OLD, NEW), { code: 'ENOENT' });
    await rename(`${sub}-away`, sub);
    assert.deepEqual(
      store.list().map((p) => p.id),
      [OLD],
    );
    assert.equal(await readFile(path, 'utf8'), before);
    assert.equal((await store.rotate(OLD, NEW)).id, NEW, 'and it works once the disk does');
  });

  it('points held key changes against the old pin at the new one, so allowing one still replaces it', async () => {
    const store = await mustOpen(fresh());
    await store.pin({ id: OLD, name: 'stage left', state: 'trusted', role: 'performer' });
    await store.hold({ name: 'stage left', presentedId: OTHER, pinnedId: OLD });
    await store.rotate(OLD, NEW);
    assert.deepEqual(
      store.held().map((h) => [h.presentedId, h.pinnedId]),
      [[OTHER, NEW]],
    );
    await store.allow(OTHER);
    assert.deepEqual(
      store.list().map((p) => [p.id, p.name, p.role]),
      [[OTHER, 'stage left', 'performer']],
    );
  });

  it('leaves the name reserved: a new device or the old ID under it is a key change against the moved pin', async () => {
    const store = await mustOpen(fresh());
    await store.pin({ id: OLD, name: 'Stage Left', state: 'trusted', role: 'performer' });
    await store.rotate(OLD, NEW);
    for (const presentedId of [OTHER, OLD]) {
      for (const policy of ['accept-new', 'confirm', 'strict'] as const) {
        const d = decide({ presentedId, claimedName: 'stage left', ownId: OWN, policy, store });
        assert.equal(d.kind, 'refuse');
        assert.equal(d.kind === 'refuse' && d.reason, 'key-change');
        assert.equal(d.kind === 'refuse' && d.pinnedId, NEW);
      }
    }
  });
});
