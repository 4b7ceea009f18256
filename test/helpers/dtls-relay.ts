import { createPublicKey, diffieHellman, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { Credentials } from '../../protocols/dtls/werift.ts';
import {
  CONTENT_APPLICATION_DATA,
  CONTENT_HANDSHAKE,
  CURVE_X25519,
  type DtlsRecord,
  EXT_EXTENDED_MASTER_SECRET,
  encodeCertificates,
  encodeClientKeyExchange,
  encodeHandshakes,
  encodeRecords,
  encodeServerKeyExchange,
  exporterValue,
  extendedMasterSecret,
  HANDSHAKE,
  type HandshakeMessage,
  helloExtensions,
  helloRandom,
  isWhole,
  openRecord,
  parseClientKeyExchange,
  parseHandshakes,
  parseRecords,
  parseServerKeyExchange,
  plainMasterSecret,
  type RecordKeys,
  recordKeys,
  sealRecord,
  serverKeyExchangeSignedData,
  stripHelloExtension,
  withBody,
} from './dtls-wire.ts';

// A man in the middle for DTLS 1.2 tests (issue 10). It sits on loopback between a dialler and
// a target, forwards every datagram, and rewrites the epoch-0 handshake on the way:
//   - strips extended_master_secret from both hellos, so the master secret depends only on the
//     premaster and the randoms, not on the transcript it tampered with;
//   - replaces both X25519 shares (ServerKeyExchange, ClientKeyExchange) with the all-zero
//     point, so both ends compute an all-zero premaster, or with shares of its own, keeping the
//     server's signature bytes because it cannot re-sign;
//   - or presents its own certificate as the server's and signs ServerKeyExchange with its key.
// When it knows both ends' master secrets but they differ, it re-encrypts every protected
// record from one end's keys to the other's, so the handshake completes wherever the ends do
// not check it: a relay that only rewrote would merely break the handshake, and the ends would
// never get to see (and name) what was done to it.

// ---------------------------------------------------------------------------------------------
// X25519 shares of the relay's own

export type X25519Share = { readonly point: Uint8Array; agree(peerPoint: Uint8Array): Uint8Array };

export function x25519Share(): X25519Share {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const point = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
  return {
    point,
    agree(peerPoint) {
      const peer = createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peerPoint).toString('base64url') },
        format: 'jwk',
      });
      return new Uint8Array(diffieHellman({ privateKey, publicKey: peer }));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The rewriter: per-handshake state, no sockets

export type RelayMode = {
  /** Remove extended_master_secret (0x0017) from ClientHello and ServerHello. */
  stripEms?: boolean;
  /**
   * Key shares in ServerKeyExchange and ClientKeyExchange: left alone, all-zero, or the
   * relay's own. With swapCertificate, 'keep' means the relay's own: it must know the key.
   */
  shares?: 'keep' | 'zero' | 'relay';
  /** Present this certificate as the server's and sign ServerKeyExchange with its key. */
  swapCertificate?: Credentials;
};

/** Who sent a datagram: the side that dialled the relay, or the side the relay dials. */
export type From = 'dialler' | 'target';
type Role = 'client' | 'server';

export type RewriteStats = {
  datagrams: number;
  /** Datagrams that were not well-formed records: forwarded untouched. */
  unparsed: number;
  /** Handshake fragments forwarded untouched (a split message cannot be rewritten). */
  fragments: number;
  clientHelloEmsStripped: number;
  serverHelloEmsStripped: number;
  serverKeyExchangeRewritten: number;
  clientKeyExchangeRewritten: number;
  certificateSwapped: number;
  /** Shares on a curve other than X25519: forwarded untouched. */
  otherCurve: number;
  /** Protected records re-encrypted from one end's keys to the other's. */
  recordsBridged: number;
  /** Protected records that did not open under the keys the relay computed. */
  bridgeFailures: number;
  /** Application-data records seen, per sender. */
  applicationData: Record<From, number>;
};

export type Rewriter = {
  rewrite(datagram: Uint8Array, from: From): Uint8Array;
  readonly stats: RewriteStats;
  /** The exporter value the session on `side` derives, when the relay knows its master secret. */
  knownExporter(side: Role, label: string, length: number): Uint8Array | undefined;
};

