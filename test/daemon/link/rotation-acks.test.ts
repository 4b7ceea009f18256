import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LinkManager } from '../../../daemon/link/manager.ts';
import type { PendingRotation } from '../../../daemon/link/rotation-acks.ts';
import { MSG } from '../../../daemon/link/v1/wire.ts';
import { newRotation } from '../../../daemon/peering/rotation.ts';
import type { DtlsSession } from '../../../protocols/dtls/endpoint.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';
import type { PeerStore } from '../../../trust-store/peers.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-timers.ts';
import { managerSide } from '../../helpers/link-manager.ts';
import { sessionPair } from '../../helpers/link-sessions.ts';
import { waitFor } from '../../helpers/wait.ts';

// A rotation told until each pinned peer acks it (daemon/link/rotation-acks.ts), between link
// managers over in-memory sessions on a fake clock: B rotates, A pinned B's old identity.

const flush = () => new Promise<void>((r) => setImmediate(r));

type Side = {
  m: LinkManager;
  store: PeerStore;
  lines: Record<string, unknown>[];
  /** What the manager asked to keep on disk, in order (undefined: delete the old key). */
  saves: (PendingRotation | undefined)[];
};

async function side(identity: Identity, name: string, clock: FakeClock, config: object = {}): Promise<Side> {
  const saves: (PendingRotation | undefined)[] = [];
  const { m, store, lines } = await managerSide({
    identity,
    name,
    clock,
    config: { discovery: false, ...config },
    init: {
      saveRotation: async (p) => {
        saves.push(p);
      },
      rotationResendMs: 2000,
    },
  });
  return { m, store, lines, saves };
}

/** `s` with the first message of link type `type` it sends lost on the way. */
function losing(s: DtlsSession, type: number): DtlsSession {
  let lost = false;
  return {
    ...s,
    send: (b: Uint8Array) => {
      if (!lost && b[0] === type) {
        lost = true;
        return;
      }
      s.send(b);
    },
  };
}

async function ensemble() {
  const clock = createFakeClock();
  const [ia, ib, ibNext] = await Promise.all([createIdentity(), createIdentity(), createIdentity()]);
  const a = await side(ia, 'alpha', clock);
  await a.store.pin({ id: ib.deviceId, name: 'bravo', state: 'trusted', role: 'performer' });
  return { clock, ia, ib, ibNext, a };
}

const linkedTo = (m: LinkManager, id: string) => m.peers().some((p) => p.id === id && p.state === 'linked');

/** A new session between A and B, which shows `bId`; B's first message of type `lose` is lost. */
function connect(
  a: Side,
  b: Side,
  ids: { a: Identity; b: Identity },
  o: { ports?: readonly [number, number]; lose?: number } = {},
): void {
  const [sa, sb] = sessionPair(ids.a, ids.b, o.ports);
  a.m.onSession(sa);
  b.m.onSession(o.lose === undefined ? sb : losing(sb, o.lose));
}

/** Both sides show the other linked: A sees `bId`, B sees `aId`. */
const bothLinked = (a: Side, b: Side, aId: string, bId: string) =>
  waitFor(() => linkedTo(a.m, bId) && linkedTo(b.m, aId));

