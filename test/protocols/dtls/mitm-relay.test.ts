import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import {
  type DtlsEndpoint,
  type DtlsRejectCode,
  type DtlsSession,
  openDtlsEndpoint,
} from '../../../protocols/dtls/endpoint.ts';
import { type Credentials, createCertificate } from '../../../protocols/dtls/werift.ts';
import {
  type DtlsRelay,
  type RelayMode,
  type RewriteStats,
  startDtlsRelay,
} from '../../helpers/dtls-relay.ts';
import {
  CONTENT_HANDSHAKE,
  EXT_EXTENDED_MASTER_SECRET,
  encodeCertificates,
  encodeClientKeyExchange,
  encodeHandshakes,
  encodeRecords,
  encodeServerKeyExchange,
  HANDSHAKE,
  type HandshakeMessage,
  helloExtensions,
  parseCertificates,
  parseClientKeyExchange,
  parseHandshakes,
  parseRecords,
  parseServerKeyExchange,
  prfSha256,
  stripHelloExtension,
} from '../../helpers/dtls-wire.ts';

// Issue 10: a relay between two laptops strips extended_master_secret, swaps both X25519
// shares for the zero point, and relies on werift checking neither handshake signatures nor
// Finished; both sessions then share a master secret the relay knows. Two real endpoints talk
// through the relay in ../../helpers/dtls-relay.ts; every tampering must be refused, by name,
// on both sides, before any session is handed up.

const EXPORTER_LABEL = 'EXPORTER-hana-link-binding';
/** The endpoints' own timeout: a stalled handshake ends well inside the wait below. */
const HANDSHAKE_TIMEOUT_MS = 8_000;
/** Longest wait for both sides to reach a verdict. */
const VERDICT_WAIT_MS = 15_000;

/**
 * Reject codes that name a failed handshake check. Admission codes and 'handshake-timeout'
 * say nothing about why a handshake failed, so they do not count as a refusal of the attack.
 * Adapt here if the endpoint names its verdicts differently.
 */
const VERDICT_CODES: readonly DtlsRejectCode[] = ['handshake-verify-failed'];

type Reject = { code: DtlsRejectCode; from: string; detail: string };
type Side = {
  readonly name: 'client' | 'server';
  readonly ep: DtlsEndpoint;
  readonly sessions: DtlsSession[];
  readonly rejects: Reject[];
  /** Application data this side's sessions received. */
  readonly received: string[];
};

let credClient: Credentials;
let credServer: Credentials;
let credRelay: Credentials;
const closers: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const close of closers.splice(0)) await close();
});
before(async () => {
  [credClient, credServer, credRelay] = await Promise.all([
    createCertificate(),
    createCertificate(),
    createCertificate(),
  ]);
});

async function side(name: Side['name'], credentials: Credentials): Promise<Side> {
  const sessions: DtlsSession[] = [];
  const rejects: Reject[] = [];
  const received: string[] = [];
  const ep = await openDtlsEndpoint({
    host: '127.0.0.1',
    port: 0,
    credentials,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    onSession: (s) => {
      sessions.push(s);
      s.onData((d) => received.push(Buffer.from(d).toString()));
    },
    onReject: (code, from, detail) => rejects.push({ code, from: `${from.address}:${from.port}`, detail }),
  });
  closers.push(() => ep.close());
  return { name, ep, sessions, rejects, received };
}

/** Client and server endpoints with a relay between them; the client dials the relay. */
async function through(mode: RelayMode) {
  const client = await side('client', credClient);
  const server = await side('server', credServer);
  const relay = await startDtlsRelay({ target: { address: '127.0.0.1', port: server.ep.port }, mode });
  closers.push(() => relay.close());
  const dial = client.ep.connect({ address: '127.0.0.1', port: relay.port }).then(
    (s) => ({ ok: true as const, session: s }),
    (err: Error) => ({ ok: false as const, error: err.message }),
  );
  return { client, server, relay, dial };
}

async function closeAll(): Promise<void> {
  for (const close of closers.splice(0)) await close();
}

const isVerdict = (r: Reject) => VERDICT_CODES.includes(r.code);
const verdictOf = (s: Side) => s.rejects.find(isVerdict);
/** Nothing more will happen on this side without a new handshake. */
const settled = (s: Side) =>
  s.sessions.length > 0 || s.rejects.some((r) => isVerdict(r) || r.code === 'handshake-timeout');

