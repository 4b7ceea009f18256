import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LinkConfig } from '../../../daemon/config/link-schema.ts';
import { signBinding, signRotation } from '../../../daemon/link/binding.ts';
import { createLinkManager } from '../../../daemon/link/manager.ts';
import {
  judgeRotation,
  judgeRotationFrom,
  RotationRefusal,
  type RotationVerdict,
} from '../../../daemon/link/rotation.ts';
import { decodeLink, encodeLink, LINK_VERSION } from '../../../daemon/link/v1/wire.ts';
import { securityLogger } from '../../../daemon/log.ts';
import type { DtlsSession } from '../../../protocols/dtls/endpoint.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';
import type { PeerStore } from '../../../trust-store/peers.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { waitFor } from '../../helpers/wait.ts';
import { mustOpen } from '../../trust-store/helpers.ts';

// Who may move which pin by rotating: the verdict for each way a rotation can be abused, and
// the manager applying it (a security line with the reason, a violation, no store change).

let dir: string;
let n = 0;
let own: Identity;
let observer: Identity;
let next: Identity;
let victim: Identity;
let stranger: Identity;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-rotation-test-'));
  [own, observer, next, victim, stranger] = await Promise.all([
    createIdentity(),
    createIdentity(),
    createIdentity(),
    createIdentity(),
    createIdentity(),
  ]);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const b64 = (der: Uint8Array) => Buffer.from(der).toString('base64');
/** The observer's announcement of `certDer`, signed by `signer` (the observer unless given). */
const announce = (certDer: Uint8Array, signer: Identity = observer) => ({
  cert: b64(certDer),
  sig: signRotation(signer.keyPem, signer.certDer, certDer),
});

/** A store where the observer is pinned trusted and the victim trusted as a performer. */
async function ensemble(): Promise<PeerStore> {
  const store = await mustOpen(join(dir, `peers-${++n}.json`));
  await store.pin({ id: observer.deviceId, name: 'obs', state: 'trusted', role: 'observer' });
  await store.pin({ id: victim.deviceId, name: 'vee', state: 'trusted', role: 'performer' });
  return store;
}

const judge = (store: PeerStore, body: { cert: string; sig: string }, linkTrusted = true) =>
  judgeRotation({ linkTrusted, oldCertDer: observer.certDer, body, ownId: own.deviceId, store });

const refusedFor = (v: RotationVerdict) => (v.ok ? 'accepted' : v.reason);