/** The messages whose hash keys an extended master secret, by sender and type, in order. */
const EMS_TRANSCRIPT: readonly [Role, number][] = [
  ['client', HANDSHAKE.clientHello],
  ['server', HANDSHAKE.serverHello],
  ['server', HANDSHAKE.certificate],
  ['server', HANDSHAKE.serverKeyExchange],
  ['server', HANDSHAKE.certificateRequest],
  ['server', HANDSHAKE.serverHelloDone],
  ['client', HANDSHAKE.certificate],
  ['client', HANDSHAKE.clientKeyExchange],
];

function emptyStats(): RewriteStats {
  return {
    datagrams: 0,
    unparsed: 0,
    fragments: 0,
    clientHelloEmsStripped: 0,
    serverHelloEmsStripped: 0,
    serverKeyExchangeRewritten: 0,
    clientKeyExchangeRewritten: 0,
    certificateSwapped: 0,
    otherCurve: 0,
    recordsBridged: 0,
    bridgeFailures: 0,
    applicationData: { dialler: 0, target: 0 },
  };
}

export function createRewriter(mode: RelayMode): Rewriter {
  const shares =
    mode.shares === 'zero' ? 'zero' : mode.shares === 'relay' || mode.swapCertificate ? 'relay' : 'keep';
  // One share towards each end: the client agrees with `towardClient`, the server with `towardServer`.
  const towardClient = shares === 'relay' ? x25519Share() : undefined;
  const towardServer = shares === 'relay' ? x25519Share() : undefined;
  const swapDer = mode.swapCertificate
    ? new Uint8Array(new X509Certificate(mode.swapCertificate.certPem).raw)
    : undefined;
  const stats = emptyStats();

  // The latest handshake; a ClientHello with a new random starts over.
  let clientRandom: Uint8Array | undefined;
  let serverRandom: Uint8Array | undefined;
  let serverSide: From | undefined;
  let clientPoint: Uint8Array | undefined;
  let serverPoint: Uint8Array | undefined;
  /** Each end's view of the handshake: the messages as it sent or received them. */
  let views: Record<Role, Map<string, Uint8Array>> = { client: new Map(), server: new Map() };
  let keys: Record<Role, RecordKeys> | undefined;

  const senderOf = (from: From): Role => (from === serverSide ? 'server' : 'client');
  const replacement = (toward: X25519Share | undefined, original: Uint8Array) =>
    shares === 'zero' ? new Uint8Array(32) : toward ? toward.point : original;

  function restart(random: Uint8Array): void {
    clientRandom = random;
    serverRandom = serverSide = clientPoint = serverPoint = keys = undefined;
    views = { client: new Map(), server: new Map() };
  }

  function hello(m: HandshakeMessage, counter: 'clientHelloEmsStripped' | 'serverHelloEmsStripped') {
    if (!mode.stripEms) return m;
    const body = stripHelloExtension(m.msgType, m.body, EXT_EXTENDED_MASTER_SECRET);
    if (!body) return m;
    stats[counter]++;
    return withBody(m, body);
  }

  function serverKeyExchange(m: HandshakeMessage): HandshakeMessage {
    const ske = parseServerKeyExchange(m.body);
    if (!ske) return m;
    if (ske.namedCurve !== CURVE_X25519) {
      stats.otherCurve++;
      return m;
    }
    serverPoint = ske.point;
    const point = replacement(towardClient, ske.point);
    let signature = ske.signature; // the server's, over its own point: invalid for any other
    if (mode.swapCertificate && clientRandom && serverRandom) {
      const signed = serverKeyExchangeSignedData(clientRandom, serverRandom, ske.namedCurve, point);
      signature = new Uint8Array(sign('sha256', signed, mode.swapCertificate.keyPem));
    }
    if (point === ske.point && signature === ske.signature) return m;
    stats.serverKeyExchangeRewritten++;
    return withBody(m, encodeServerKeyExchange({ ...ske, point, signature }));
  }

  function clientKeyExchange(m: HandshakeMessage): HandshakeMessage {
    const original = parseClientKeyExchange(m.body);
    if (!original) return m;
    if (original.length !== 32) {
      stats.otherCurve++;
      return m;
    }
    clientPoint = original;
    const point = replacement(towardServer, original);
    if (point === original) return m;
    stats.clientKeyExchangeRewritten++;
    return withBody(m, encodeClientKeyExchange(point));
  }

  function message(m: HandshakeMessage, from: From): HandshakeMessage {
    switch (m.msgType) {
      case HANDSHAKE.clientHello: {
        const random = helloRandom(m.body);
        if (!clientRandom || Buffer.compare(random, clientRandom) !== 0) restart(random);
        return hello(m, 'clientHelloEmsStripped');
      }
      case HANDSHAKE.serverHello:
        serverRandom = helloRandom(m.body);
        serverSide = from;
        return hello(m, 'serverHelloEmsStripped');
      case HANDSHAKE.certificate:
        if (!swapDer || from !== serverSide) return m;
        stats.certificateSwapped++;
        return withBody(m, encodeCertificates([swapDer]));
      case HANDSHAKE.serverKeyExchange:
        return serverKeyExchange(m);
      case HANDSHAKE.clientKeyExchange:
        return clientKeyExchange(m);
      default:
        return m;
    }
  }

  /** Records both ends' views of a message: the sender has the original, the receiver the rewrite. */
  function remember(original: HandshakeMessage, forwarded: HandshakeMessage, from: From): void {
    const sender = original.msgType === HANDSHAKE.clientHello ? 'client' : senderOf(from);
    const key = `${sender}:${original.msgType}`;
    const receiver: Role = sender === 'client' ? 'server' : 'client';
    // The ClientHello repeated with a cookie replaces the first; other retransmissions are copies.
    const keep = (view: Map<string, Uint8Array>, m: HandshakeMessage) => {
      if (original.msgType === HANDSHAKE.clientHello || !view.has(key)) view.set(key, encodeHandshakes([m]));
    };
    keep(views[sender], original);
    keep(views[receiver], forwarded);
  }

  function premasterOf(side: Role): Uint8Array | undefined {
    if (shares === 'zero') return new Uint8Array(32);
    if (side === 'client' && towardClient && clientPoint) return towardClient.agree(clientPoint);
    if (side === 'server' && towardServer && serverPoint) return towardServer.agree(serverPoint);
    return undefined;
  }

  /** Whether `side` keyed its session with EMS: werift does when the hello it received offers it. */
  function usedEms(side: Role): boolean | undefined {
    const [sender, type] =
      side === 'client' ? ['server', HANDSHAKE.serverHello] : ['client', HANDSHAKE.clientHello];
    const bytes = views[side].get(`${sender}:${type}`);
    if (!bytes) return undefined;
    return helloExtensions(type, bytes.subarray(12)).includes(EXT_EXTENDED_MASTER_SECRET);
  }

  function masterOf(side: Role): Uint8Array | undefined {
    const premaster = premasterOf(side);
    const ems = usedEms(side);
    if (!premaster || !clientRandom || !serverRandom || ems === undefined) return undefined;
    if (!ems) return plainMasterSecret(premaster, clientRandom, serverRandom);
    const transcript = EMS_TRANSCRIPT.map(([s, t]) => views[side].get(`${s}:${t}`));
    if (transcript.some((m) => m === undefined)) return undefined;
    return extendedMasterSecret(premaster, transcript as Uint8Array[]);
  }

  /** Both ends' record keys, once known; undefined when they are the same (nothing to bridge). */
  function bridgeKeys(): Record<Role, RecordKeys> | undefined {
    if (keys || !clientRandom || !serverRandom) return keys;
    const c = masterOf('client');
    const s = masterOf('server');
    if (!c || !s || Buffer.compare(c, s) === 0) return undefined;
    keys = {
      client: recordKeys(c, clientRandom, serverRandom),
      server: recordKeys(s, clientRandom, serverRandom),
    };
    return keys;
  }

  /** A protected record from `sender`, re-encrypted for the other end. */
  function bridge(r: DtlsRecord, sender: Role): DtlsRecord {
    const k = bridgeKeys();
    if (!k) return r;
    const receiver: Role = sender === 'client' ? 'server' : 'client';
    const writeKey = (x: RecordKeys) => (sender === 'client' ? x.clientWriteKey : x.serverWriteKey);
    const salt = (x: RecordKeys) => (sender === 'client' ? x.clientSalt : x.serverSalt);
    const plaintext = openRecord(writeKey(k[sender]), salt(k[sender]), r);
    if (!plaintext) {
      stats.bridgeFailures++;
      return r;
    }
    stats.recordsBridged++;
    return sealRecord(writeKey(k[receiver]), salt(k[receiver]), r, plaintext);
  }

  function record(r: DtlsRecord, from: From): DtlsRecord {
    if (r.type === CONTENT_APPLICATION_DATA) stats.applicationData[from]++;
    if (r.epoch > 0) return bridge(r, senderOf(from));
    if (r.type !== CONTENT_HANDSHAKE) return r;
    const messages = parseHandshakes(r.fragment);
    if (!messages) return r;
    const rewritten = messages.map((m) => {
      if (!isWhole(m)) {
        stats.fragments++;
        return m;
      }
      const out = message(m, from);
      remember(m, out, from);
      return out;
    });
    if (rewritten.every((m, i) => m === messages[i])) return r;
    return { ...r, fragment: encodeHandshakes(rewritten) };
  }

  return {
    stats,
    rewrite(datagram, from) {
      stats.datagrams++;
      const records = parseRecords(datagram);
      if (!records) {
        stats.unparsed++;
        return datagram;
      }
      const out = records.map((r) => record(r, from));
      return out.every((r, i) => r === records[i]) ? datagram : encodeRecords(out);
    },
    knownExporter(side, label, length) {
      const master = masterOf(side);
      if (!master || !clientRandom || !serverRandom) return undefined;
      return exporterValue(master, label, clientRandom, serverRandom, length);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The relay: a UDP socket the dialler talks to, and one socket per dialler towards the target

export type DtlsRelayInit = {
  target: { address: string; port: number };
  mode: RelayMode;
  /** Loopback only: tests send nothing beyond it. */
  host?: '127.0.0.1';
  /** Sees every datagram as forwarded (after rewriting), e.g. to capture a handshake. */
  onDatagram?: (from: From, forwarded: Uint8Array, original: Uint8Array) => void;
};

export type DtlsRelay = {
  /** The port to dial instead of the target's. */
  readonly port: number;
  readonly stats: RewriteStats;
  knownExporter: Rewriter['knownExporter'];
  close(): Promise<void>;
};

const MAX_DIALLERS = 8;

function bindUdp(host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, host, () => {
      s.off('error', reject);
      // An ICMP port unreachable after a peer closed must not crash the test process.
      s.on('error', () => {});
      resolve(s);
    });
  });
}