async function until(done: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (done()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return done();
}

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'unknown');

/** What happened, for a failure message: rejects, sessions, and whether the relay holds the keys. */
function account(client: Side, server: Side, relay: DtlsRelay): string {
  const one = (s: Side) => {
    const sess = s.sessions[0];
    const known = relay.knownExporter(s.name, EXPORTER_LABEL, 32);
    const exporter = sess ? sess.exporter(EXPORTER_LABEL, 32) : undefined;
    return [
      `  ${s.name}: ${s.sessions.length} session(s) handed up; received ${JSON.stringify(s.received)}`,
      `    rejects: ${JSON.stringify(s.rejects.map((r) => `${r.code}: ${r.detail}`))}`,
      sess
        ? `    exporter ${hex(exporter)}; the relay computes ${hex(known)}${known && exporter && hex(known) === hex(exporter) ? ' (THE RELAY HOLDS THIS SESSION’S KEYS)' : ''}`
        : '',
    ]
      .filter(Boolean)
      .join('\n');
  };
  return `\n${one(client)}\n${one(server)}\n  relay: ${JSON.stringify(relay.stats)}`;
}

type SideExpectation =
  /** This side must refuse with a verdict code whose detail matches. */
  | { refuse: RegExp }
  /** This side cannot see the tampering (only silence follows): it must merely open no session. */
  | { noSession: string };

/**
 * Waits (bounded) until both sides settle, then asserts: no session handed up on either side,
 * a named refusal on each side that can see the tampering, and no application data crossed.
 */
async function expectRefusedBothSides(
  client: Side,
  server: Side,
  relay: DtlsRelay,
  expect: { client: SideExpectation; server: SideExpectation },
): Promise<void> {
  await until(() => settled(client) && settled(server), VERDICT_WAIT_MS);
  // Where a session did open (the attack worked), show what crosses it.
  for (const s of [...client.sessions, ...server.sessions])
    s.send(new TextEncoder().encode(`secret from ${s.role}`));
  if (client.sessions.length + server.sessions.length > 0) await until(() => false, 300);
  const story = account(client, server, relay);
  assert.equal(client.sessions.length, 0, `the client handed up a session through the relay${story}`);
  assert.equal(server.sessions.length, 0, `the server handed up a session through the relay${story}`);
  for (const [s, e] of [
    [client, expect.client],
    [server, expect.server],
  ] as const) {
    if (!('refuse' in e)) continue;
    const verdict = verdictOf(s);
    assert.ok(
      verdict,
      `the ${s.name} did not name the refusal (one of ${VERDICT_CODES.join(', ')}) within ${VERDICT_WAIT_MS} ms${story}`,
    );
    assert.match(verdict.detail, e.refuse, `the ${s.name}'s refusal names another check${story}`);
  }
  assert.deepEqual(client.received, [], `application data reached the client${story}`);
  assert.deepEqual(server.received, [], `application data reached the server${story}`);
  assert.deepEqual(
    relay.stats.applicationData,
    { dialler: 0, target: 0 },
    `application records crossed${story}`,
  );
}

type Variant = {
  name: string;
  mode: () => RelayMode;
  /** The relay really tampered (else a refusal would prove nothing). */
  tampered: (s: RewriteStats) => boolean;
  client: SideExpectation;
  server: SideExpectation;
};

// Which checks may legitimately catch each tampering; the first to fail is the one named.
const EMS = /extended.?master.?secret/i;
const SHARE = /key.?share|zero|small.?order/i;
const SIGNATURES = /signature|certificate.?verify|finished|master.?secret/i;

