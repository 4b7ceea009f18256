import assert from 'node:assert/strict';
import { sign, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { publicKeyFromBase64 } from '../../plugins/publisher-key.ts';
import { unlockSecretKey } from '../../plugins/signing.ts';
import { createFixture, type Fixture, PASSPHRASE, sha256 } from './helpers.ts';

// A publisher's secret key is stored encrypted under a passphrase: the file alone must not give
// the key away, and a wrong passphrase or an edited file is a typed refusal, never a throw.

let f: Fixture;

before(async () => {
  f = await createFixture('plugin-keys');
});

after(async () => {
  await f.cleanup();
});

function flipped(b64: string, at: number): string {
  const b = Buffer.from(b64, 'base64');
  b[at]! ^= 0x01;
  return b.toString('base64');
}

describe('publisher keys', () => {
  it('key ID is the first 16 hex of SHA-256 over the raw 32-byte public key', () => {
    const raw = Buffer.from(f.genA.publicKey, 'base64');
    assert.equal(raw.length, 32);
    assert.equal(f.genA.keyId, sha256(raw).slice(0, 16));
    assert.match(f.genA.keyId, /^[0-9a-f]{16}$/);
    assert.notEqual(f.genA.keyId, f.genB.keyId);
  });

  it('the secret key file holds no plaintext secret', () => {
    const file = JSON.parse(f.genA.secretKeyFile);
    assert.equal(file.version, 2);
    assert.equal(file.keyId, f.genA.keyId);
    // The private key is a trust-store sealed blob (scrypt passphrase KDF, AES-256-GCM).
    const sealed = Buffer.from(file.sealed, 'base64');
    assert.equal(sealed.subarray(0, 12).toString(), 'HANA-SEALED\n');
    assert.equal(sealed[13], 1, 'KDF 1 = scrypt passphrase');
    const der = f.keyA.privateKey.export({ format: 'der', type: 'pkcs8' });
    const seed = der.subarray(-32); // the Ed25519 private key proper
    for (const enc of ['base64', 'hex', 'base64url'] as const) {
      assert.ok(!f.genA.secretKeyFile.includes(der.toString(enc)));
      assert.ok(!f.genA.secretKeyFile.includes(seed.toString(enc)));
    }
    assert.doesNotMatch(f.genA.secretKeyFile, /PRIVATE KEY/);
  });

  it('the unlocked key signs what the public key verifies', () => {
    const msg = Buffer.from('hello');
    const sig = sign(null, msg, f.keyA.privateKey);
    assert.ok(verify(null, msg, publicKeyFromBase64(f.genA.publicKey)!, sig));
    assert.equal(f.keyA.keyId, f.genA.keyId);
    assert.equal(f.keyA.publicKey, f.genA.publicKey);
  });

  it('an empty passphrase is wrong-passphrase, not a throw', async () => {
    const r = await unlockSecretKey(f.genA.secretKeyFile, '');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.code, 'wrong-passphrase');
  });

  it('the same key reads back with the right passphrase after a JSON round trip', async () => {
    const again = await unlockSecretKey(JSON.stringify(JSON.parse(f.genA.secretKeyFile)), PASSPHRASE);
    if (!again.ok) assert.fail(again.error);
    assert.equal(again.key.keyId, f.genA.keyId);
  });

  it('a wrong passphrase is wrong-passphrase', async () => {
    const r = await unlockSecretKey(f.genA.secretKeyFile, 'correct horse battery stapler');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.code, 'wrong-passphrase');
  });

  it('a damaged or edited key file is refused, never thrown', async () => {
    const file = JSON.parse(f.genA.secretKeyFile);
    const cases: [string, string][] = [
      ['not json', 'bad-key-file'],
      ['{}', 'bad-key-file'],
      [JSON.stringify({ ...file, version: 1 }), 'bad-key-file'],
      [JSON.stringify({ ...file, extra: 1 }), 'bad-key-file'],
      [JSON.stringify({ ...file, sealed: 'x'.repeat(2000) }), 'bad-key-file'],
      [JSON.stringify({ ...file, sealed: Buffer.from('not sealed').toString('base64') }), 'bad-key-file'],
      // The readable key ID and public key must describe the sealed private key.
      [JSON.stringify({ ...file, keyId: f.genB.keyId, publicKey: f.genB.publicKey }), 'bad-key-file'],
      [JSON.stringify({ ...file, keyId: f.genB.keyId }), 'bad-key-file'],
      // B's sealed key under A's name: B's passphrase unseals nothing here.
      [JSON.stringify({ ...file, sealed: JSON.parse(f.genB.secretKeyFile).sealed }), 'wrong-passphrase'],
      [JSON.stringify({ ...file, sealed: flipped(file.sealed, 50) }), 'wrong-passphrase'],
      [JSON.stringify({ ...file, sealed: flipped(file.sealed, 20) }), 'wrong-passphrase'], // salt
      [JSON.stringify({ ...file, sealed: flipped(file.sealed, 13) }), 'bad-key-file'], // KDF byte,
    ];
    for (const [text, code] of cases) {
      const r = await unlockSecretKey(text, PASSPHRASE);
      assert.equal(r.ok, false, text);
      if (!r.ok) assert.equal(r.code, code, r.error);
    }
  });
});
