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

async function side(identity: Identity, name: string, clock: FakeClock): Promise<Side> {
  const saves: (PendingRotation | undefined)[] = [];
  const { m, store, lines } = await managerSide({
    identity,
    name,
    clock,
    config: { discovery: false },
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

describe('a rotation told until each pinned peer acks it', () => {
  it('resends on the old link when the first announcement is lost, and deletes the old key on the ack', async () => {
    const { clock, ia, ib, ibNext, a } = await ensemble();
    const b = await side(ib, 'bravo', clock);
    await b.store.pin({ id: ia.deviceId, name: 'alpha', state: 'trusted', role: 'performer' });
    try {
      const [sa, sb] = sessionPair(ia, ib);
      a.m.onSession(sa);
      b.m.onSession(losing(sb, MSG.rotate));
      assert.ok(await waitFor(() => linkedTo(a.m, ib.deviceId) && linkedTo(b.m, ia.deviceId)));

      await b.m.startRotation(newRotation(ib, ibNext, [ia.deviceId]));
      for (let i = 0; i < 20; i++) await flush();
      assert.equal(a.store.get(ib.deviceId)?.state, 'trusted', 'the first announcement never arrived');
      assert.deepEqual(
        b.m.rotationStatus()?.pending.map((p) => [p.id, p.name]),
        [[ia.deviceId, 'alpha']],
      );
      assert.deepEqual(b.saves, [], 'nothing changed to save yet');

      await clock.advance(2000, flush);
      assert.ok(await waitFor(() => b.saves.length > 0));
      assert.deepEqual(b.saves, [undefined], 'the old key goes with the last ack');
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

      const [sa1, sb1] = sessionPair(ia, ibNext);
      a.m.onSession(sa1);
      b.m.onSession(losing(sb1, MSG.rotate));
      assert.ok(await waitFor(() => a.store.held().length === 1), 'without the rotation it is a key change');
      assert.deepEqual(
        a.store.held().map((h) => [h.presentedId, h.pinnedId]),
        [[ibNext.deviceId, ib.deviceId]],
      );
      assert.ok(a.lines.some((l) => l.event === 'peer.refused' && l.reason === 'key-change'));
      assert.equal(b.m.rotationStatus()?.pending.length, 1, 'still owed');

      const [sa2, sb2] = sessionPair(ia, ibNext, [7403, 7404]);
      a.m.onSession(sa2);
      b.m.onSession(sb2);
      assert.ok(await waitFor(() => linkedTo(a.m, ibNext.deviceId) && linkedTo(b.m, ia.deviceId)));
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
