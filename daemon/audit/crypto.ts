import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { z } from 'zod';

// The sealed audit format: each record is encrypted on its own (AES-256-GCM), so `hana audit`
// reads the newest lines of a file without the rest, and each record's tag is the MAC of a
// chain: its AAD holds its sequence number and the previous record's tag. Deleting, editing,
// reordering or splicing records breaks the chain at a point `hana audit --verify` can name.
// The chain runs across files and restarts: each file's header names (and authenticates) the
// last record before it, its anchor, so pruning old files leaves a visible, dated start.
//
// An audit file (audit-<ISO start>.sealed):
//   H.<base64url(header JSON)>.<base64url(HMAC-SHA256(file MAC key, header JSON), 16 bytes)>\n
//   <seq>.<base64url(previous tag)>.<base64url(ciphertext ‖ tag)>\n   one per record
// File keys: HKDF-SHA256(home audit key, header salt, "hana-audit v1 file") → AES key ‖ MAC key ‖
// 4-byte nonce prefix, so no two files share an AES key. A record's nonce is the prefix and its
// sequence number, which only grows within a file (after a failed write the writer starts a new
// file, and so a new key): unique per key without a random draw per record (a random nonce and a
// key import per record made sealing several times slower, measured here). The home audit key is 32
// random bytes kept in storage.check (daemon/persist/home-check.ts), sealed with the storage key:
// whoever cannot open the home's files cannot read or forge its audit log.

export const MAC_BYTES = 16;
const NONCE_PREFIX_BYTES = 4;
const KEY_BYTES = 32;
/** Sequence numbers fit the nonce's and the AAD's 6 bytes. */
const MAX_SEQ = 2 ** 48 - 1;
const FILE_INFO = 'hana-audit v1 file';
const HEAD_INFO = 'hana-audit v1 head';

/** A position in the chain: the last record's sequence number and tag. */
export type Link = { seq: number; mac: Uint8Array };
export const GENESIS: Link = { seq: 0, mac: new Uint8Array(MAC_BYTES) };
export const sameLink = (a: Link, b: Link) => a.seq === b.seq && timingSafeEqual(a.mac, b.mac);

const B64_MAC = z.string().regex(/^[A-Za-z0-9_-]{22}$/);

export const FileHeader = z
  .object({
    v: z.literal(1),
    /** The device that wrote the file (for the operator; the key decides whose it is). */
    device: z.string().max(255),
    salt: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
    start: z.string(),
    /** The record before this file's first one: sequence 0 at the start of the chain. */
    anchor: z
      .object({
        seq: z.number().int().min(0),
        mac: B64_MAC,
        file: z.string().max(255).nullable(),
        time: z.string().max(64).nullable(),
      })
      .strict(),
  })
  .strict();
export type FileHeader = z.infer<typeof FileHeader>;

export type FileKeys = { aes: KeyObject; mac: Uint8Array; noncePrefix: Uint8Array };

export const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
export const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));

export function fileKeys(secret: Uint8Array, salt: Uint8Array): FileKeys {
  const okm = new Uint8Array(hkdfSync('sha256', secret, salt, FILE_INFO, 2 * KEY_BYTES + NONCE_PREFIX_BYTES));
  return {
    aes: createSecretKey(okm.subarray(0, KEY_BYTES)),
    mac: okm.subarray(KEY_BYTES, 2 * KEY_BYTES),
    noncePrefix: okm.subarray(2 * KEY_BYTES),
  };
}

export function headKey(secret: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), HEAD_INFO, KEY_BYTES));
}

export function hmac16(key: Uint8Array, data: string | Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(data).digest().subarray(0, MAC_BYTES));
}

/** A fresh header for a file starting at `start`, chained to `anchor`. */
export function newHeader(
  secret: Uint8Array,
  o: { device: string; start: number; anchor: Link; anchorFile: string | null; anchorTime: string | null },
): { line: string; keys: FileKeys } {
  const salt = randomBytes(16);
  const header: FileHeader = {
    v: 1,
    device: o.device,
    salt: b64(salt),
    start: new Date(o.start).toISOString(),
    anchor: { seq: o.anchor.seq, mac: b64(o.anchor.mac), file: o.anchorFile, time: o.anchorTime },
  };
  const keys = fileKeys(secret, salt);
  const json = JSON.stringify(header);
  return { line: `H.${Buffer.from(json).toString('base64url')}.${b64(hmac16(keys.mac, json))}\n`, keys };
}

