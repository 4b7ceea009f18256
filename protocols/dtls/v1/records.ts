// DTLS 1.2 record framing checks, done before a datagram reaches werift: it swallows parse
// errors silently, so malformed input would otherwise be invisible to counters and bans.

const HEADER = 13;
const CHANGE_CIPHER_SPEC = 20;
const APPLICATION_DATA = 23;
const HANDSHAKE = 22;
const CLIENT_HELLO = 1;

export type RecordCheck = 'ok' | 'malformed';

/** Every record in the datagram has a known type, a DTLS version and a length that fits. */
export function checkRecords(d: Uint8Array): RecordCheck {
  if (d.length < HEADER) return 'malformed';
  let at = 0;
  while (at < d.length) {
    if (at + HEADER > d.length) return 'malformed';
    const type = d[at]!;
    if (type < CHANGE_CIPHER_SPEC || type > APPLICATION_DATA) return 'malformed';
    if (d[at + 1] !== 0xfe || (d[at + 2] !== 0xfd && d[at + 2] !== 0xff)) return 'malformed';
    const len = (d[at + 11]! << 8) | d[at + 12]!;
    at += HEADER + len;
    if (at > d.length) return 'malformed';
  }
  return 'ok';
}

/** The datagram starts a handshake: an epoch-0 handshake record carrying a ClientHello. */
export function isClientHello(d: Uint8Array): boolean {
  return (
    d.length >= HEADER + 12 + 34 &&
    d[0] === HANDSHAKE &&
    d[3] === 0 &&
    d[4] === 0 &&
    d[HEADER] === CLIENT_HELLO
  );
}

/**
 * The ClientHello random (32 bytes after the 2-byte client_version), the same in the first
 * hello and the one repeated with a cookie. Two daemons dialling each other at once compare
 * theirs to agree, without any other information, which handshake survives.
 */
export function clientHelloRandom(d: Uint8Array): string | undefined {
  if (!isClientHello(d)) return undefined;
  const start = HEADER + 12 + 2;
  return Buffer.from(d.subarray(start, start + 32)).toString('hex');
}

export const ContentType = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;

export type RecordView = {
  readonly type: number;
  readonly epoch: number;
  /** 48-bit record sequence number: exact in a double. */
  readonly seq: number;
  /** The whole record (header and fragment), as werift takes it. */
  readonly bytes: Buffer;
  /** An epoch-0 handshake record that carries part of a message (werift buffers those). */
  readonly fragment: boolean;
};

/** The records of a datagram that already passed checkRecords. */
export function splitRecords(d: Buffer): RecordView[] {
  const out: RecordView[] = [];
  let at = 0;
  while (at + HEADER <= d.length) {
    const len = d.readUInt16BE(at + 11);
    const bytes = d.subarray(at, at + HEADER + len);
    const type = d[at]!;
    const epoch = d.readUInt16BE(at + 3);
    const seq = d.readUIntBE(at + 5, 6);
    const fragment =
      type === HANDSHAKE &&
      epoch === 0 &&
      len >= 12 &&
      bytes.readUIntBE(HEADER + 1, 3) !== bytes.readUIntBE(HEADER + 9, 3);
    out.push({ type, epoch, seq, bytes, fragment });
    at += HEADER + len;
  }
  return out;
}
