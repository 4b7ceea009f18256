import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signIntroduction } from '../../../daemon/link/introductions.ts';
import type { LinkManager } from '../../../daemon/link/manager.ts';
import { encodeLink } from '../../../daemon/link/v1/wire.ts';
import type { DtlsSession } from '../../../protocols/dtls/endpoint.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';
import type { PeerStore } from '../../../trust-store/peers.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-timers.ts';
import { managerSide } from '../../helpers/link-manager.ts';
import { sessionPair } from '../../helpers/link-sessions.ts';

// Introductions (Syncthing's introducer) between three link managers joined pairwise in memory
// with the default policy `pair`: A and B pair, then C pairs with B, and B introduces each to
// the other, so A and C link as trusted without a code of their own.

const flush = () => new Promise<void>((r) => setImmediate(r));
/** Polls by real time (the store writes to disk), not by a count of turns. */
async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await flush();
  return check();
}

type Side = {
  m: LinkManager;
  store: PeerStore;
  id: Identity;
  port: number;
  lines: Record<string, unknown>[];
};

async function side(name: string, port: number, clock: FakeClock, config: object = {}): Promise<Side> {
  return { ...(await managerSide({ identity: await createIdentity(), name, clock, config })), port };
}

/** Joins two managers with an in-memory verified session; returns x's session (what y hears from). */
function join2(x: Side, y: Side): DtlsSession {
  const [sx, sy] = sessionPair(x.id, y.id, [x.port, y.port]);
  x.m.onSession(sx);
  y.m.onSession(sy);
  return sx;
}

/** Three managers, every pair linked (pending: nobody is paired yet). */
async function stage(o: { a?: object; b?: object; c?: object } = {}) {
  const clock = createFakeClock();
  const a = await side('alpha', 7501, clock, o.a);
  const b = await side('bravo', 7502, clock, o.b);
  const c = await side('charlie', 7503, clock, o.c);
  const bToA = join2(b, a);
  join2(b, c);
  join2(a, c);
  assert.ok(await until(() => [a, b, c].every((s) => s.m.stats().pending === 2)));
  return {
    a,
    b,
    c,
    /** Sends raw link bytes to A as if from B, over B's session to A. */
    fromB: (bytes: Uint8Array) => bToA.send(bytes),
    close: () => Promise.all([a.m.close(), b.m.close(), c.m.close()]),
  };
}

/** `holder` shows a code; `joiner` types it. */
async function pair(holder: Side, joiner: Side, role: 'performer' | 'observer' = 'performer') {
  const { code } = holder.m.pairOpen({ role, expiresMs: 300_000 });
  assert.ok(await until(() => joiner.m.peers().some((p) => p.id === holder.id.deviceId && p.offersPairing)));
  const r = await joiner.m.pairJoin(code, { waitMs: 2000 });
  assert.ok(r.ok, JSON.stringify(r));
  assert.ok(await until(() => holder.store.get(joiner.id.deviceId)?.state === 'trusted'));
}

const refusedFor = (s: Side, reason: string) =>
  s.lines.filter(
    (l) => l.event === 'peer.introduction-refused' && l.reason === reason && l.security === true,
  );