export async function startDtlsRelay(init: DtlsRelayInit): Promise<DtlsRelay> {
  const host = init.host ?? '127.0.0.1';
  const rewriter = createRewriter(init.mode);
  const pass = (msg: Uint8Array, from: From) => {
    const out = rewriter.rewrite(msg, from);
    init.onDatagram?.(from, out, msg);
    return out;
  };
  const front = await bindUdp(host);
  const backs = new Map<string, Promise<Socket>>();
  let closed = false;

  // The target sees one source per dialler, as it would see the dialler itself.
  function backFor(address: string, port: number): Promise<Socket> | undefined {
    const key = `${address}:${port}`;
    const known = backs.get(key);
    if (known || backs.size >= MAX_DIALLERS) return known;
    const made = bindUdp(host).then((back) => {
      back.on('message', (msg) => {
        if (!closed) front.send(pass(msg, 'target'), port, address);
      });
      return back;
    });
    backs.set(key, made);
    return made;
  }

  front.on('message', (msg, rinfo) => {
    if (closed) return;
    const out = pass(msg, 'dialler');
    // Datagrams wait on the same promise, so they leave in the order they came.
    void backFor(rinfo.address, rinfo.port)?.then((back) => {
      if (!closed) back.send(out, init.target.port, init.target.address);
    });
  });

  return {
    port: front.address().port,
    stats: rewriter.stats,
    knownExporter: rewriter.knownExporter,
    async close() {
      if (closed) return;
      closed = true;
      const all = [front, ...(await Promise.all(backs.values()))];
      await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
