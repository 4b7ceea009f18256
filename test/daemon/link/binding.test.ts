import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import {
  checkEnsembleProof,
  ensembleProof,
  ensembleTag,
  signBinding,
  signRotation,
  verifyBinding,
  verifyRotation,
} from '../../../daemon/link/binding.ts';
import { decodeLink, encodeLink, MAX_MESSAGE_BYTES } from '../../../daemon/link/wire.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';

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

  it('proves the ensemble secret only for this session and role', () => {
    const proof = ensembleProof('correct horse', 'server', exporter);
    assert.equal(checkEnsembleProof('correct horse', 'server', exporter, proof), true);
    assert.equal(checkEnsembleProof('battery staple', 'server', exporter, proof), false);
    assert.equal(checkEnsembleProof('correct horse', 'client', exporter, proof), false);
    assert.equal(checkEnsembleProof('correct horse', 'server', randomBytes(32), proof), false);
    assert.equal(checkEnsembleProof('correct horse', 'server', exporter, undefined), false);
    assert.equal(checkEnsembleProof('correct horse', 'server', exporter, 'short'), false);
    assert.notEqual(ensembleTag('band-a'), ensembleTag('band-b'));
    assert.doesNotMatch(ensembleTag('correct horse'), /correct/);
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

describe('link wire format v1', () => {
  it('round-trips every message type', () => {
    const msgs = [
      { type: 'ping', id: 7, t: 1234.5 },
      { type: 'pong', id: 7, t: 1234.5 },
      { type: 'close', reason: 'bye' },
      { type: 'bind', body: { v: 1, name: 'ay', ensemble: 'default', sig: 'x'.repeat(96) } },
      { type: 'rotate', body: { cert: 'y'.repeat(500), sig: 'z'.repeat(96) } },
    ] as const;
    for (const m of msgs) assert.deepEqual(decodeLink(encodeLink(m)), { ok: true, message: m });
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
    ];
    for (const b of bad) {
      const r = decodeLink(b);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.error.length > 0);
    }
  });
});
