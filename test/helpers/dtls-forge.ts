import { createSocket } from 'node:dgram';
import { createRequire } from 'node:module';
import { openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import {
  type Credentials,
  stopRetransmitting,
  type WeriftTransport,
  weriftClient,
} from '../../protocols/dtls/werift.ts';

// DTLS 1.2 records an attacker writes by hand (RFC 6347 §4.1, §4.2.2): alerts, handshake
// fragments, a genuine ClientHello captured from werift, and encrypted records from a stranger
// that completed a handshake, for the record-attack tests.

export const CONTENT = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;
const HEADER = 13;

/** One record: type, DTLS 1.2, epoch, 48-bit sequence number, length, body. */
export function record(type: number, epoch: number, seq: number, body: Uint8Array): Buffer {
  const h = Buffer.alloc(HEADER);
  h[0] = type;
  h[1] = 0xfe;
  h[2] = 0xfd;
  h.writeUInt16BE(epoch, 3);
  h.writeUIntBE(seq, 5, 6);
  h.writeUInt16BE(body.length, 11);
  return Buffer.concat([h, body]);
}

/** One handshake message or fragment of one: `length` is the whole message's claimed length. */
export function handshake(m: {
  type: number;
  length: number;
  messageSeq?: number;
  offset?: number;
  fragment: Uint8Array;
}): Buffer {
  const h = Buffer.alloc(12);
  h[0] = m.type;
  h.writeUIntBE(m.length, 1, 3);
  h.writeUInt16BE(m.messageSeq ?? 0, 4);
  h.writeUIntBE(m.offset ?? 0, 6, 3);
  h.writeUIntBE(m.fragment.length, 9, 3);
  return Buffer.concat([h, m.fragment]);
}

/** An alert in the clear: level 1 warning or 2 fatal; description 0 is close_notify. */
export const alert = (level: number, description: number, epoch = 0, seq = 1) =>
  record(CONTENT.alert, epoch, seq, Uint8Array.of(level, description));

export type RecordHead = { type: number; epoch: number; seq: number; bytes: Buffer };

/** The records of a datagram, by header; undefined when one does not fit. */
export function recordsOf(d: Buffer): RecordHead[] | undefined {
  const out: RecordHead[] = [];
  for (let at = 0; at < d.length; ) {
    if (at + HEADER > d.length) return undefined;
    const end = at + HEADER + d.readUInt16BE(at + 11);
    if (end > d.length) return undefined;
    out.push({
      type: d[at]!,
      epoch: d.readUInt16BE(at + 3),
      seq: d.readUIntBE(at + 5, 6),
      bytes: d.subarray(at, end),
    });
    at = end;
  }
  return out;
}

/** A genuine ClientHello, captured from werift dialling a socket that never answers. */
export async function captureClientHello(cred: Credentials): Promise<Buffer> {
  const sink = createSocket('udp4');
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
  const ep = await openDtlsEndpoint({
    host: '127.0.0.1',
    port: 0,
    credentials: cred,
    handshakeTimeoutMs: 2000,
    onSession: () => {},
    onReject: () => {},
  });
  try {
    const got = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello within 2 s')), 2000);
      sink.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    ep.connect({ address: '127.0.0.1', port: sink.address().port }).catch(() => {});
    return await got;
  } finally {
    await ep.close();
    sink.close();
  }
}

type Builder = {
  createPlaintext: (
    dtls: object,
  ) => (fragments: { type: number; fragment: Buffer }[], seq: number) => { serialize(): Buffer }[];
};
type ClientInternals = {
  dtls: { recordSequenceNumber: number };
  cipher: { encryptPacket(p: object): { serialize(): Buffer } };
};

/**
 * A stranger that completes a genuine handshake with `port` (any device on the LAN can: trust
 * is decided after it), then writes encrypted records of its choosing on that session.
 */
export async function keyedStranger(port: number, cred: Credentials) {
  const builder = createRequire(import.meta.url)('werift-dtls/lib/dtls/src/record/builder.js') as Builder;
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const transport: WeriftTransport = {
    type: 'udp',
    get address() {
      const a = s.address();
      return { address: a.address, family: a.family, port: a.port };
    },
    closed: false,
    onData: () => {},
    send: (d) => new Promise<void>((r) => s.send(d, port, '127.0.0.1', () => r())),
    close: async () => {},
  };
  s.on('message', (m) => transport.onData(m));
  const client = weriftClient(transport, cred);
  await client.connect();
  const inner = client as unknown as ClientInternals;
  return {
    /** One epoch-1 handshake record carrying `body`, sealed with the session's keys. */
    sendHandshakeRecord(body: Buffer): Promise<void> {
      const [plain] = builder.createPlaintext(inner.dtls)(
        [{ type: CONTENT.handshake, fragment: body }],
        ++inner.dtls.recordSequenceNumber,
      );
      return transport.send(inner.cipher.encryptPacket(plain!).serialize());
    },
    close(): void {
      transport.closed = true;
      stopRetransmitting(client);
      s.close();
    },
  };
}
