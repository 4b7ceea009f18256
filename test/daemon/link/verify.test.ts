import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { signBinding } from '../../../daemon/link/binding.ts';
import { LINK_VERSION } from '../../../daemon/link/v1/wire.ts';
import { type BindInput, judgeBind } from '../../../daemon/link/verify.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';

// The bind verdict on its own: one pure function, one typed answer, for every way a bind fails.

let me: Identity;
let peer: Identity;
let other: Identity;
before(async () => {
  [me, peer, other] = await Promise.all([createIdentity(), createIdentity(), createIdentity()]);
});

function input(over: Partial<BindInput> = {}, body: Partial<BindInput['body']> = {}): BindInput {
  const exporter = randomBytes(32);
  const base: BindInput = {
    body: {
      v: LINK_VERSION,
      name: 'bee',
      ensemble: 'default',
      sig: signBinding(peer.keyPem, 'client', exporter, peer.certDer, me.certDer),
    },
    peerRole: 'client',
    peerCertDer: peer.certDer,
    exporter,
    ownCertDer: me.certDer,
    ownId: me.deviceId,
    ensemble: { name: 'default', hasSecret: false },
    where: '127.0.0.1:7400',
  };
  return { ...base, ...over, body: { ...base.body, ...body } };
}

describe('judgeBind', () => {
  it('accepts a bind signed over this session by the presented certificate', () => {
    assert.deepEqual(judgeBind(input()), { ok: true, presented: peer.deviceId, ensembleRun: false });
  });

  it('refuses a signature by another key, over another session, or for the other role, as a violation', () => {
    const x = randomBytes(32);
    const wrongKey = input({}, { sig: signBinding(other.keyPem, 'client', x, peer.certDer, me.certDer) });
    for (const v of [
      judgeBind(wrongKey),
      judgeBind({ ...input(), exporter: randomBytes(32) }),
      judgeBind({ ...input(), peerRole: 'server' }),
    ]) {
      assert.equal(v.ok, false);
      if (!v.ok) {
        assert.equal(v.reason, 'binding-failed');
        assert.equal(v.violation, 'channel binding failed');
        assert.equal(v.presented, peer.deviceId);
      }
    }
  });

  it('refuses an unusable name (a violation) and another ensemble (not one)', () => {
    const bad = judgeBind(input({}, { name: 'a\u202eb' }));
    assert.ok(!bad.ok && bad.reason === 'bad-name' && bad.violation !== undefined);
    const ens = judgeBind(input({}, { ensemble: 'other-band' }));
    assert.ok(!ens.ok && ens.reason === 'wrong-ensemble' && ens.violation === undefined);
  });

  it('asks for an ensemble run exactly when both sides have a secret, and names a one-sided secret', () => {
    const share = Buffer.alloc(32, 1).toString('base64');
    assert.deepEqual(judgeBind(input({ ensemble: { name: 'default', hasSecret: true } }, { share })), {
      ok: true,
      presented: peer.deviceId,
      ensembleRun: true,
    });
    const missing = judgeBind(input({ ensemble: { name: 'default', hasSecret: true } }));
    assert.ok(
      !missing.ok && missing.reason === 'ensemble-secret' && /has no ensemble secret/.test(missing.detail),
    );
    const extra = judgeBind(input({}, { share }));
    assert.ok(!extra.ok && extra.reason === 'ensemble-secret' && /this daemon has none/.test(extra.detail));
  });

  it('runs no ensemble exchange with our own certificate (the trust decision refuses it)', () => {
    const v = judgeBind(input({ ownId: peer.deviceId, ensemble: { name: 'default', hasSecret: true } }));
    assert.deepEqual(v, { ok: true, presented: peer.deviceId, ensembleRun: false });
  });
});
