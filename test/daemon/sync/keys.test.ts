import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createKeyDirectory } from '../../../daemon/sync/keys.ts';
import { createSigner } from '../../../daemon/sync/signer.ts';
import {
  type Batch,
  encodeEntryList,
  MAX_ENTRY_LIST_BYTES,
  type SyncEntry,
} from '../../../daemon/sync/v2/codec.ts';
import { deviceIdFromCertDer } from '../../../trust-store/device-id.ts';
import { createIdentity } from '../../../trust-store/identity.ts';

// The key directory: which device signed which batch. Real identities sign; certificates with
// the wrong kind of key, and a flood of fresh certificates, come from a minimal X.509 builder
// below (node can sign but not issue certificates), each one properly self-signed.

const [A, B, C] = await Promise.all([createIdentity(), createIdentity(), createIdentity()]);
const signA = createSigner(() => A);
const signB = createSigner(() => B);

const entries = (origin: string, n = 3): SyncEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    path: `/layer/${i}/opacity`,
    value: i / 10,
    stamp: { t: 1_763_800_000_000, c: i, node: origin },
  }));
const list = (e: readonly SyncEntry[]) => encodeEntryList(e, MAX_ENTRY_LIST_BYTES);
const batchOf = (id: { deviceId: string }, sign: (l: Uint8Array) => Uint8Array, n = 3): Batch => {
  const l = list(entries(id.deviceId, n));
  return { origin: id.deviceId, list: l, sig: sign(l) };
};

function directory(...certs: Uint8Array[]) {
  const keys = createKeyDirectory();
  for (const der of certs) assert.ok(keys.learn(der).ok);
  return keys;
}

const flipBit = (bytes: Uint8Array, bit: number): Uint8Array => {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
};

// ── a minimal self-signed X.509 v3 certificate (DER), enough for X509Certificate to parse ──

const bytes = (...b: number[]) => Buffer.from(b);
const length = (n: number) =>
  n < 0x80 ? bytes(n) : n < 0x100 ? bytes(0x81, n) : bytes(0x82, n >> 8, n & 0xff);
const tlv = (tag: number, ...parts: Uint8Array[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([bytes(tag), length(body.length), body]);
};
const seq = (...parts: Uint8Array[]) => tlv(0x30, ...parts);
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a! + b!];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let v = arc >> 7; v > 0; v >>= 7) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}
const SIG_ALG = {
  ed25519: seq(oid('1.3.101.112')),
  rsa: seq(oid('1.2.840.113549.1.1.11'), bytes(0x05, 0x00)),
  ec: seq(oid('1.2.840.10045.4.3.2')),
};

