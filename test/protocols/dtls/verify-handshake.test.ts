import assert from 'node:assert/strict';
import { createECDH, generateKeyPairSync } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { HandshakeType } from '../../../protocols/dtls/v1/handshake.ts';
import { ecdhe, type HandshakeEvidence, verifyHandshake } from '../../../protocols/dtls/verify-handshake.ts';
import {
  type Credentials,
  createCertificate,
  handshakeEvidence,
  type WeriftTransport,
  weriftClient,
  weriftServer,
} from '../../../protocols/dtls/werift.ts';

// The verifier against real werift handshakes run over an in-memory wire, then against the
// same evidence with one thing changed at a time: each change must fail the named check.

function pipe(opts: { repeatToClient?: boolean } = {}): [WeriftTransport, WeriftTransport] {
  const mk = (): WeriftTransport => ({
    type: 'udp',
    address: { address: '127.0.0.1', family: 'IPv4', port: 1 },
    closed: false,
    onData: () => {},
    send: async () => {},
    close: async () => {},
  });
  const a = mk();
  const b = mk();
  a.send = async (d) => void setImmediate(() => b.onData(Buffer.from(d)));
  // repeatToClient: the server's flight 4 arrives twice, as when it retransmits because our
  // flight 5 was slow.
  b.send = async (d) =>
    void setImmediate(() => {
      a.onData(Buffer.from(d));
      const flight4 = d[0] === 22 && d[3] === 0 && d[4] === 0 && [2, 11, 12, 13, 14].includes(d[13]!);
      if (opts.repeatToClient && flight4) setTimeout(() => a.onData(Buffer.from(d)), 5);
    });
  return [a, b];
}

async function handshake(client: Credentials, server: Credentials, opts: { repeatToClient?: boolean } = {}) {
  const [ct, st] = pipe(opts);
  const s = weriftServer(st, server);
  const c = weriftClient(ct, client);
  const up = (x: { onConnect: { subscribe(fn: () => void): unknown } }) =>
    new Promise<void>((r) => x.onConnect.subscribe(() => r()));
  const both = Promise.all([up(c), up(s)]);
  c.connect().catch(() => {});
  await Promise.race([
    both,
    new Promise((_, rej) => setTimeout(() => rej(new Error('no handshake in 10 s')), 10_000)),
  ]);
  const out = { client: handshakeEvidence(c, 'client'), server: handshakeEvidence(s, 'server') };
  c.close();
  s.close();
  return out;
}

let ev: { client: HandshakeEvidence; server: HandshakeEvidence };
before(async () => {
  const [a, b] = await Promise.all([createCertificate(), createCertificate()]);
  ev = await handshake(a, b);
});

const flip = (b: Uint8Array, at = -1) => {
  const c = new Uint8Array(b);
  const i = at < 0 ? c.length + at : at;
  c[i] = c[i]! ^ 1;
  return c;
};
const withMessage = (
  e: HandshakeEvidence,
  type: number,
  nth: number,
  edit: (m: Uint8Array) => Uint8Array,
) => {
  let seen = 0;
  return {
    ...e,
    transcript: e.transcript.map((m) => (m[0] === type && seen++ === nth ? edit(m) : m)),
  };
};
const failed = (e: HandshakeEvidence) => {
  const v = verifyHandshake(e);
  return v.ok ? 'ok' : v.check;
};