describe('judgeRotation', () => {
  it('accepts a fresh certificate signed by the pinned key', async () => {
    const v = judge(await ensemble(), announce(next.certDer));
    assert.deepEqual(v, { ok: true, oldId: observer.deviceId, newId: next.deviceId });
  });

  it('refuses another pinned peer’s certificate in every state, and the peer’s own current one', async () => {
    const store = await ensemble();
    assert.equal(refusedFor(judge(store, announce(victim.certDer))), 'pinned-id');
    await store.pin({ id: stranger.deviceId, name: 'new', state: 'pending' });
    assert.equal(refusedFor(judge(store, announce(stranger.certDer))), 'pinned-id');
    await store.block(stranger.deviceId);
    assert.equal(refusedFor(judge(store, announce(stranger.certDer))), 'pinned-id');
    assert.equal(refusedFor(judge(store, announce(observer.certDer))), 'pinned-id');
    const v = judge(store, announce(victim.certDer));
    assert.ok(!v.ok);
    assert.equal(v.newId, victim.deviceId);
    assert.match(v.detail, /"vee"/);
  });

  it('refuses an ID seen in a held key change, presented or pinned, and our own ID', async () => {
    const store = await ensemble();
    await store.hold({ name: 'vee', presentedId: stranger.deviceId, pinnedId: victim.deviceId });
    assert.equal(refusedFor(judge(store, announce(stranger.certDer))), 'held-id');
    await store.forget(victim.deviceId);
    assert.equal(refusedFor(judge(store, announce(victim.certDer))), 'held-id', 'a forgotten pin still held');
    assert.equal(refusedFor(judge(store, announce(own.certDer))), 'own-id');
  });

  it('refuses what the pinned key did not sign, and bytes that are not a certificate', async () => {
    const store = await ensemble();
    assert.equal(refusedFor(judge(store, announce(next.certDer, stranger))), 'bad-signature');
    const other = announce(stranger.certDer);
    assert.equal(
      refusedFor(judge(store, { cert: b64(next.certDer), sig: other.sig })),
      'bad-signature',
      'a signature for another certificate',
    );
    assert.equal(refusedFor(judge(store, { ...announce(next.certDer), sig: 'AAAA' })), 'bad-signature');
    assert.equal(refusedFor(judge(store, announce(randomBytes(300)))), 'not-a-certificate');
  });

  it('refuses unless the link is trusted and its pin still is', async () => {
    const store = await ensemble();
    assert.equal(refusedFor(judge(store, announce(next.certDer), false)), 'not-trusted');
    await store.pin({ id: stranger.deviceId, name: 'pend', state: 'pending' });
    const pendingPeer = judgeRotation({
      linkTrusted: true,
      oldCertDer: stranger.certDer,
      body: announce(next.certDer, stranger),
      ownId: own.deviceId,
      store,
    });
    assert.equal(refusedFor(pendingPeer), 'not-trusted', 'a pending pin does not rotate into trust');
    await store.block(observer.deviceId);
    assert.equal(refusedFor(judge(store, announce(next.certDer))), 'not-trusted');
    await store.forget(observer.deviceId);
    assert.equal(refusedFor(judge(store, announce(next.certDer))), 'not-trusted');
  });

  it('answers the same rotation again once the pin moved: nothing to write, an ack', async () => {
    const store = await ensemble();
    await store.rotate(observer.deviceId, next.deviceId);
    assert.deepEqual(judge(store, announce(next.certDer)), {
      ok: true,
      oldId: observer.deviceId,
      newId: next.deviceId,
      already: true,
    });
    assert.equal(
      refusedFor(judge(store, announce(next.certDer, stranger))),
      'not-trusted',
      'signed by another key',
    );
    assert.equal(refusedFor(judge(store, announce(next.certDer), false)), 'not-trusted');
  });

  it('lets a rotation resolve the key change it explains, and only that one', async () => {
    const store = await ensemble();
    await store.hold({ name: 'obs', presentedId: next.deviceId, pinnedId: observer.deviceId });
    assert.deepEqual(judge(store, announce(next.certDer)), {
      ok: true,
      oldId: observer.deviceId,
      newId: next.deviceId,
    });
    await store.rotate(observer.deviceId, next.deviceId);
    assert.deepEqual(store.held(), [], 'the held change went with the move');
    const other = await ensemble();
    await other.hold({ name: 'vee', presentedId: next.deviceId, pinnedId: victim.deviceId });
    assert.equal(refusedFor(judge(other, announce(next.certDer))), 'held-id', 'held under another pin');
  });

  it('judges a rotation told over a session with the new certificate by the old one it carries', async () => {
    const store = await ensemble();
    const from = (old: Identity, signer: Identity = old) => ({
      from: b64(old.certDer),
      sig: signRotation(signer.keyPem, old.certDer, next.certDer),
    });
    const late = (body: { from: string; sig: string }, sessionCertDer = next.certDer) =>
      judgeRotationFrom({ sessionCertDer, body, ownId: own.deviceId, store });
    assert.deepEqual(late(from(observer)), { ok: true, oldId: observer.deviceId, newId: next.deviceId });
    assert.equal(refusedFor(late(from(observer, stranger))), 'bad-signature', 'not signed by the pinned key');
    assert.equal(
      refusedFor(late(from(observer), stranger.certDer)),
      'bad-signature',
      'vouches for another certificate than the session shows',
    );
    assert.equal(refusedFor(late(from(stranger))), 'not-trusted', 'a certificate nobody pinned');
    const v = late({ ...from(observer), from: b64(randomBytes(400)) });
    assert.equal(refusedFor(v), 'not-trusted');
    // Onto another pinned peer: the same rules as the announcement over the old link.
    const onto = judgeRotationFrom({
      sessionCertDer: victim.certDer,
      body: {
        from: b64(observer.certDer),
        sig: signRotation(observer.keyPem, observer.certDer, victim.certDer),
      },
      ownId: own.deviceId,
      store,
    });
    assert.equal(refusedFor(onto), 'pinned-id');
  });

  it('names every refusal with a stable code', async () => {
    const store = await ensemble();
    const v = judge(store, announce(victim.certDer));
    assert.ok(!v.ok && RotationRefusal.options.includes(v.reason));
  });
});

