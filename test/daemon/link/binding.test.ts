import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import {
  ensembleTag,
  type Role,
  signBinding,
  signRotation,
  startEnsembleRun,
  verifyBinding,
  verifyRotation,
} from '../../../daemon/link/binding.ts';
import { decodeLink, encodeLink, LINK_VERSION, MAX_MESSAGE_BYTES } from '../../../daemon/link/v1/wire.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';
import {
  ENSEMBLE_EXPORTER_LABEL,
  PAIRING_EXPORTER_LABEL,
  pairingContext,
} from '../../../trust-store/pairing/context.ts';
import { cpaceStart } from '../../../trust-store/pairing/cpace.ts';

// The proofs that make a DTLS session mean something: each must fail for every field changed.

let a: Identity;
let b: Identity;
let mallory: Identity;
const exporter = randomBytes(32);

before(async () => {
  [a, b, mallory] = await Promise.all([createIdentity(), createIdentity(), createIdentity()]);
});

describe('channel binding', () => {
  it('verifies a signature made with the certificate’s own key for this session and role', () => {
    const sig = signBinding(a.keyPem, 'client', exporter, a.certDer, b.certDer);
    assert.equal(verifyBinding(sig, 'client', exporter, a.certDer, b.certDer), true);
  });

  it('fails for another session, another role, swapped certificates, or a stolen certificate with the wrong key', () => {
    const sig = signBinding(a.keyPem, 'client', exporter, a.certDer, b.certDer);
    assert.equal(
      verifyBinding(sig, 'client', randomBytes(32), a.certDer, b.certDer),
      false,
      'replayed into another session',
    );
    assert.equal(
      verifyBinding(sig, 'server', exporter, a.certDer, b.certDer),
      false,
      'reflected with the other role',
    );
    assert.equal(
      verifyBinding(sig, 'client', exporter, a.certDer, mallory.certDer),
      false,
      'relayed to a third party',
    );
    const forged = signBinding(mallory.keyPem, 'client', exporter, a.certDer, b.certDer);
    assert.equal(
      verifyBinding(forged, 'client', exporter, a.certDer, b.certDer),
      false,
      'a’s certificate, mallory’s key',
    );
    assert.equal(verifyBinding('AAAAAAAAAAAAAAAAAAAAAA==', 'client', exporter, a.certDer, b.certDer), false);
    assert.equal(
      verifyBinding(sig, 'client', exporter, Uint8Array.of(1, 2, 3), b.certDer),
      false,
      'garbage certificate',
    );
  });

  it('proves the ensemble secret with CPace only for the same secret, session, IDs and roles', () => {
    const session = (x: Uint8Array) => ({ exporter: () => new Uint8Array(x) });
    type View = { secret: string; role: Role; own: Identity; peer: Identity; exporter: Uint8Array };
    const run = (v: View) =>
      startEnsembleRun({
        secret: v.secret,
        role: v.role,
        session: session(v.exporter),
        ownId: v.own.deviceId,
        peerId: v.peer.deviceId,
      });
    /** Both runs answer each other's share; each checks the other's tag. */
    const agree = (x: View, y: View) => {
      const [rx, ry] = [run(x), run(y)];
      const [tx, ty] = [rx.answer(ry.share), ry.answer(rx.share)];
      assert.ok(tx !== null && ty !== null);
      return [rx.check(ty), ry.check(tx)];
    };
    const client: View = { secret: 'correct horse', role: 'client', own: a, peer: b, exporter };
    const server: View = { secret: 'correct horse', role: 'server', own: b, peer: a, exporter };
    assert.deepEqual(agree(client, server), [true, true]);
    assert.deepEqual(agree(client, { ...server, secret: 'battery staple' }), [false, false]);
    assert.deepEqual(
      agree(client, { ...server, exporter: randomBytes(32) }),
      [false, false],
      'another session',
    );
    assert.deepEqual(agree(client, { ...server, peer: mallory }), [false, false], 'a relay’s ID');
    assert.deepEqual(agree(client, { ...server, role: 'client' }), [false, false], 'both as client');

    const r = run(client);
    assert.equal(r.answer(Buffer.alloc(32).toString('base64')), null, 'the identity element');
    const once = run(client);
    const peer = run(server);
    const tag = peer.answer(once.share)!;
    once.answer(peer.share);
    assert.equal(once.check(tag), true);
    assert.equal(once.check(tag), false, 'a tag is checked once');
    assert.equal(run(client).check(tag), false, 'no tag before the peer’s share');

    assert.notEqual(ensembleTag('band-a'), ensembleTag('band-b'));
    assert.doesNotMatch(ensembleTag('correct horse'), /correct/);
  });

  it('an ensemble run never matches a pairing run, even with the same bytes as PRS', () => {
    const secret = 'amber-delta-ocean';
    const ens = startEnsembleRun({
      secret,
      role: 'client',
      session: { exporter: () => new Uint8Array(exporter) },
      ownId: a.deviceId,
      peerId: b.deviceId,
    });
    const pair = cpaceStart({
      prs: new TextEncoder().encode(secret),
      ...pairingContext({ exporter, initiatorId: a.deviceId, responderId: b.deviceId }),
      role: 'responder',
    });
    const fin = pair.finish(new Uint8Array(Buffer.from(ens.share, 'base64')));
    assert.ok(fin.ok);
    const tag = ens.answer(Buffer.from(pair.share).toString('base64'))!;
    assert.equal(ens.check(Buffer.from(fin.tag).toString('base64')), false);
    assert.equal(fin.checkPeerTag(new Uint8Array(Buffer.from(tag, 'base64'))), false);
    assert.notEqual(
      PAIRING_EXPORTER_LABEL,
      ENSEMBLE_EXPORTER_LABEL,
      'and each has its own sid on a real session',
    );
  });

  it('accepts a rotation only when signed by the pinned (old) key', () => {
    const sig = signRotation(a.keyPem, a.certDer, b.certDer);
    assert.equal(verifyRotation(sig, a.certDer, b.certDer), true);
    assert.equal(
      verifyRotation(signRotation(mallory.keyPem, a.certDer, b.certDer), a.certDer, b.certDer),
      false,
    );
    assert.equal(
      verifyRotation(sig, a.certDer, mallory.certDer),
      false,
      'the vouched-for certificate is fixed',
    );
  });
});

