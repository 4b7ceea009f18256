import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import {
  type DtlsEndpoint,
  type DtlsRejectCode,
  type DtlsSession,
  openDtlsEndpoint,
} from '../../../protocols/dtls/endpoint.ts';
import { checkRecords, clientHelloRandom, isClientHello } from '../../../protocols/dtls/v1/records.ts';
import { type Credentials, createCertificate } from '../../../protocols/dtls/werift.ts';

// The shared-socket DTLS endpoint with real werift handshakes on loopback, and its admission
// rules under hostile traffic from several loopback source addresses.

let credA: Credentials;
let credB: Credentials;
const opened: { close(): unknown }[] = [];
after(async () => {
  for (const o of opened) await o.close();
});

before(async () => {
  [credA, credB] = await Promise.all([createCertificate(), createCertificate()]);
});

type Rejects = { code: DtlsRejectCode; from: string }[];

async function endpoint(cred: Credentials, extra: Partial<Parameters<typeof openDtlsEndpoint>[0]> = {}) {
  const rejects: Rejects = [];
  const sessions: DtlsSession[] = [];
  const ep = await openDtlsEndpoint({
    host: '127.0.0.1',
    port: 0,
    credentials: cred,
    onSession: (s) => sessions.push(s),
    onReject: (code, from) => rejects.push({ code, from: from.address }),
    ...extra,
  });
  opened.push(ep);
  return { ep, rejects, sessions };
}

async function rawSocket(address: string): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  opened.push(s);
  return s;
}

const send = (s: Socket, bytes: Uint8Array, ep: DtlsEndpoint) =>
  new Promise<void>((r) => s.send(bytes, ep.port, '127.0.0.1', () => r()));
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A genuine ClientHello, captured from werift dialling a socket that never answers. */
async function captureClientHello(): Promise<Buffer> {
  const sink = await rawSocket('127.0.0.1');
  const got = new Promise<Buffer>((r) => sink.once('message', (m) => r(m)));
  const { ep } = await endpoint(credA, { handshakeTimeoutMs: 500 });
  ep.connect({ address: '127.0.0.1', port: sink.address().port }).catch(() => {});
  return got;
}

