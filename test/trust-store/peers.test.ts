import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_HELD } from '../../trust-store/peers-schema.ts';
import { fakeClock, idOf, mustOpen, rejectsWithCode } from './helpers.ts';

// What each store operation does to the pins, and that it is on disk when the promise resolves.

let dir: string;
let n = 0;
const fresh = () => join(dir, `peers-${++n}.json`);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-peers-test-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const A = idOf('a');
const B = idOf('b');
const C = idOf('c');

describe('pin and upsertSeen', () => {
  it('starts empty without a file and writes only on the first change', async () => {
    const path = fresh();
    const store = await mustOpen(path);
    assert.deepEqual(store.list(), []);
    assert.deepEqual(store.held(), []);
    assert.equal(await store.upsertSeen({ id: A, name: 'a' }), undefined);
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  it('pins with a canonical ID, observer role by default, and is on disk when it resolves', async () => {
    const clock = fakeClock();
    const path = fresh();
    const store = await mustOpen(path, clock.now);
    const peer = await store.pin({
      id: A.toLowerCase().replace(/-/g, ' '),
      name: 'stage left',
      state: 'trusted',
    });
    assert.deepEqual(peer, {
      id: A,
      name: 'stage left',
      state: 'trusted',
      role: 'observer',
      firstSeen: clock.iso(),
      lastSeen: clock.iso(),
    });
    const onDisk = JSON.parse(await readFile(path, 'utf8'));
    assert.deepEqual(onDisk, { version: 1, peers: [peer], held: [] });
    assert.deepEqual(store.get(A.toLowerCase()), peer);
  });

  it('keeps a confirm code only while pending', async () => {
    const store = await mustOpen(fresh());
    const p = await store.pin({
      id: A,
      name: 'a',
      state: 'pending',
      code: '042917',
      address: '10.0.0.2:9000',
    });
    assert.equal(p.code, '042917');
    assert.equal(p.lastAddress, '10.0.0.2:9000');
    await rejectsWithCode(store.pin({ id: B, name: 'b', state: 'trusted', code: '123456' }), 'invalid-peer');
    const allowed = await store.allow(A);
    assert.equal(allowed.state, 'trusted');
    assert.equal('code' in allowed, false);
  });

  it('refreshes a known peer on upsertSeen and keeps its last address when none is given', async () => {
    const clock = fakeClock();
    const store = await mustOpen(fresh(), clock.now);
    await store.pin({ id: A, name: 'a', state: 'trusted', address: '[fe80::1]:9000', role: 'performer' });
    const first = clock.iso();
    clock.advance(60_000);
    const seen = await store.upsertSeen({ id: A, name: 'a renamed' });
    assert.deepEqual(seen, {
      id: A,
      name: 'a renamed',
      state: 'trusted',
      role: 'performer',
      firstSeen: first,
      lastSeen: clock.iso(),
      lastAddress: '[fe80::1]:9000',
    });
    assert.equal(
      (await store.upsertSeen({ id: A, name: 'a', address: '10.0.0.9:1' }))?.lastAddress,
      '10.0.0.9:1',
    );
  });

  it('never changes state or role when pinning an ID it already has', async () => {
    const store = await mustOpen(fresh());
    await store.block(A);
    const again = await store.pin({ id: A, name: 'a', state: 'trusted', role: 'performer' });
    assert.equal(again.state, 'blocked');
    assert.equal(again.role, 'observer');
    assert.equal(again.name, 'a');
    await store.pin({ id: B, name: 'b', state: 'pending', code: '111111' });
    const b = await store.pin({ id: B, name: 'b', state: 'pending', code: '222222' });
    assert.equal(b.code, '222222');
    assert.equal(b.state, 'pending');
  });

  it('refuses bad arguments with stable codes', async () => {
    const store = await mustOpen(fresh());
    await rejectsWithCode(store.pin({ id: 'AAAA', name: 'x', state: 'trusted' }), 'invalid-device-id');
    await rejectsWithCode(store.pin({ id: A, name: '', state: 'trusted' }), 'invalid-peer');
    await rejectsWithCode(store.pin({ id: A, name: 'x'.repeat(65), state: 'trusted' }), 'invalid-peer');
    await rejectsWithCode(store.pin({ id: A, name: 'bell\u0007', state: 'trusted' }), 'invalid-peer');
    await rejectsWithCode(
      store.pin({ id: A, name: 'a', state: 'trusted', address: '::1:9000' }),
      'invalid-peer',
    );
    await rejectsWithCode(
      store.pin({ id: A, name: 'a', state: 'trusted', address: '10.0.0.1:0' }),
      'invalid-peer',
    );
    await rejectsWithCode(store.pin({ id: A, name: 'a', state: 'pending', code: '12345' }), 'invalid-peer');
    // @ts-expect-error: blocking goes through block()
    await rejectsWithCode(store.pin({ id: A, name: 'a', state: 'blocked' }), 'invalid-peer');
    assert.throws(() => store.get('not an id'), { code: 'invalid-device-id' });
    assert.deepEqual(store.list(), []);
  });

  it('hands out copies', async () => {
    const store = await mustOpen(fresh());
    const p = await store.pin({ id: A, name: 'a', state: 'trusted' });
    p.state = 'blocked';
    store.list()[0]!.name = 'changed';
    assert.equal(store.get(A)?.state, 'trusted');
    assert.equal(store.get(A)?.name, 'a');
  });

  it('leaves the store as it was when a write fails, and keeps working after', async () => {
    const sub = join(dir, `missing-${++n}`);
    const store = await mustOpen(join(sub, 'peers.json'));
    await assert.rejects(store.pin({ id: A, name: 'a', state: 'trusted' }), { code: 'ENOENT' });
    assert.deepEqual(store.list(), []);
    await mkdir(sub);
    await store.pin({ id: B, name: 'b', state: 'trusted' });
    assert.deepEqual(
      store.list().map((p) => p.id),
      [B],
    );
  });
});

describe('allow, block and forget', () => {
  it('allow trusts a pending or blocked peer and can change its role', async () => {
    const store = await mustOpen(fresh());
    await store.pin({ id: A, name: 'a', state: 'pending', code: '000001' });
    await store.block(B);
    assert.equal((await store.allow(A)).state, 'trusted');
    const b = await store.allow(B, 'performer');
    assert.equal(b.state, 'trusted');
    assert.equal(b.role, 'performer');
    assert.equal((await store.allow(B)).role, 'performer');
    await rejectsWithCode(store.allow(C), 'unknown-peer');
  });

  it('block creates an entry for an ID never seen, named by its short form', async () => {
    const clock = fakeClock();
    const store = await mustOpen(fresh(), clock.now);
    const c = await store.block(C);
    assert.deepEqual(c, {
      id: C,
      name: C.slice(0, 7),
      state: 'blocked',
      role: 'observer',
      firstSeen: clock.iso(),
      lastSeen: clock.iso(),
    });
    await store.pin({ id: A, name: 'a', state: 'pending', code: '123123' });
    const a = await store.block(A);
    assert.equal(a.state, 'blocked');
    assert.equal('code' in a, false);
  });

  it('forget removes the peer and any held change for it', async () => {
    const store = await mustOpen(fresh());
    await store.pin({ id: A, name: 'a', state: 'trusted' });
    await store.hold({ name: 'a', presentedId: B, pinnedId: A });
    assert.equal(await store.forget(A), true);
    assert.equal(store.get(A), undefined);
    assert.equal(store.held().length, 1, 'a held change for another ID stays');
    assert.equal(await store.forget(B), true);
    assert.deepEqual(store.held(), []);
    assert.equal(await store.forget(B), false);
  });
});

describe('held key changes', () => {
  it('are de-duplicated by presented ID, keeping the first sighting', async () => {
    const clock = fakeClock();
    const path = fresh();
    const store = await mustOpen(path, clock.now);
    await store.pin({ id: A, name: 'cam', state: 'trusted' });
    await store.hold({ name: 'cam', presentedId: B, pinnedId: A, address: '10.0.0.5:9000' });
    const firstAt = clock.iso();
    clock.advance(5000);
    const before = await readFile(path, 'utf8');
    await store.hold({ name: 'cam', presentedId: B, pinnedId: A, address: '10.0.0.5:9000' });
    assert.equal(await readFile(path, 'utf8'), before, 'an identical sighting does not rewrite the file');
    await store.hold({ name: 'cam', presentedId: B, pinnedId: A, address: '10.0.0.6:9000' });
    assert.deepEqual(store.held(), [
      { name: 'cam', presentedId: B, pinnedId: A, at: firstAt, address: '10.0.0.6:9000' },
    ]);
    await rejectsWithCode(store.hold({ name: 'cam', presentedId: A, pinnedId: A }), 'invalid-peer');
  });

  it('allow on a held ID re-pins the name: the old pin is replaced, its role kept', async () => {
    const clock = fakeClock();
    const path = fresh();
    const store = await mustOpen(path, clock.now);
    await store.pin({ id: A, name: 'cam', state: 'trusted', role: 'performer' });
    await store.pin({ id: C, name: 'other', state: 'trusted' });
    await store.hold({ name: 'cam', presentedId: B, pinnedId: A, address: '10.0.0.5:9000' });
    const heldAt = clock.iso();
    clock.advance(1000);
    const b = await store.allow(B);
    assert.deepEqual(b, {
      id: B,
      name: 'cam',
      state: 'trusted',
      role: 'performer',
      firstSeen: heldAt,
      lastSeen: heldAt,
      lastAddress: '10.0.0.5:9000',
    });
    assert.equal(store.get(A), undefined);
    assert.deepEqual(store.held(), []);
    assert.equal(store.findByName('cam')?.id, B);
    const reopened = await mustOpen(path);
    assert.deepEqual(reopened.list(), store.list());
    assert.deepEqual(
      reopened.list().map((p) => p.id),
      [C, B],
    );
  });

  it('block on a held ID blocks it under the claimed name and leaves the old pin trusted', async () => {
    const store = await mustOpen(fresh());
    await store.pin({ id: A, name: 'cam', state: 'trusted' });
    await store.hold({ name: 'cam', presentedId: B, pinnedId: A, address: '10.0.0.5:9000' });
    const b = await store.block(B);
    assert.equal(b.state, 'blocked');
    assert.equal(b.name, 'cam');
    assert.equal(b.lastAddress, '10.0.0.5:9000');
    assert.equal(store.get(A)?.state, 'trusted');
    assert.deepEqual(store.held(), []);
    assert.equal(store.findByName('cam')?.id, A, 'the pinned peer wins over the blocked one');
  });

  it(`keep at most ${MAX_HELD}, dropping the oldest`, async () => {
    // Start from a full file rather than hundreds of fsynced writes.
    const path = fresh();
    const ids = Array.from({ length: MAX_HELD + 2 }, (_, i) => idOf(`flood ${i}`));
    const at = fakeClock().iso();
    const full = ids.slice(0, MAX_HELD).map((presentedId) => ({ name: 'cam', presentedId, pinnedId: A, at }));
    await writeFile(path, JSON.stringify({ version: 1, peers: [], held: full }));
    const store = await mustOpen(path);
    for (const id of ids.slice(MAX_HELD)) await store.hold({ name: 'cam', presentedId: id, pinnedId: A });
    const held = store.held().map((h) => h.presentedId);
    assert.equal(held.length, MAX_HELD);
    assert.deepEqual(held, ids.slice(2));
  });
});

describe('findByName', () => {
  it('ignores case, width and runs of spaces', async () => {
    const store = await mustOpen(fresh());
    await store.pin({ id: A, name: 'Stage  Left', state: 'trusted' });
    assert.equal(store.findByName('stage left')?.id, A);
    assert.equal(store.findByName('ＳＴＡＧＥ ＬＥＦＴ')?.id, A);
    assert.equal(store.findByName('stage right'), undefined);
  });
});