export type OpenedHeader =
  | { ok: true; header: FileHeader; keys: FileKeys; anchor: Link }
  | { ok: false; why: 'malformed' | 'foreign'; device?: string };

/** Parses and authenticates a header line (without its newline). */
export function openHeader(secret: Uint8Array, line: string): OpenedHeader {
  const m = /^H\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/.exec(line);
  if (!m) return { ok: false, why: 'malformed' };
  let header: FileHeader;
  let json: string;
  try {
    json = Buffer.from(m[1]!, 'base64url').toString('utf8');
    const parsed = FileHeader.safeParse(JSON.parse(json));
    if (!parsed.success) return { ok: false, why: 'malformed' };
    header = parsed.data;
  } catch {
    return { ok: false, why: 'malformed' };
  }
  const keys = fileKeys(secret, unb64(header.salt));
  if (!timingSafeEqual(hmac16(keys.mac, json), unb64(m[2]!))) {
    // The device is unauthenticated here, but it is what the file claims: worth naming.
    return { ok: false, why: 'foreign', device: header.device };
  }
  return { ok: true, header, keys, anchor: { seq: header.anchor.seq, mac: unb64(header.anchor.mac) } };
}

function nonce(keys: FileKeys, seq: number): Buffer {
  const n = Buffer.alloc(12);
  n.set(keys.noncePrefix, 0);
  n.writeUIntBE(seq, 6, 6);
  return n;
}

function aad(seq: number, prev: Uint8Array): Buffer {
  const a = Buffer.allocUnsafe(6 + MAC_BYTES);
  a.writeUIntBE(seq, 0, 6);
  a.set(prev, 6);
  return a;
}

/** Bytes a sealed record line takes, newline included, for a record of `jsonBytes` bytes. */
export function sealedLineBytes(seq: number, jsonBytes: number): number {
  return String(seq).length + 1 + 22 + 1 + Math.ceil(((jsonBytes + MAC_BYTES) * 4) / 3) + 1;
}

/** Seals the record after `prev`; its tag is the next link. */
export function sealRecord(keys: FileKeys, prev: Link, json: string): { line: string; link: Link } {
  const seq = prev.seq + 1;
  if (seq > MAX_SEQ) throw new RangeError(`audit sequence number ${seq} is past ${MAX_SEQ}`);
  const cipher = createCipheriv('aes-256-gcm', keys.aes, nonce(keys, seq), { authTagLength: MAC_BYTES });
  cipher.setAAD(aad(seq, prev.mac));
  const ct = Buffer.concat([cipher.update(json, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  const tag = new Uint8Array(ct.subarray(ct.length - MAC_BYTES));
  return { line: `${seq}.${b64(prev.mac)}.${ct.toString('base64url')}\n`, link: { seq, mac: tag } };
}

export type RecordLine = { seq: number; prev: Uint8Array; blob: Uint8Array };

/** The clear parts of a record line (without its newline); undefined if it is not one. */
export function parseRecordLine(line: string): RecordLine | undefined {
  const m = /^(\d{1,15})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]+)$/.exec(line);
  if (!m) return undefined;
  const seq = Number(m[1]);
  const blob = unb64(m[3]!);
  if (seq < 1 || seq > MAX_SEQ || blob.length < MAC_BYTES) return undefined;
  return { seq, prev: unb64(m[2]!), blob };
}

export const tagOf = (r: RecordLine) => r.blob.subarray(r.blob.length - MAC_BYTES);

/** The record's JSON if it authenticates under its own sequence number and previous tag. */
export function openRecord(keys: FileKeys, r: RecordLine): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.aes, nonce(keys, r.seq), {
      authTagLength: MAC_BYTES,
    });
    decipher.setAAD(aad(r.seq, r.prev));
    decipher.setAuthTag(tagOf(r));
    const body = r.blob.subarray(0, r.blob.length - MAC_BYTES);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