function selfSigned(
  keys: { publicKey: KeyObject; privateKey: KeyObject },
  alg: keyof typeof SIG_ALG,
  serial: number,
): Uint8Array {
  const name = seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from('hana keys test')))));
  const validity = seq(tlv(0x17, Buffer.from('250101000000Z')), tlv(0x17, Buffer.from('351231235959Z')));
  // DER wants the shortest form, with a leading 0 only where the top bit would read as a sign.
  let hex = serial.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const serialBytes = Buffer.from(hex, 'hex');
  const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
  const tbs = seq(
    tlv(0xa0, tlv(0x02, bytes(2))),
    tlv(0x02, serialBytes),
    SIG_ALG[alg],
    name,
    validity,
    name,
    spki,
  );
  const signature = sign(alg === 'ed25519' ? null : 'sha256', tbs, keys.privateKey);
  const der = new Uint8Array(seq(tbs, SIG_ALG[alg], tlv(0x03, bytes(0), signature)));
  assert.ok(
    new X509Certificate(der).verify(keys.publicKey),
    `the ${alg} test certificate is properly self-signed`,
  );
  return der;
}

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('key directory: learning certificates', () => {
  it('learns a certificate under the device ID derived from it, and keeps its own copy', () => {
    const keys = createKeyDirectory();
    const der = A.certDer.slice();
    assert.deepEqual(keys.learn(der), { ok: true, id: A.deviceId });
    der.fill(0); // the caller's buffer (a datagram) is reused
    assert.ok(keys.has(A.deviceId));
    assert.deepEqual(keys.certOf(A.deviceId), A.certDer);
    assert.equal(keys.size, 1);
    assert.deepEqual(keys.learn(A.certDer), { ok: true, id: A.deviceId }, 'learning again changes nothing');
    assert.equal(keys.size, 1);
    assert.equal(keys.certOf(B.deviceId), undefined);
  });

  it('learns a P-256 certificate from any issuer, as the builder below makes them', () => {
    const der = selfSigned(p256, 'ec', 1);
    assert.deepEqual(createKeyDirectory().learn(der), { ok: true, id: deviceIdFromCertDer(der) });
  });

  it('refuses bytes that are not a certificate, with a sentence, learning nothing', () => {
    const keys = createKeyDirectory();
    for (const der of [
      new Uint8Array(0),
      new Uint8Array(64).fill(0x30),
      A.certDer.subarray(0, A.certDer.length - 1),
      new Uint8Array([...A.certDer, 0x00, 0x00]).subarray(3),
    ]) {
      const r = keys.learn(der);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, /^not a certificate/);
    }
    assert.equal(keys.size, 0);
  });

  it('refuses another spelling of a device’s certificate: its key must not stand for a second device ID', () => {
    // The ID is the hash of the bytes given, but X509Certificate also takes PEM text, bytes
    // after the DER, and a certificate whose self-signature no longer verifies. Each would put
    // A's key under an ID of the sender's choosing, and A's genuine batches, relabelled with
    // that origin, would verify.
    const tampered = A.certDer.slice();
    tampered[20]! ^= 1; // inside the to-be-signed part
    for (const [what, der] of [
      ['PEM text', new TextEncoder().encode(A.certPem)],
      ['bytes after the DER', new Uint8Array([...A.certDer, 0x00, 0x00])],
      ['a broken self-signature', tampered],
    ] as const) {
      const keys = createKeyDirectory();
      const r = keys.learn(der);
      assert.equal(r.ok, false, `${what}: learned as ${r.ok ? r.id : ''}`);
      const relabelled = { ...batchOf(A, signA.sign), origin: deviceIdFromCertDer(der) };
      assert.notEqual(keys.verify(relabelled), 'ok', `${what}: A's batch relabelled`);
    }
  });

  for (const [name, make] of [
    ['Ed25519', () => selfSigned(generateKeyPairSync('ed25519'), 'ed25519', 1)],
    ['RSA-2048', () => selfSigned(generateKeyPairSync('rsa', { modulusLength: 2048 }), 'rsa', 1)],
    ['ECDSA P-384', () => selfSigned(generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'ec', 1)],
  ] as const) {
    it(`refuses a self-signed ${name} certificate: batches are ECDSA P-256 only`, () => {
      const keys = createKeyDirectory();
      const der = make();
      const r = keys.learn(der);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, /not ECDSA P-256/);
      assert.ok(!keys.has(deviceIdFromCertDer(der)));
      assert.equal(keys.size, 0);
    });
  }

  it('stays bounded under a flood of fresh certificates, keeping every pinned device’s key', () => {
    // One key, many certificates: each is a new device ID, as a peer sending made-up devices would make them.
    const pinned = new Set([A.deviceId, B.deviceId]);
    const keys = createKeyDirectory(() => pinned);
    assert.ok(keys.learn(A.certDer).ok);
    const flood: string[] = [];
    for (let i = 0; i < 600; i++) {
      const r = keys.learn(selfSigned(p256, 'ec', 1000 + i));
      assert.ok(r.ok);
      flood.push(r.id);
    }
    assert.ok(keys.learn(B.certDer).ok);
    for (let i = 600; i < 1500; i++) {
      const r = keys.learn(selfSigned(p256, 'ec', 1000 + i));
      assert.ok(r.ok);
      flood.push(r.id);
      assert.ok(keys.size <= 1024, `${keys.size} keys`);
    }
    assert.equal(keys.size, 1024);
    assert.ok(keys.has(A.deviceId) && keys.has(B.deviceId), 'pinned keys survive');
    assert.ok(keys.has(flood.at(-1)!), 'the newest is kept');
    assert.ok(!keys.has(flood[0]!), 'the oldest unpinned went first');
    assert.equal(keys.verify(batchOf(A, signA.sign)), 'ok');
    assert.equal(keys.verify(batchOf(B, signB.sign)), 'ok');
  });
});