describe('introductions (policy pair)', () => {
  it('C pairs with B, so A trusts C and C trusts A, introduced by B, and they link', async () => {
    const { a, b, c, close } = await stage();
    try {
      await pair(a, b);
      assert.equal(a.m.stats().linked, 1);
      await pair(b, c);
      assert.ok(await until(() => a.m.stats().linked === 2 && c.m.stats().linked === 2));
      const cOnA = a.store.get(c.id.deviceId);
      const aOnC = c.store.get(a.id.deviceId);
      assert.equal(cOnA?.state, 'trusted');
      assert.equal(cOnA?.introducedBy, b.id.deviceId);
      assert.equal(cOnA?.name, 'charlie');
      assert.equal(cOnA?.role, 'performer');
      assert.equal(aOnC?.state, 'trusted');
      assert.equal(aOnC?.introducedBy, b.id.deviceId);
      // What the operators paired directly carries no introducer.
      assert.equal(a.store.get(b.id.deviceId)?.introducedBy, undefined);
      assert.equal(b.store.get(c.id.deviceId)?.introducedBy, undefined);
      assert.ok(a.lines.some((l) => l.event === 'peer.introduced' && l.introducer === b.id.deviceId));
      assert.equal(a.m.stats().introductions.accepted, 1);
      assert.deepEqual(a.m.stats().introductions.refused, {});
      assert.deepEqual(c.m.stats().introductions.refused, {}, 'what arrived while pairing was kept');
      assert.equal(c.m.stats().introductions.accepted, 1);
      // An introduced peer is not introduced onward: A sent nothing, so B learned nothing new.
      assert.equal(b.m.stats().introductions.accepted, 0);
    } finally {
      await close();
    }
  });

  it('a block on A holds against B’s introduction of C', async () => {
    const { a, b, c, close } = await stage();
    try {
      await pair(a, b);
      await a.store.block(c.id.deviceId);
      a.m.disconnect(c.id.deviceId, 'blocked by the operator');
      await pair(b, c);
      assert.ok(await until(() => refusedFor(a, 'blocked').length === 1));
      assert.equal(a.store.get(c.id.deviceId)?.state, 'blocked');
      assert.equal(a.store.get(c.id.deviceId)?.introducedBy, undefined);
      assert.equal(a.m.stats().introductions.refused.blocked, 1);
      assert.equal(a.m.stats().linked, 1);
    } finally {
      await close();
    }
  });

  it('an observer introducer cannot introduce a performer: the role is capped', async () => {
    const { a, b, c, close } = await stage();
    try {
      await pair(a, b, 'observer'); // A holds B as an observer; B follows A (holds it as a performer)…
      await b.store.allow(a.id.deviceId, 'observer'); // …until B's operator makes A an observer too
      await pair(b, c, 'performer'); // B holds C as a performer
      assert.ok(await until(() => a.store.get(c.id.deviceId)?.state === 'trusted'));
      assert.equal(a.store.get(c.id.deviceId)?.role, 'observer');
      const line = a.lines.find((l) => l.event === 'peer.introduced');
      assert.equal(line?.requested, 'performer');
      assert.equal(line?.role, 'observer');
      // C trusts B as a performer, but B holds A as an observer: A stays an observer on C.
      assert.ok(await until(() => c.store.get(a.id.deviceId)?.state === 'trusted'));
      assert.equal(c.store.get(a.id.deviceId)?.role, 'observer');
    } finally {
      await close();
    }
  });

  it('peers.introductions false: A neither accepts nor sends one', async () => {
    const { a, b, c, close } = await stage({ a: { introductions: false } });
    try {
      await pair(a, b);
      await pair(b, c);
      assert.ok(await until(() => refusedFor(a, 'disabled').length === 1));
      assert.equal(a.store.get(c.id.deviceId), undefined, 'nothing pinned');
      assert.equal(a.m.stats().introductions.refused.disabled, 1);
      assert.equal(a.m.stats().linked, 1);
      // C's side is on and accepted A from B; A still holds C as a stranger, so no link.
      assert.ok(await until(() => c.store.get(a.id.deviceId)?.introducedBy === b.id.deviceId));
      assert.ok(a.m.peers().some((p) => p.id === c.id.deviceId && p.state === 'pending'));
    } finally {
      await close();
    }
  });

  it('a forged or altered introduction is refused, and so are own ID, a held name and a relay', async () => {
    const { a, b, c, fromB, close } = await stage();
    try {
      await pair(a, b);
      const d = await createIdentity();
      const to = a.id.deviceId;
      const by = b.id.deviceId;
      const base = { by, id: d.deviceId, name: 'delta', role: 'performer' as const };
      const send = (body: ReturnType<typeof signIntroduction>) =>
        fromB(encodeLink({ type: 'introduce', body }));

      send(signIntroduction(c.id.keyPem, to, base)); // not B's key
      send(signIntroduction(b.id.keyPem, c.id.deviceId, base)); // signed for C, not A
      send({ ...signIntroduction(b.id.keyPem, to, { ...base, role: 'observer' }), role: 'performer' });
      assert.ok(await until(() => a.m.stats().introductions.refused['bad-signature'] === 3));
      assert.equal(refusedFor(a, 'bad-signature').length, 1, 'logged once per 10 s, counted each time');
      assert.equal(a.store.get(d.deviceId), undefined);

      send(signIntroduction(b.id.keyPem, to, { ...base, id: to }));
      assert.ok(await until(() => a.m.stats().introductions.refused['own-id'] === 1));

      // Relayed: B carries C's introduction. C is not trusted here and its key is not B's.
      send(signIntroduction(c.id.keyPem, to, { ...base, by: c.id.deviceId }));
      assert.ok(await until(() => a.m.stats().introductions.refused['not-trusted-introducer'] === 1));

      // A new device under the name A pinned B with: held like a key change, not pinned.
      const e = await createIdentity();
      send(signIntroduction(b.id.keyPem, to, { ...base, id: e.deviceId, name: 'BRAVO' }));
      assert.ok(await until(() => a.m.stats().introductions.refused['name-held'] === 1));
      assert.equal(a.store.get(e.deviceId), undefined);
      assert.deepEqual(
        a.store.held().map((h) => [h.presentedId, h.pinnedId]),
        [[e.deviceId, by]],
      );

      // The genuine one is taken.
      send(signIntroduction(b.id.keyPem, to, base));
      assert.ok(await until(() => a.store.get(d.deviceId)?.state === 'trusted'));
      assert.equal(a.store.get(d.deviceId)?.introducedBy, by);
    } finally {
      await close();
    }
  });
});
