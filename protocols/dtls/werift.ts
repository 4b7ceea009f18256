import { createRequire } from 'node:module';
import type { HandshakeEvidence } from './verify-handshake.ts';

// The one module that touches werift-dtls. Its package `main` is broken in 0.5.7/0.5.8, so we
// load the built entry directly (DESIGN.md §1). werift does NOT verify handshake signatures:
// a session's certificate proves nothing until the channel binding step (daemon/link) passes.

export type Credentials = { certPem: string; keyPem: string };

/** What werift needs from a transport: we give each remote its own over one shared socket. */
export type WeriftTransport = {
  type: 'udp';
  readonly address: { address: string; family: string; port: number };
  closed: boolean;
  onData: (data: Buffer, addr?: unknown) => void;
  send: (data: Buffer, addr?: unknown) => Promise<void>;
  close: () => Promise<void>;
};

type Event<T extends unknown[]> = { subscribe(fn: (...args: T) => void): unknown };

export type WeriftSocket = {
  readonly onConnect: Event<[]>;
  readonly onData: Event<[Buffer]>;
  readonly onClose: Event<[]>;
  readonly onError: Event<[Error]>;
  readonly remoteCertificate: Buffer | undefined;
  connected: boolean;
  send(buf: Buffer): Promise<void>;
  close(): void;
  exportKeyingMaterial(label: string, length: number): Buffer;
};

type Werift = {
  DtlsServer: new (o: object) => WeriftSocket;
  DtlsClient: new (o: object) => WeriftSocket & { connect(): Promise<void> };
  CipherContext: {
    createSelfSignedCertificateWithKey(
      sh: object,
      curve: number,
    ): Promise<{ certPem: string; keyPem: string }>;
  };
};

const werift = createRequire(import.meta.url)('werift-dtls/lib/dtls/src/index.js') as Werift;

// ECDSA with SHA-256 on P-256: the only ECDSA combination werift offers. The signatureHash
// must accompany cert and key or werift silently does not load the certificate.
const SIGNATURE_HASH = { hash: 4, signature: 3 };
const P256 = 23;

export function createCertificate(): Promise<Credentials> {
  return werift.CipherContext.createSelfSignedCertificateWithKey(SIGNATURE_HASH, P256);
}

function options(transport: WeriftTransport, cred: Credentials) {
  return {
    transport,
    cert: cred.certPem,
    key: cred.keyPem,
    signatureHash: SIGNATURE_HASH,
    certificateRequest: true,
    extendedMasterSecret: true,
  };
}

/** `onProgress` runs after werift has taken in each flight of handshake messages. */
export function weriftServer(
  transport: WeriftTransport,
  cred: Credentials,
  onProgress?: () => void,
): WeriftSocket {
  return watchHandshake(new werift.DtlsServer(options(transport, cred)), onProgress);
}

export function weriftClient(
  transport: WeriftTransport,
  cred: Credentials,
  onProgress?: () => void,
): WeriftSocket & { connect(): Promise<void> } {
  return watchHandshake(new werift.DtlsClient(options(transport, cred)), onProgress);
}

// werift's internals that the handshake verifier reads. Pinned to werift-dtls 0.5.x: a test
// runs a real handshake through verifyHandshake, so a change of shape fails loudly there.
type Serializable = { msg_type: number; serialize(): Buffer };
type Internals = {
  onHandleHandshakes: (assembled: Serializable[]) => Promise<void>;
  dtls: { sortedHandshakeCache: Serializable[]; remoteExtendedMasterSecret: boolean; flight: number };
  cipher: {
    localRandom?: { serialize(): Buffer };
    remoteRandom?: { serialize(): Buffer };
    masterSecret?: Buffer;
    namedCurve?: number;
    localKeyPair?: { curve: number; privateKey: Buffer; publicKey: Buffer };
    remoteKeyPair?: { curve?: number; publicKey?: Buffer };
    remoteCertificate?: Buffer;
  };
};
const peerFinished = new WeakMap<object, Buffer>();

/**
 * Keeps the first Finished the peer sent (a client's werift never stores the server's) and
 * reports progress. werift handles a flight over a few microtasks (and parks in retransmit
 * timers after), so progress is reported on the next macrotask rather than when it settles.
 */
function watchHandshake<S extends WeriftSocket>(sock: S, onProgress?: () => void): S {
  const inner = sock as unknown as Internals;
  const handle = inner.onHandleHandshakes;
  let sawServerKeyExchange = false;
  inner.onHandleHandshakes = (input) => {
    // werift's client makes a new ephemeral key pair for every ServerKeyExchange it handles,
    // so a retransmitted flight 4 (our flight 5 was slow) replaced the key it had already sent
    // in ClientKeyExchange: the session still worked, but its keys no longer matched its own
    // transcript. Only the first ServerKeyExchange is ever acted on.
    const assembled = input.filter((h) => {
      if (h.msg_type !== 12) return true;
      if (sawServerKeyExchange) return false;
      sawServerKeyExchange = true;
      return true;
    });
    if (!peerFinished.has(sock)) {
      const fin = assembled.find((h) => h.msg_type === 20);
      if (fin) peerFinished.set(sock, Buffer.from(fin.serialize()));
    }
    const done = handle(assembled);
    if (onProgress) setImmediate(onProgress);
    return done;
  };
  return sock;
}

/** What werift negotiated and kept, for verifyHandshake to check from the outside. */
export function handshakeEvidence(sock: WeriftSocket, role: 'client' | 'server'): HandshakeEvidence {
  const { dtls, cipher } = sock as unknown as Internals;
  return {
    role,
    transcript: dtls.sortedHandshakeCache.map((h) => new Uint8Array(h.serialize())),
    peerFinished: peerFinished.get(sock),
    localRandom: cipher.localRandom?.serialize(),
    remoteRandom: cipher.remoteRandom?.serialize(),
    masterSecret: cipher.masterSecret,
    curve: cipher.localKeyPair?.curve,
    localPrivateKey: cipher.localKeyPair?.privateKey,
    localPublicKey: cipher.localKeyPair?.publicKey,
    remotePublicKey: cipher.remoteKeyPair?.publicKey,
    remoteCertDer: cipher.remoteCertificate,
    remoteOfferedEms: dtls.remoteExtendedMasterSecret === true,
  };
}

/**
 * A closed session's flights stop retransmitting at their next wake: werift's loop ends once
 * the flight counter passes the one it waits for, and its timers cannot be cancelled otherwise.
 */
export function stopRetransmitting(sock: WeriftSocket): void {
  (sock as unknown as Internals).dtls.flight = 255;
}

/** A server's peer echoed our HelloVerifyRequest cookie: it receives at the address it sends from. */
export function pastCookie(sock: WeriftSocket): boolean {
  return (sock as unknown as Internals).dtls.sortedHandshakeCache.length > 0;
}