const VARIANTS: Variant[] = [
  {
    name: 'strip extended_master_secret from both hellos',
    mode: () => ({ stripEms: true }),
    tampered: (s) => s.clientHelloEmsStripped > 0 && s.serverHelloEmsStripped > 0,
    client: { refuse: EMS },
    server: { refuse: EMS },
  },
  {
    name: 'replace both key shares with the all-zero point',
    mode: () => ({ shares: 'zero' }),
    tampered: (s) => s.serverKeyExchangeRewritten > 0,
    client: { refuse: new RegExp(`${SHARE.source}|${SIGNATURES.source}`, 'i') },
    server: { refuse: new RegExp(`${SHARE.source}|${SIGNATURES.source}`, 'i') },
  },
  {
    name: 'replace both key shares with valid shares of the relay, keeping the server’s signature',
    mode: () => ({ shares: 'relay' }),
    tampered: (s) => s.serverKeyExchangeRewritten > 0,
    client: { refuse: SIGNATURES },
    server: { refuse: SIGNATURES },
  },
  {
    name: 'strip extended_master_secret and zero both key shares (the issue 10 reproduction)',
    mode: () => ({ stripEms: true, shares: 'zero' }),
    tampered: (s) => s.clientHelloEmsStripped > 0,
    client: { refuse: new RegExp(`${EMS.source}|${SHARE.source}`, 'i') },
    server: { refuse: new RegExp(`${EMS.source}|${SHARE.source}`, 'i') },
  },
  {
    // The relay signs ServerKeyExchange validly under its own certificate, so the client sees a
    // sound handshake with the relay; only the server's Finished would betray it, and a server
    // that has refused the CertificateVerify need not send one. So the client may see nothing
    // but silence. Were its session to open, it would carry the relay's certificate, which
    // pinning and channel binding refuse (test/integration/mitm-daemons.test.ts).
    name: 'present the relay’s own certificate and re-sign ServerKeyExchange with its key',
    mode: () => ({ swapCertificate: credRelay }),
    tampered: (s) => s.certificateSwapped > 0 && s.serverKeyExchangeRewritten > 0,
    client: { noSession: 'it sees a validly signed handshake with the relay' },
    server: { refuse: SIGNATURES },
  },
];

describe('DTLS through a man-in-the-middle relay', () => {
  it('forward-only relay (control): the session opens on both sides, data flows both ways', async () => {
    try {
      const { client, server, relay, dial } = await through({});
      const dialled = await dial;
      assert.ok(
        dialled.ok,
        `the dial failed: ${dialled.ok ? '' : dialled.error}${account(client, server, relay)}`,
      );
      assert.ok(await until(() => server.sessions.length === 1, 5_000), 'the server handed up the session');
      const [c, s] = [dialled.session, server.sessions[0]!];
      c.send(new TextEncoder().encode('from client'));
      s.send(new TextEncoder().encode('from server'));
      assert.ok(
        await until(() => client.received.length === 1 && server.received.length === 1, 5_000),
        `data did not cross${account(client, server, relay)}`,
      );
      assert.deepEqual([client.received, server.received], [['from server'], ['from client']]);
      assert.deepEqual(
        Buffer.from(c.exporter(EXPORTER_LABEL, 32)),
        Buffer.from(s.exporter(EXPORTER_LABEL, 32)),
      );
      assert.deepEqual(Buffer.from(c.peerCertDer), Buffer.from(new X509Certificate(credServer.certPem).raw));
      assert.equal(
        relay.knownExporter('client', EXPORTER_LABEL, 32),
        undefined,
        'a forwarder learns no keys',
      );
      const { stats } = relay;
      assert.equal(
        stats.clientHelloEmsStripped + stats.serverKeyExchangeRewritten + stats.clientKeyExchangeRewritten,
        0,
      );
      assert.ok(stats.applicationData.dialler >= 1 && stats.applicationData.target >= 1);
      assert.deepEqual(
        [...client.rejects, ...server.rejects].filter(isVerdict),
        [],
        'no refusal of an honest handshake',
      );
    } finally {
      await closeAll();
    }
  });

  for (const v of VARIANTS) {
    it(`refuses on both sides: ${v.name}`, async () => {
      try {
        const { client, server, relay, dial } = await through(v.mode());
        await expectRefusedBothSides(client, server, relay, { client: v.client, server: v.server });
        const dialled = await Promise.race([dial, until(() => false, 1_000).then(() => undefined)]);
        assert.ok(!dialled?.ok, 'the dial did not resolve with a session');
        assert.ok(
          v.tampered(relay.stats),
          `the relay did not tamper as intended: ${JSON.stringify(relay.stats)}`,
        );
      } finally {
        await closeAll();
      }
    });
  }
});