/** A DTLS session the test drives: the observer's side of a link the manager accepted. */
function fakeSession(peer: Identity) {
  const sent: Uint8Array[] = [];
  const violations: string[] = [];
  let deliver: (b: Uint8Array) => void = () => {};
  const exporter = new Uint8Array(randomBytes(32));
  const session: DtlsSession = {
    remote: { address: '127.0.0.9', port: 7400 },
    role: 'server',
    peerCertDer: peer.certDer,
    exporter: () => exporter,
    send: (b) => sent.push(b),
    onData: (fn) => {
      deliver = fn;
    },
    onClose: () => {},
    close: () => {},
    violation: (d) => violations.push(d),
  };
  const bind = () =>
    deliver(
      encodeLink({
        type: 'bind',
        body: {
          v: LINK_VERSION,
          name: 'obs',
          ensemble: 'default',
          sig: signBinding(peer.keyPem, 'client', exporter, peer.certDer, own.certDer),
        },
      }),
    );
  return {
    session,
    sent,
    violations,
    bind,
    deliver: (m: Parameters<typeof encodeLink>[0]) => deliver(encodeLink(m)),
  };
}

const until = async (check: () => boolean) => {
  await waitFor(check);
  assert.ok(check());
};

describe('the link manager applying a rotation', () => {
  async function linked() {
    const store = await ensemble();
    const { log, lines } = captureLogger();
    const manager = createLinkManager({
      config: LinkConfig.parse({ discovery: false }),
      identity: own,
      name: 'watcher',
      store,
      log,
      security: securityLogger(log),
      dial: () => Promise.reject(new Error('no dialling here')),
    });
    const s = fakeSession(observer);
    manager.onSession(s.session);
    s.bind();
    await until(() => lines.some((l) => l.event === 'link.trusted'));
    return { store, lines, manager, s };
  }

  it('refuses a rotation onto a pinned peer: a security line with the reason, a violation, pins untouched', async () => {
    const { store, lines, manager, s } = await linked();
    try {
      const before = store.list();
      s.deliver({ type: 'rotate', body: announce(victim.certDer) });
      await until(() => lines.some((l) => l.event === 'peer.rotation-refused'));
      const line = lines.find((l) => l.event === 'peer.rotation-refused')!;
      assert.equal(line.reason, 'pinned-id');
      assert.equal(line.security, true);
      assert.equal(line.peer, observer.deviceId);
      assert.equal(line.next, victim.deviceId);
      assert.deepEqual(s.violations, ['rotation refused: pinned-id']);
      assert.deepEqual(store.list(), before);
      s.deliver({ type: 'rotate', body: announce(next.certDer, stranger) });
      await until(() => s.violations.length === 2);
      assert.equal(s.violations[1], 'rotation refused: bad-signature');
      assert.ok(lines.some((l) => l.event === 'peer.rotation-refused' && l.reason === 'bad-signature'));
    } finally {
      await manager.close();
    }
  });

  it('moves the pin for a fresh certificate once and acks it; a resend moves nothing and is acked again', async () => {
    const { store, lines, manager, s } = await linked();
    const acks = () =>
      s.sent
        .map((b) => decodeLink(b))
        .flatMap((m) => (m.ok && m.message.type === 'rotate-ack' ? [m.message.body] : []));
    try {
      s.deliver({ type: 'rotate', body: announce(next.certDer) });
      await until(() => lines.some((l) => l.event === 'peer.rotated'));
      assert.deepEqual(
        store.list().map((p) => [p.id, p.name, p.state, p.role]),
        [
          [next.deviceId, 'obs', 'trusted', 'observer'],
          [victim.deviceId, 'vee', 'trusted', 'performer'],
        ],
      );
      await until(() => acks().length === 1);
      assert.deepEqual(acks()[0], { from: observer.deviceId, to: next.deviceId });
      const moved = store.list();
      // Its first ack was lost, say: the same announcement again is answered, not held against it.
      s.deliver({ type: 'rotate', body: announce(next.certDer) });
      await until(() => acks().length === 2);
      assert.deepEqual(acks()[1], { from: observer.deviceId, to: next.deviceId });
      assert.deepEqual(store.list(), moved);
      assert.deepEqual(s.violations, []);
      assert.equal(lines.filter((l) => l.event === 'peer.rotated').length, 1);
      assert.equal(
        lines.some((l) => l.event === 'peer.rotation-refused'),
        false,
      );
      assert.equal(
        s.sent.map((b) => decodeLink(b)).filter((m) => m.ok && m.message.type === 'close').length,
        0,
      );
    } finally {
      await manager.close();
    }
  });
});