describe('link wire format v2', () => {
  it('round-trips every message type', () => {
    const share = Buffer.alloc(32, 7).toString('base64');
    const msgs = [
      { type: 'ping', id: 7, t: 1234.5 },
      { type: 'pong', id: 7, t: 1234.5 },
      { type: 'close', reason: 'bye' },
      { type: 'bind', body: { v: LINK_VERSION, name: 'ay', ensemble: 'default', sig: 'x'.repeat(96) } },
      {
        type: 'bind',
        body: { v: LINK_VERSION, name: 'ay', ensemble: 'default', sig: 'x'.repeat(96), share },
      },
      { type: 'ensemble-confirm', body: { tag: share } },
      { type: 'rotate', body: { cert: 'y'.repeat(500), sig: 'z'.repeat(96) } },
    ] as const;
    for (const m of msgs) assert.deepEqual(decodeLink(encodeLink(m)), { ok: true, message: m });
  });

  it('names the version of a bind from another release instead of calling it malformed', () => {
    const v1 = { v: 1, name: 'ay', ensemble: 'default', sig: 'x'.repeat(96), proof: 'p'.repeat(44) };
    const r = decodeLink(Uint8Array.of(1, ...new TextEncoder().encode(JSON.stringify(v1))));
    assert.deepEqual(r, { ok: false, error: `bind of link version 1, not ${LINK_VERSION}`, version: 1 });
    const old = { ...v1, v: LINK_VERSION };
    const proof = decodeLink(Uint8Array.of(1, ...new TextEncoder().encode(JSON.stringify(old))));
    assert.deepEqual(proof, { ok: false, error: 'malformed bind' }, 'v2 has no HMAC proof');
  });

  it('rejects empty, oversize, unknown, malformed and non-UTF-8 messages with a reason', () => {
    const bad = [
      new Uint8Array(0),
      new Uint8Array(MAX_MESSAGE_BYTES + 1),
      Uint8Array.of(99, 1, 2),
      Uint8Array.of(2, 1, 2),
      Uint8Array.of(1, 0xff, 0xfe),
      Uint8Array.of(1, ...new TextEncoder().encode('{"v":2}')),
      Uint8Array.of(4, ...new TextEncoder().encode('{"reason":1}')),
      Uint8Array.of(15, ...new TextEncoder().encode('{"tag":"short"}')),
    ];
    for (const b of bad) {
      const r = decodeLink(b);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.error.length > 0);
    }
  });
});