describe('DTLS endpoint', () => {
  it('completes mutual handshakes, carries data both ways and agrees on the exporter', async () => {
    const a = await endpoint(credA);
    const b = await endpoint(credB);
    const s = await a.ep.connect({ address: '127.0.0.1', port: b.ep.port });
    assert.equal(s.role, 'client');
    assert.equal(b.sessions.length, 1);
    const got: string[] = [];
    b.sessions[0]!.onData((d) => got.push(Buffer.from(d).toString()));
    s.send(new TextEncoder().encode('hello'));
    for (let i = 0; i < 50 && got.length === 0; i++) await wait(20);
    assert.deepEqual(got, ['hello']);
    assert.deepEqual(Buffer.from(s.exporter('L', 32)), Buffer.from(b.sessions[0]!.exporter('L', 32)));
    assert.ok(s.peerCertDer.length > 100);
  });

  it('settles a simultaneous dial into one session both sides share', async () => {
    const a = await endpoint(credA);
    const b = await endpoint(credB);
    const [x, y] = await Promise.all([
      a.ep.connect({ address: '127.0.0.1', port: b.ep.port }),
      b.ep.connect({ address: '127.0.0.1', port: a.ep.port }),
    ]);
    assert.notEqual(x.role, y.role, 'one client, one server');
    assert.deepEqual(a.ep.stats().sessions, 1);
    assert.deepEqual(b.ep.stats().sessions, 1);
  });

  it('links at once with a peer restarted on the address it was dialling, whichever random is larger', async () => {
    // A dials B; B answers once (a HelloVerifyRequest) and dies; a new B on the same port dials
    // A. A's handshake has heard from the old B and can never finish, so the new B's ClientHello
    // must win even when its random is the smaller: keeping the client role then stalled both
    // sides until the handshake timeout (peer-link.test.ts, "both dial at once", 1 run in 12).
    // Six rounds: in each, the new B's random is the smaller one half the time.
    for (let round = 0; round < 6; round++) {
      const a = await endpoint(credA, { handshakeTimeoutMs: 60_000 });
      // Not in `opened`: it is closed here, when the old B dies.
      const old = createSocket('udp4');
      await new Promise<void>((r) => old.bind(0, '127.0.0.1', () => r()));
      const port = old.address().port;
      let hellos = 0;
      const second = new Promise<void>((r) =>
        old.on('message', (_, from) => {
          if (++hellos === 1) {
            const cookie = Buffer.alloc(16, 7);
            // DTLS 1.2 record (epoch 0, sequence 0) holding one HelloVerifyRequest.
            const body = Buffer.concat([Buffer.from([0xfe, 0xfd, cookie.length]), cookie]);
            const hs = Buffer.concat([
              Buffer.from([3, 0, 0, body.length, 0, 0, 0, 0, 0, 0, 0, body.length]),
              body,
            ]);
            const rec = Buffer.concat([
              Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, hs.length >> 8, hs.length & 255]),
              hs,
            ]);
            old.send(rec, from.port, from.address);
          } else r();
        }),
      );
      const dialled = a.ep.connect({ address: '127.0.0.1', port });
      await second; // A's ClientHello again, with the cookie: its handshake has heard from B
      await new Promise<void>((r) => old.close(() => r()));
      const b = await endpoint(credB, { port, handshakeTimeoutMs: 60_000 });
      // The stall lasts until the 60 s handshake timeout; 30 s is far past any handshake on a
      // busy laptop. Cleared, so a passing round leaves no timer holding the file open.
      let timer: NodeJS.Timeout | undefined;
      const giveUp = new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), 30_000);
      });
      const [x, y] = await Promise.all([
        Promise.race([b.ep.connect({ address: '127.0.0.1', port: a.ep.port }), giveUp]),
        Promise.race([dialled, giveUp]),
      ]);
      clearTimeout(timer);
      assert.ok(
        x && y,
        `round ${round}: both sides have the session (new B ${x ? 'yes' : 'no'}, A ${y ? 'yes' : 'no'})`,
      );
      assert.notEqual(x.role, y.role);
      assert.equal(a.ep.stats().sessions, 1);
    }
  });

  it('counts malformed and oversize datagrams without ever banning their (forgeable) source', async () => {
    const b = await endpoint(credB, { banAfterViolations: 5, banMs: 60_000 });
    const evil = await rawSocket('127.0.0.7');
    await send(evil, Uint8Array.of(1, 2, 3), b.ep);
    await send(evil, new Uint8Array(3000), b.ep);
    for (let i = 0; i < 30; i++) await send(evil, Buffer.from('garbage that is long enough'), b.ep);
    await wait(100);
    const codes = b.rejects.map((r) => r.code);
    assert.deepEqual(codes.slice(0, 2), ['malformed', 'oversize']);
    assert.equal(codes.length, 32);
    assert.ok(!codes.includes('banned'), 'a spoofer must not get a real peer’s address banned');
    assert.equal(b.ep.stats().banned, 0);
  });

  it('bans a source that passed the cookie exchange and keeps failing handshake verification', async () => {
    const b = await endpoint(credB, { banAfterViolations: 2, banMs: 60_000 });
    // An impostor: A's certificate with another key. It echoes cookies, so its address is real.
    const other = await createCertificate();
    const impostor = await endpoint({ certPem: credA.certPem, keyPem: other.keyPem }, { host: '127.0.0.9' });
    for (let i = 0; i < 2; i++) {
      const dial = impostor.ep.connect({ address: '127.0.0.1', port: b.ep.port });
      const s = await dial.catch(() => undefined);
      s?.close();
      for (
        let t = 0;
        t < 100 && b.rejects.filter((r) => r.code === 'handshake-verify-failed').length <= i;
        t++
      )
        await wait(20);
    }
    const verify = b.rejects.filter((r) => r.code === 'handshake-verify-failed');
    assert.equal(verify.length, 2);
    assert.ok(b.rejects.some((r) => r.code === 'banned' && r.from === '127.0.0.9'));
    assert.equal(b.ep.stats().banned, 1);
    assert.equal(b.sessions.length, 0);
  });

  it('limits handshakes per source and half-open handshakes overall, and times them out', async () => {
    const hello = await captureClientHello();
    assert.ok(
      isClientHello(hello) && checkRecords(hello) === 'ok' && clientHelloRandom(hello)?.length === 64,
    );
    const b = await endpoint(credB, { handshakesPerSecond: 3, maxHalfOpen: 4, handshakeTimeoutMs: 400 });
    const one = await rawSocket('127.0.0.8');
    // Replays from one source, each from a fresh source port: a new half-open handshake each.
    for (let i = 0; i < 6; i++) {
      const s = await rawSocket('127.0.0.8');
      await send(s, hello, b.ep);
    }
    await wait(50);
    assert.equal(b.rejects.filter((r) => r.code === 'handshake-flood').length, 3);
    for (let i = 20; i < 26; i++) await send(await rawSocket(`127.0.0.${i}`), hello, b.ep);
    await wait(50);
    assert.ok(b.rejects.some((r) => r.code === 'half-open-full'));
    assert.ok(b.ep.stats().halfOpen <= 4, 'never more half-open handshakes than the cap');
    await wait(600);
    assert.equal(b.ep.stats().halfOpen, 0, 'abandoned handshakes time out');
    assert.ok(b.rejects.some((r) => r.code === 'handshake-timeout'));
    // Stray records for no session are refused without a handshake.
    const stray = Buffer.from(hello);
    stray[0] = 23;
    await send(one, stray, b.ep);
    await wait(50);
    assert.ok(b.rejects.some((r) => r.code === 'not-client-hello'));
    // A real peer still gets through.
    const a = await endpoint(credA);
    await a.ep.connect({ address: '127.0.0.1', port: b.ep.port });
  });
});