describe('verifyHandshake', () => {
  it('accepts a genuine werift handshake on both sides', () => {
    assert.deepEqual(verifyHandshake(ev.client), { ok: true });
    assert.deepEqual(verifyHandshake(ev.server), { ok: true });
  });

  it('accepts a handshake whose server flights arrived twice (a retransmitted flight 4)', async () => {
    const [a, b] = await Promise.all([createCertificate(), createCertificate()]);
    const twice = await handshake(a, b, { repeatToClient: true });
    assert.deepEqual(verifyHandshake(twice.client), { ok: true });
    assert.deepEqual(verifyHandshake(twice.server), { ok: true });
  });

  it('refuses a ServerKeyExchange signature that does not verify (client side)', () => {
    const e = withMessage(ev.client, HandshakeType.serverKeyExchange, 0, (m) => flip(m, -3));
    assert.equal(failed(e), 'server-signature');
  });

  it('refuses a CertificateVerify that does not verify (server side)', () => {
    const e = withMessage(ev.server, HandshakeType.certificateVerify, 0, (m) => flip(m, -3));
    assert.equal(failed(e), 'client-signature');
  });

  it('refuses a peer Finished that does not match the transcript', () => {
    assert.equal(failed({ ...ev.client, peerFinished: flip(ev.client.peerFinished!) }), 'finished');
    const server = withMessage(ev.server, HandshakeType.finished, 0, (m) => flip(m));
    assert.equal(failed({ ...server, peerFinished: server.transcript[9] }), 'finished');
  });

  it('refuses keys that are not derived from this transcript', () => {
    assert.equal(failed({ ...ev.client, masterSecret: flip(ev.client.masterSecret!) }), 'master-secret');
    assert.equal(failed({ ...ev.server, masterSecret: flip(ev.server.masterSecret!) }), 'master-secret');
  });

  it('refuses a session whose key share in use differs from the signed one', () => {
    assert.equal(failed({ ...ev.client, remotePublicKey: flip(ev.client.remotePublicKey!) }), 'key-share');
    assert.equal(failed({ ...ev.server, remotePublicKey: new Uint8Array(32) }), 'key-share');
  });

  it('refuses a certificate in use that is not the one in the transcript', () => {
    assert.equal(failed({ ...ev.client, remoteCertDer: flip(ev.client.remoteCertDer!) }), 'certificate');
  });

  it('refuses a session keyed without extended master secret', () => {
    assert.equal(failed({ ...ev.client, remoteOfferedEms: false }), 'extended-master-secret');
    assert.equal(failed({ ...ev.server, remoteOfferedEms: false }), 'extended-master-secret');
  });

  it('refuses a missing, reordered or malformed transcript', () => {
    assert.equal(failed({ ...ev.client, transcript: ev.client.transcript.slice(1) }), 'transcript');
    const swapped = [...ev.server.transcript];
    [swapped[7], swapped[8]] = [swapped[8]!, swapped[7]!];
    assert.equal(failed({ ...ev.server, transcript: swapped }), 'transcript');
    assert.equal(
      failed({ ...ev.client, transcript: ev.client.transcript.map((m) => m.subarray(0, 5)) }),
      'transcript',
    );
    assert.equal(failed({ ...ev.client, peerFinished: undefined }), 'finished');
  });
});

describe('ecdhe: the peer key share (RFC 7748 §6.1, RFC 8422 §5.11)', () => {
  const x = generateKeyPairSync('x25519');
  const raw = (k: { export(o: { format: 'jwk' }): { d?: string; x?: string } }, f: 'd' | 'x') =>
    Buffer.from(k.export({ format: 'jwk' })[f]!, 'base64url');
  const priv = raw(x.privateKey, 'd');
  const pub = raw(x.publicKey, 'x');
  // Small-order points of Curve25519 (from the list in libsodium and RFC 7748 discussions): each
  // makes the shared secret all zero whatever the private key.
  const smallOrder = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ];

  it('derives the same secret as the other side for honest shares', () => {
    const y = generateKeyPairSync('x25519');
    const a = ecdhe(29, priv, pub, raw(y.publicKey, 'x'));
    const b = ecdhe(29, raw(y.privateKey, 'd'), raw(y.publicKey, 'x'), pub);
    assert.ok(a.ok && b.ok);
    assert.deepEqual(a.secret, b.secret);
    const p = createECDH('prime256v1');
    p.generateKeys();
    const q = createECDH('prime256v1');
    q.generateKeys();
    const r = ecdhe(23, p.getPrivateKey(), p.getPublicKey(), q.getPublicKey());
    assert.ok(r.ok);
    assert.deepEqual(r.secret, q.computeSecret(p.getPublicKey()));
  });

  it('refuses every small-order X25519 share, the zero point included', () => {
    for (const hex of smallOrder) assert.equal(ecdhe(29, priv, pub, Buffer.from(hex, 'hex')).ok, false, hex);
  });

  it('refuses P-256 points off the curve, compressed or short, and unknown curves', () => {
    const p = createECDH('prime256v1');
    p.generateKeys();
    const off = Buffer.from(p.getPublicKey());
    off[64] = off[64]! ^ 1;
    assert.equal(ecdhe(23, p.getPrivateKey(), p.getPublicKey(), off).ok, false);
    assert.equal(ecdhe(23, p.getPrivateKey(), p.getPublicKey(), Buffer.alloc(65)).ok, false);
    assert.equal(
      ecdhe(23, p.getPrivateKey(), p.getPublicKey(), Buffer.from(p.getPublicKey('hex', 'compressed'), 'hex'))
        .ok,
      false,
    );
    assert.equal(ecdhe(24, p.getPrivateKey(), p.getPublicKey(), p.getPublicKey()).ok, false);
    assert.equal(ecdhe(29, priv, pub, Buffer.alloc(31, 9)).ok, false);
  });
});