describe('key directory: verifying batches', () => {
  it('a batch signed by its origin verifies; one from a device it has never seen is unknown-key', () => {
    const keys = directory(A.certDer, B.certDer);
    assert.equal(keys.verify(batchOf(A, signA.sign)), 'ok');
    assert.equal(keys.verify(batchOf(B, signB.sign)), 'ok');
    assert.equal(keys.verify(batchOf(C, createSigner(() => C).sign)), 'unknown-key');
  });

  it('a batch signed by B but labelled with origin A is bad-signature', () => {
    const keys = directory(A.certDer, B.certDer);
    const l = list(entries(A.deviceId));
    // B signs A's entries as itself, then relabels; or signs the bytes A would have signed.
    assert.equal(keys.verify({ origin: A.deviceId, list: l, sig: signB.sign(l) }), 'bad-signature');
    const asA = createSigner(() => ({ deviceId: A.deviceId, keyPem: B.keyPem }));
    assert.equal(keys.verify({ origin: A.deviceId, list: l, sig: asA.sign(l) }), 'bad-signature');
  });

  it('one flipped bit anywhere in the signature is bad-signature', () => {
    const keys = directory(A.certDer);
    const b = batchOf(A, signA.sign, 1);
    for (let bit = 0; bit < 64 * 8; bit++) {
      assert.equal(keys.verify({ ...b, sig: flipBit(b.sig, bit) }), 'bad-signature', `bit ${bit}`);
    }
    assert.equal(keys.verify({ ...b, sig: new Uint8Array(64) }), 'bad-signature', 'r = s = 0');
    assert.equal(keys.verify({ ...b, sig: new Uint8Array(64).fill(0xff) }), 'bad-signature', 'r, s ≥ n');
    assert.equal(keys.verify(b), 'ok');
  });

  it('one flipped bit anywhere in the entry list is bad-signature', () => {
    const b = batchOf(A, signA.sign, 1);
    for (let bit = 0; bit < b.list.length * 8; bit++) {
      const keys = directory(A.certDer);
      assert.equal(keys.verify({ ...b, list: flipBit(b.list, bit) }), 'bad-signature', `bit ${bit}`);
    }
  });

  it('one flipped bit anywhere in the origin is not ok: the key looked up is another device’s', () => {
    const keys = directory(A.certDer, B.certDer);
    const b = batchOf(A, signA.sign, 1);
    const origin = new TextEncoder().encode(A.deviceId);
    for (let bit = 0; bit < origin.length * 8; bit++) {
      const flipped = new TextDecoder().decode(flipBit(origin, bit));
      assert.notEqual(keys.verify({ ...b, origin: flipped }), 'ok', `bit ${bit}`);
    }
  });

  it('the memo of verified batches does not let another list pass under a signature it has seen', () => {
    // A relay that saw one genuine batch of A's keeps its signature and swaps the entries.
    const keys = directory(A.certDer);
    const genuine = batchOf(A, signA.sign, 2);
    assert.equal(keys.verify(genuine), 'ok');
    const forged = list([
      { path: '/master/blackout', value: true, stamp: { t: 1_763_800_000_000, c: 0, node: A.deviceId } },
    ]);
    assert.equal(keys.verify({ ...genuine, list: forged }), 'bad-signature', 'a whole new list');
    for (let bit = 0; bit < genuine.list.length * 8; bit += 7) {
      assert.equal(
        keys.verify({ ...genuine, list: flipBit(genuine.list, bit) }),
        'bad-signature',
        `bit ${bit}`,
      );
    }
    assert.equal(keys.verify(genuine), 'ok', 'the genuine batch still verifies');
  });

  it('the memo does not carry a signature over to another origin', () => {
    const keys = directory(A.certDer, B.certDer);
    const genuine = batchOf(A, signA.sign);
    assert.equal(keys.verify(genuine), 'ok');
    assert.equal(keys.verify({ ...genuine, origin: B.deviceId }), 'bad-signature');
  });
});