describe('a rotation told until each pinned peer acks it', () => {
  it('resends on the old link when the first announcement is lost, and deletes the old key on the ack', async () => {
    const { clock, ia, ib, ibNext, a } = await ensemble();
    const b = await side(ib, 'bravo', clock);
    await b.store.pin({ id: ia.deviceId, name: 'alpha', state: 'trusted', role: 'performer' });
    try {
      connect(a, b, { a: ia, b: ib }, { lose: MSG.rotate });
      assert.ok(await bothLinked(a, b, ia.deviceId, ib.deviceId));

      await b.m.startRotation(newRotation(ib, ibNext, [ia.deviceId]));
      for (let i = 0; i < 20; i++) await flush();
      assert.equal(a.store.get(ib.deviceId)?.state, 'trusted', 'the first announcement never arrived');
      assert.deepEqual(
        b.m.rotationStatus()?.pending.map((p) => [p.id, p.name]),
        [[ia.deviceId, 'alpha']],
      );
      assert.equal(b.saves.length, 0, 'nothing changed to save yet');

      await clock.advance(2000, flush);
      assert.ok(await waitFor(() => b.saves.length > 0));
      assert.deepEqual(
        b.saves.map((p) => p?.pending),
        [[]],
        'the last ack is saved; the old key stays until the switch',
      );
      assert.deepEqual(b.m.rotationStatus()?.pending, []);
      b.m.useIdentity(ibNext);
      assert.ok(await waitFor(() => b.saves.length > 1));
      assert.equal(b.saves.at(-1), undefined, 'the old key goes with the switch');
      assert.equal(b.m.rotationStatus(), null);
      assert.equal(a.store.get(ib.deviceId), undefined);
      assert.deepEqual(
        [a.store.get(ibNext.deviceId)?.name, a.store.get(ibNext.deviceId)?.state],
        ['bravo', 'trusted'],
      );
      assert.ok(b.lines.some((l) => l.event === 'identity.rotation-acked' && l.peer === ia.deviceId));
      assert.ok(b.lines.some((l) => l.event === 'identity.previous-removed' && l.security === true));

      // Nothing is told any more: the resend timer is gone with the last ack.
      const sent = a.lines.filter((l) => l.event === 'peer.rotated').length;
      await clock.advance(10_000, flush);
      assert.equal(a.lines.filter((l) => l.event === 'peer.rotated').length, sent);
      assert.equal(
        a.lines.some((l) => l.event === 'peer.rotation-refused'),
        false,
      );
    } finally {
      await Promise.all([a.m.close(), b.m.close()]);
    }
  });

  it('tells a peer that missed it before the new bind; a lost first try is a held key change the next session resolves', async () => {
    const { clock, ia, ib, ibNext, a } = await ensemble();
    // B after the switch (or restarted): its identity is the new one, A still owes the ack.
    const b = await side(ibNext, 'bravo', clock);
    await b.store.pin({ id: ia.deviceId, name: 'alpha', state: 'trusted', role: 'performer' });
    try {
      await b.m.startRotation(newRotation(ib, ibNext, [ia.deviceId]));
      assert.deepEqual(b.m.rotationStatus()?.pending.length, 1);

      connect(a, b, { a: ia, b: ibNext }, { lose: MSG.rotate });
      assert.ok(await waitFor(() => a.store.held().length === 1), 'without the rotation it is a key change');
      assert.deepEqual(
        a.store.held().map((h) => [h.presentedId, h.pinnedId]),
        [[ibNext.deviceId, ib.deviceId]],
      );
      assert.ok(a.lines.some((l) => l.event === 'peer.refused' && l.reason === 'key-change'));
      assert.equal(b.m.rotationStatus()?.pending.length, 1, 'still owed');

      connect(a, b, { a: ia, b: ibNext }, { ports: [7403, 7404] });
      assert.ok(await bothLinked(a, b, ia.deviceId, ibNext.deviceId));
      assert.deepEqual(
        a.store.list().map((p) => [p.id, p.name, p.state, p.role]),
        [[ibNext.deviceId, 'bravo', 'trusted', 'performer']],
      );
      assert.deepEqual(a.store.held(), [], 'the rotation explains the held change');
      assert.ok(await waitFor(() => b.saves.includes(undefined)));
      assert.equal(b.m.rotationStatus(), null);
      assert.ok(a.lines.some((l) => l.event === 'peer.rotated' && l.next === ibNext.deviceId));
    } finally {
      await Promise.all([a.m.close(), b.m.close()]);
    }
  });

  it('tells a peer whose pin is written after the rotation began: it missed the list, not the rotation', async () => {
    // Seen in CI: `hana trust rotate` ran while B's link to A was between A's bind and B's pin
    // write. The rotation listed nobody, A had pinned B's old ID, and every later session was a
    // key change A held for its operator.
    const { clock, ia, ib, ibNext, a } = await ensemble();
    const b = await side(ib, 'bravo', clock, { policy: 'accept-new' });
    try {
      await b.m.startRotation(newRotation(ib, ibNext, []));
      assert.equal(b.saves.length, 0, 'nobody is owed yet, and the old key stays until the switch');
      connect(a, b, { a: ia, b: ib }, { lose: MSG.rotate });
      assert.ok(await bothLinked(a, b, ia.deviceId, ib.deviceId));
      assert.equal(b.store.get(ia.deviceId)?.state, 'trusted', 'B pinned A after the list was taken');
      assert.deepEqual(
        b.m.rotationStatus()?.pending.map((p) => p.id),
        [ia.deviceId],
        'A is owed the rotation',
      );
      assert.ok(await waitFor(() => b.saves.length > 0));
      const saved: PendingRotation | undefined = b.saves.at(-1);
      assert.deepEqual(saved?.pending, [ia.deviceId], 'and that is on disk with the old key');

      // The announcement on the old link was lost and B switches before a resend.
      b.m.useIdentity(ibNext);
      connect(a, b, { a: ia, b: ibNext }, { ports: [7403, 7404] });
      assert.ok(await bothLinked(a, b, ia.deviceId, ibNext.deviceId));
      assert.deepEqual(a.store.held(), [], 'no key change for A’s operator');
      assert.deepEqual(
        a.store.list().map((p) => [p.id, p.state]),
        [[ibNext.deviceId, 'trusted']],
      );
      assert.ok(await waitFor(() => b.saves.at(-1) === undefined));
      assert.equal(b.m.rotationStatus(), null);
    } finally {
      await Promise.all([a.m.close(), b.m.close()]);
    }
  });

  it('tells a peer pinned after the caller took its list but before the rotation began', async () => {
    // Seen again, under load, with the first fix: the pin was written while `hana trust rotate` wrote
    // the old key and the new identity, before the rotation began.
    const { clock, ia, ib, ibNext, a } = await ensemble();
    const b = await side(ib, 'bravo', clock, { policy: 'accept-new' });
    try {
      const rotation = newRotation(ib, ibNext, []);
      connect(a, b, { a: ia, b: ib });
      assert.ok(await bothLinked(a, b, ia.deviceId, ib.deviceId));
      await b.m.startRotation(rotation);
      assert.ok(
        await waitFor(() => a.store.get(ibNext.deviceId)?.state === 'trusted'),
        'told on the old link',
      );
      assert.ok(await waitFor(() => b.m.rotationStatus()?.pending.length === 0), 'and acked');
      const saved: PendingRotation | undefined = b.saves[0];
      assert.deepEqual(saved?.pending, [ia.deviceId], 'owed on disk before it was told');
      b.m.useIdentity(ibNext);
      assert.ok(await waitFor(() => b.saves.at(-1) === undefined));
      assert.ok(
        b.lines.some(
          (l) => l.event === 'identity.previous-removed' && /every pinned peer/.test(String(l.msg)),
        ),
      );
    } finally {
      await Promise.all([a.m.close(), b.m.close()]);
    }
  });

  it('tells a peer whose pin write was still running at the switch', async () => {
    const { clock, ia, ib, ibNext, a } = await ensemble();
    const b = await side(ib, 'bravo', clock, { policy: 'accept-new' });
    // B's trust decision on A is held inside its pin write until the switch is done.
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let writing = false;
    const pin = b.store.pin.bind(b.store);
    b.store.pin = async (p) => {
      writing = true;
      await gate;
      return pin(p);
    };
    try {
      await b.m.startRotation(newRotation(ib, ibNext, []));
      connect(a, b, { a: ia, b: ib });
      assert.ok(await waitFor(() => writing && linkedTo(a.m, ib.deviceId)), 'A pinned B’s old ID');
      b.m.useIdentity(ibNext);
      for (let i = 0; i < 5; i++) await flush();
      assert.equal(b.saves.length, 0, 'the old key stays while a decision on the old ID runs');
      release();
      assert.ok(await waitFor(() => b.m.rotationStatus()?.pending.length === 1), 'A is owed it');

      connect(a, b, { a: ia, b: ibNext }, { ports: [7403, 7404] });
      assert.ok(await bothLinked(a, b, ia.deviceId, ibNext.deviceId));
      assert.deepEqual(a.store.held(), [], 'no key change for A’s operator');
      assert.ok(await waitFor(() => b.saves.at(-1) === undefined));
      assert.equal(b.m.rotationStatus(), null);
    } finally {
      release();
      await Promise.all([a.m.close(), b.m.close()]);
    }
  });

  it('the same rotation heard on the old link and before a new bind at once is one move, not a refusal', async () => {
    const { clock, ia, ib, ibNext, a } = await ensemble();
    const b = await side(ib, 'bravo', clock);
    // B after the switch: the same home, restarted as the new identity while the old one still talks.
    const bNext = await side(ibNext, 'bravo', clock);
    for (const s of [b, bNext])
      await s.store.pin({ id: ia.deviceId, name: 'alpha', state: 'trusted', role: 'performer' });
    try {
      connect(a, b, { a: ia, b: ib });
      // Both sides: B tells only on a link it trusts, and its resend waits for a fake clock.
      assert.ok(await bothLinked(a, b, ia.deviceId, ib.deviceId));
      await bNext.m.startRotation(newRotation(ib, ibNext, [ia.deviceId]));
      // Both reach A in the same turn: each judges the pin unmoved, one write moves it first.
      connect(a, bNext, { a: ia, b: ibNext }, { ports: [7403, 7404] });
      await b.m.startRotation(newRotation(ib, ibNext, [ia.deviceId]));
      assert.ok(await waitFor(() => linkedTo(a.m, ibNext.deviceId)));
      assert.deepEqual(
        a.store.list().map((p) => [p.id, p.state]),
        [[ibNext.deviceId, 'trusted']],
      );
      assert.equal(a.lines.filter((l) => l.event === 'peer.rotated').length, 1, 'one move');
      assert.deepEqual(
        a.lines.filter((l) => l.event === 'link.rejected' || String(l.reason).includes('conflict')),
        [],
        'no refusal, no violation',
      );
      assert.ok(await waitFor(() => b.m.rotationStatus()?.pending.length === 0), 'the old link was acked');
      assert.ok(await waitFor(() => bNext.m.rotationStatus() === null), 'the new session was acked');
    } finally {
      await Promise.all([a.m.close(), b.m.close(), bNext.m.close()]);
    }
  });

  it('keeps the old key until the switch when nobody is owed, then deletes it', async () => {
    const { clock, ib, ibNext } = await ensemble();
    const b = await side(ib, 'bravo', clock);
    try {
      await b.m.startRotation(newRotation(ib, ibNext, []));
      for (let i = 0; i < 5; i++) await flush();
      assert.equal(b.saves.length, 0);
      assert.deepEqual(b.m.rotationStatus()?.pending, []);
      b.m.useIdentity(ibNext);
      assert.ok(await waitFor(() => b.saves.length > 0));
      assert.deepEqual(b.saves, [undefined]);
      assert.equal(b.m.rotationStatus(), null);
    } finally {
      await b.m.close();
    }
  });

  it('a peer the operator forgets owes nothing: the old key goes', async () => {
    const { clock, ia, ib, ibNext } = await ensemble();
    const b = await side(ibNext, 'bravo', clock);
    await b.store.pin({ id: ia.deviceId, name: 'alpha', state: 'trusted', role: 'performer' });
    try {
      await b.m.startRotation(newRotation(ib, ibNext, [ia.deviceId]));
      await b.store.forget(ia.deviceId);
      b.m.disconnect(ia.deviceId, 'forgotten by the operator');
      assert.ok(await waitFor(() => b.saves.includes(undefined)));
      assert.equal(b.m.rotationStatus(), null);
      assert.ok(b.lines.some((l) => l.event === 'identity.rotation-ack-dropped'));
    } finally {
      await b.m.close();
    }
  });
});