describe('the relay’s rewriting, on real handshake bytes', () => {
  /** Every datagram of one honest handshake and its data, as the relay forwarded them. */
  async function capture(): Promise<Uint8Array[]> {
    const seen: Uint8Array[] = [];
    try {
      const client = await side('client', credClient);
      const server = await side('server', credServer);
      const relay = await startDtlsRelay({
        target: { address: '127.0.0.1', port: server.ep.port },
        mode: {},
        onDatagram: (_from, bytes) => seen.push(bytes),
      });
      closers.push(() => relay.close());
      await client.ep.connect({ address: '127.0.0.1', port: relay.port });
      return seen;
    } finally {
      await closeAll();
    }
  }

  const handshakes = (datagrams: Uint8Array[]) =>
    datagrams.flatMap((d) =>
      (parseRecords(d) ?? [])
        .filter((r) => r.type === CONTENT_HANDSHAKE && r.epoch === 0)
        .flatMap((r) => parseHandshakes(r.fragment) ?? []),
    );
  const first = (ms: HandshakeMessage[], type: number) => ms.find((m) => m.msgType === type)!;

  it('parses and re-encodes every record and handshake message byte for byte', async () => {
    const datagrams = await capture();
    assert.ok(datagrams.length >= 6);
    for (const d of datagrams) {
      const records = parseRecords(d);
      assert.ok(records, 'well-formed records');
      assert.deepEqual(Buffer.from(encodeRecords(records)), Buffer.from(d));
      for (const r of records.filter((x) => x.type === CONTENT_HANDSHAKE && x.epoch === 0)) {
        const ms = parseHandshakes(r.fragment);
        assert.ok(ms);
        assert.deepEqual(Buffer.from(encodeHandshakes(ms)), Buffer.from(r.fragment));
      }
    }
    const ms = handshakes(datagrams);
    const types = new Set(ms.map((m) => m.msgType));
    for (const t of [
      HANDSHAKE.clientHello,
      HANDSHAKE.serverHello,
      HANDSHAKE.certificate,
      HANDSHAKE.serverKeyExchange,
      HANDSHAKE.clientKeyExchange,
    ])
      assert.ok(types.has(t), `saw handshake type ${t}`);
    const ske = parseServerKeyExchange(first(ms, HANDSHAKE.serverKeyExchange).body)!;
    assert.equal(ske.namedCurve, 29, 'werift negotiates X25519');
    assert.equal(ske.point.length, 32);
    assert.deepEqual(
      Buffer.from(encodeServerKeyExchange(ske)),
      Buffer.from(first(ms, HANDSHAKE.serverKeyExchange).body),
    );
    const cke = first(ms, HANDSHAKE.clientKeyExchange).body;
    assert.deepEqual(Buffer.from(encodeClientKeyExchange(parseClientKeyExchange(cke)!)), Buffer.from(cke));
    const certs = parseCertificates(first(ms, HANDSHAKE.certificate).body)!;
    assert.equal(certs.length, 1);
    assert.deepEqual(
      Buffer.from(encodeCertificates(certs)),
      Buffer.from(first(ms, HANDSHAKE.certificate).body),
    );
  });

  it('strips extended_master_secret from both hellos and keeps every other extension', async () => {
    const ms = handshakes(await capture());
    for (const type of [HANDSHAKE.clientHello, HANDSHAKE.serverHello]) {
      const body = first(ms, type).body;
      const before = helloExtensions(type, body);
      assert.ok(before.includes(EXT_EXTENDED_MASTER_SECRET), `werift offers EMS in hello ${type}`);
      const stripped = stripHelloExtension(type, body, EXT_EXTENDED_MASTER_SECRET)!;
      assert.equal(stripped.length, body.length - 4, 'an empty extension is 4 bytes');
      assert.deepEqual(
        helloExtensions(type, stripped),
        before.filter((t) => t !== EXT_EXTENDED_MASTER_SECRET),
      );
      assert.equal(stripHelloExtension(type, stripped, EXT_EXTENDED_MASTER_SECRET), undefined);
    }
  });

  it('computes the TLS 1.2 PRF as werift does', () => {
    const werift = createRequire(import.meta.url)('werift-dtls/lib/dtls/src/cipher/prf.js') as {
      prfPHash(secret: Buffer, seed: Buffer, length: number): Buffer;
    };
    const secret = Buffer.from('9bbe436ba940f017b17652849a71db35', 'hex');
    const seed = Buffer.from('a0ba9f936cda311827a6f796ffd5198c', 'hex');
    const ours = prfSha256(secret, 'test label', seed, 100);
    assert.deepEqual(
      Buffer.from(ours),
      werift.prfPHash(secret, Buffer.concat([Buffer.from('test label'), seed]), 100),
    );
  });
});
