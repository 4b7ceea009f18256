import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { LinkConfig } from '../../../daemon/config/link-schema.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';
import { parseCode } from '../../../trust-store/pairing/code.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-timers.ts';
import { type ManagerSide, managerSide } from '../../helpers/link-manager.ts';
import { sessionPair } from '../../helpers/link-sessions.ts';
import { waitFor } from '../../helpers/wait.ts';

// Pairing between two link managers over an in-memory verified session, with the embedded
// default policy: strangers stay pending and unpinned until a code pairs them.

const flush = () => new Promise<void>((r) => setImmediate(r));

type Side = ManagerSide;

const side = (identity: Identity, name: string, clock: FakeClock): Promise<Side> =>
  managerSide({ identity, name, clock });

async function linked(clock = createFakeClock()) {
  const [ia, ib] = await Promise.all([createIdentity(), createIdentity()]);
  const a = await side(ia, 'alpha', clock);
  const b = await side(ib, 'bravo', clock);
  const [sa, sb] = sessionPair(ia, ib);
  a.m.onSession(sa);
  b.m.onSession(sb);
  await waitFor(() => a.m.stats().pending >= 1 && b.m.stats().pending >= 1);
  return { a, b, clock, close: async () => Promise.all([a.m.close(), b.m.close()]) };
}

const wrongCode = (code: string) => {
  const words = code.split('-');
  words[0] = words[0] === 'amber' ? 'delta' : 'amber';
  return words.join('-');
};

describe('pairing with a short code (policy pair, the default)', () => {
  it('a stranger stays pending, is never written to peers.json, and shows in peers', async () => {
    const { a, b, close } = await linked();
    try {
      assert.equal(LinkConfig.parse({}).policy, 'pair');
      assert.equal(a.m.stats().linked, 0);
      assert.deepEqual(a.store.list(), []);
      const view = a.m.peers();
      assert.equal(view.length, 1);
      assert.equal(view[0]!.state, 'pending');
      assert.equal(view[0]!.id, b.id.deviceId);
      assert.ok(a.lines.some((l) => l.event === 'peer.unpaired' && l.security === true));
    } finally {
      await close();
    }
  });

  it('the right code pins both sides as trusted with the role A chose, once', async () => {
    const { a, b, close } = await linked();
    try {
      const { code } = a.m.pairOpen({ role: 'performer', expiresMs: 300_000 });
      assert.ok(parseCode(code).ok);
      await waitFor(() => b.m.peers()[0]?.offersPairing === true);
      const r = await b.m.pairJoin(code, { waitMs: 2000 });
      assert.deepEqual(r, { ok: true, peerId: a.id.deviceId, name: 'alpha', role: 'performer' });
      // Once the joiner hears "paired", the code holder has already pinned it (CI once saw the
      // joiner's CLI return while the holder's pin was still being written).
      assert.equal(a.store.get(b.id.deviceId)?.state, 'trusted', 'A pinned B before B was told');
      await waitFor(() => a.m.stats().linked >= 1);
      assert.equal(a.m.stats().linked, 1);
      assert.equal(b.m.stats().linked, 1);
      assert.equal(a.store.get(b.id.deviceId)?.state, 'trusted');
      assert.equal(a.store.get(b.id.deviceId)?.role, 'performer');
      assert.equal(b.store.get(a.id.deviceId)?.role, 'performer');
      assert.equal(a.m.pairStatus().state, 'used');
      assert.ok(!a.lines.some((l) => JSON.stringify(l).includes(code)), 'the code is never logged');
    } finally {
      await close();
    }
  });

  it('a code holder that cannot save the pin tells the joiner, and neither side trusts the other', async () => {
    const { a, b, close } = await linked();
    try {
      const { code } = a.m.pairOpen({ role: 'performer', expiresMs: 300_000 });
      await waitFor(() => b.m.peers()[0]?.offersPairing === true);
      await rm(a.dir, { recursive: true, force: true }); // A's peers.json can no longer be written
      const r = await b.m.pairJoin(code, { waitMs: 2000 });
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, 'unsaved');
      assert.match(!r.ok ? r.message : '', /could not save the pairing/);
      assert.equal(a.store.get(b.id.deviceId), undefined);
      assert.equal(b.store.get(a.id.deviceId), undefined);
      assert.equal(a.m.stats().linked, 0);
      assert.equal(b.m.stats().linked, 0);
      assert.ok(a.lines.some((l) => l.event === 'pair.unsaved' && l.peer === b.id.deviceId));
    } finally {
      await close();
    }
  });

  it('an observer chosen by A is an observer on A, and follows A (A is a performer on it)', async () => {
    const { a, b, close } = await linked();
    try {
      const { code } = a.m.pairOpen({ role: 'observer', expiresMs: 300_000 });
      await waitFor(() => b.m.peers()[0]?.offersPairing === true);
      const r = await b.m.pairJoin(code, { waitMs: 2000 });
      assert.ok(r.ok && r.role === 'observer');
      await waitFor(() => a.m.stats().linked >= 1);
      assert.equal(a.store.get(b.id.deviceId)?.role, 'observer');
      assert.equal(b.store.get(a.id.deviceId)?.role, 'performer');
    } finally {
      await close();
    }
  });

  it('three wrong codes burn the code, the operator is told, and the right one then fails too', async () => {
    const { a, b, close } = await linked();
    try {
      const { code } = a.m.pairOpen({ role: 'observer', expiresMs: 300_000 });
      await waitFor(() => b.m.peers()[0]?.offersPairing === true);
      for (let t = 0; t < 3; t++) {
        const r = await b.m.pairJoin(wrongCode(code), { waitMs: 2000 });
        assert.equal(r.ok, false);
        if (!r.ok) assert.equal(r.reason, t < 2 ? 'wrong-code' : 'burned');
      }
      assert.equal(a.m.pairStatus().state, 'burned');
      assert.ok(a.lines.some((l) => l.event === 'pair.burned' && l.security === true));
      assert.equal(a.lines.filter((l) => l.event === 'pair.wrong-code').length, 2);
      const late = await b.m.pairJoin(code, { waitMs: 200 });
      assert.ok(!late.ok && late.reason === 'burned', 'the laptop that showed the code still says why');
      assert.equal(a.m.stats().linked, 0);
      assert.deepEqual(a.store.list(), []);
    } finally {
      await close();
    }
  });

  it('an expired code is refused with its own sentence', async () => {
    const clock = createFakeClock();
    const { a, b, close } = await linked(clock);
    try {
      const { code } = a.m.pairOpen({ role: 'performer', expiresMs: 60_000 });
      await waitFor(() => b.m.peers()[0]?.offersPairing === true);
      await clock.advance(61_000, flush);
      const r = await b.m.pairJoin(code, { waitMs: 2000 });
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.reason, 'expired');
        assert.match(r.message, /expired/);
      }
      assert.equal(a.m.pairStatus().state, 'expired');
    } finally {
      await close();
    }
  });

  it('a malformed code and a LAN without an open code get one clear sentence each', async () => {
    const { b, close } = await linked();
    try {
      const bad = await b.m.pairJoin('amber-delta', { waitMs: 100 });
      assert.ok(!bad.ok && bad.reason === 'bad-code' && /3/.test(bad.message));
      const none = await b.m.pairJoin('amber-delta-ocean', { waitMs: 300 });
      assert.ok(!none.ok && none.reason === 'no-laptop');
    } finally {
      await close();
    }
  });
});
