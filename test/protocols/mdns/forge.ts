import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { formatDeviceId } from '../../../trust-store/device-id.ts';

// Hand-built mDNS responses, for tests that play a hostile LAN: a tiny encoder that writes
// whatever we ask, including what a correct encoder (dns-packet) would refuse to write.

export const TYPE = { A: 1, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, NSEC: 47 } as const;
export const SERVICE = '_hana._udp.local';

export type Rr = {
  name: string;
  /** Wire bytes of the owner name instead of `name` (e.g. a label holding a dot). */
  rawName?: Uint8Array;
  type: number;
  ttl?: number;
  cls?: number;
  data: Uint8Array;
};

/** Labels split on '.'; one longer than 63 bytes is cut (a length byte over 63 is a pointer). */
export function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.split('.')) {
    if (label === '') continue;
    const b = Buffer.from(label).subarray(0, 63);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

export function encodeRr(rr: Rr): Buffer {
  const ttl = Buffer.alloc(4);
  ttl.writeUInt32BE(rr.ttl ?? 120);
  // 0x8001: class IN with the cache-flush bit, as bonjour-service sends its unique records.
  const name = rr.rawName ?? encodeName(rr.name);
  const head = Buffer.concat([name, u16(rr.type), u16(rr.cls ?? 0x8001), ttl]);
  return Buffer.concat([head, u16(rr.data.length), rr.data]);
}

export function encodeResponse(answers: readonly Rr[], additionals: readonly Rr[] = []): Buffer {
  const header = Buffer.concat([
    u16(0),
    u16(0x8400),
    u16(0),
    u16(answers.length),
    u16(0),
    u16(additionals.length),
  ]);
  return Buffer.concat([header, ...answers.map(encodeRr), ...additionals.map(encodeRr)]);
}

export const ptr = (target: string, name = SERVICE): Rr => ({
  name,
  type: TYPE.PTR,
  data: encodeName(target),
});
export const srv = (name: string, port: number, target: string): Rr => ({
  name,
  type: TYPE.SRV,
  data: Buffer.concat([u16(0), u16(0), u16(port), encodeName(target)]),
});
/** Each entry is one character-string (cut at 255 bytes): "key=value", or raw bytes. */
export const txt = (name: string, entries: readonly (string | Uint8Array)[]): Rr => ({
  name,
  type: TYPE.TXT,
  data: Buffer.concat(
    entries.flatMap((e) => {
      const b = Buffer.from(e).subarray(0, 255);
      return [Buffer.from([b.length]), b];
    }),
  ),
});
export const a = (name: string, address: string): Rr => ({
  name,
  type: TYPE.A,
  data: Buffer.from(isIPv4(address) ? address.split('.').map(Number) : [0, 0, 0, 0]),
});

export type Announcement = {
  instance: string;
  port: number;
  txt: Record<string, string> | readonly (string | Uint8Array)[];
  host?: string;
  addresses?: readonly string[];
  omit?: readonly ('ptr' | 'srv' | 'txt')[];
  ttl?: number;
};

/** The records a daemon sends for itself (PTR, SRV, TXT, A), as one response packet. */
export function announce(x: Announcement): Buffer {
  const fqdn = `${x.instance}.${SERVICE}`;
  const host = x.host ?? `${x.instance}-host.local`;
  const entries = Array.isArray(x.txt)
    ? (x.txt as readonly (string | Uint8Array)[])
    : Object.entries(x.txt).map(([k, v]) => `${k}=${v}`);
  const omit = new Set(x.omit ?? []);
  const answers: Rr[] = [];
  if (!omit.has('ptr')) answers.push(ptr(fqdn));
  if (!omit.has('srv')) answers.push(srv(fqdn, x.port, host));
  if (!omit.has('txt')) answers.push(txt(fqdn, entries));
  const additionals = (x.addresses ?? []).map((addr) => a(host, addr));
  for (const r of [...answers, ...additionals]) r.ttl = x.ttl ?? 120;
  return encodeResponse(answers, additionals);
}

export const randomDeviceId = (): string => formatDeviceId(randomBytes(32));

/** mulberry32: a seeded generator, so a failing fuzz run can be replayed from its seed. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
