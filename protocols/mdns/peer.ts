import { isIP, isIPv4 } from 'node:net';
import { parseDeviceId } from '../../trust-store/device-id.ts';

// Socket-free validation of what a browser hands us. Everything here arrived from the LAN
// unauthenticated: the result is a dialling hint, never an identity (the DTLS handshake decides).
// Every field is checked here, at the edge, so nothing downstream can trip over a value.

export type DiscoveredPeer = {
  instance: string;
  /** A HINT only (a valid, canonical device ID): anyone on the LAN can claim any ID. */
  deviceId: string;
  ensembleTag: string;
  protocolVersion: number;
  /** IPv4 to dial: the packet's source, never what the announcement claims. */
  address: string;
  /** The peer's DTLS/UDP port, from the SRV record. */
  port: number;
};

/** Stable reason codes, so callers and logs can count rejections without parsing prose. */
export const MDNS_REJECT_CODES = [
  'bad-instance',
  'bad-port',
  'no-txt',
  'bad-version',
  'bad-id',
  'bad-ensemble',
  /** The A/AAAA records are not a short list of unicast addresses. */
  'bad-address',
  /** The packet's source is not a unicast IPv4 we could dial. */
  'no-address',
  /** A packet that is not DNS at all (it never reaches parsePeer). */
  'undecodable',
] as const;
export type MdnsRejectCode = (typeof MDNS_REJECT_CODES)[number];
export type PeerRejection = { bad: MdnsRejectCode };
/** One rejected announcement, for counting and rate-limited logging by (code, source). */
export type MdnsRejection = {
  code: MdnsRejectCode;
  /** The packet's source IP, or "unknown". */
  source: string;
  /** The announced instance, quoted and cut short for logs, when there was one. */
  instance?: string;
};

export const MAX_INSTANCE_BYTES = 63; // one DNS label
export const MAX_TXT_VALUE_CHARS = 128;
/** More A/AAAA records than any host with a few interfaces sends. */
export const MAX_ADDRESSES = 32;

// Printable ASCII without space: device IDs and tags are base32/hex with dashes, and anything
// else would end up in logs verbatim.
const TOKEN = /^[\x21-\x7e]+$/;
// Up to 9 digits keeps it a safe integer without a BigInt detour.
const POSITIVE_INT = /^[1-9][0-9]{0,8}$/;
// Instance names reach logs and UIs.
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\x00-\x1f\x7f]/;

export function isValidInstance(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    Buffer.byteLength(name) <= MAX_INSTANCE_BYTES &&
    !name.includes('.') &&
    !CONTROL.test(name)
  );
}

export function isValidToken(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_TXT_VALUE_CHARS && TOKEN.test(value);
}

export function isValidPort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** A unicast IPv4 we would be willing to send a handshake to. */
export function isDialableIPv4(address: unknown): address is string {
  if (typeof address !== 'string' || !isIPv4(address)) return false;
  const first = Number(address.split('.')[0]);
  return address !== '0.0.0.0' && address !== '255.255.255.255' && !(first >= 224 && first <= 239);
}

/** The TXT values we advertise: v, id, ens (never a secret: every host on the LAN reads them). */
export function encodeTxt(p: { protocolVersion: number; deviceId: string; ensembleTag: string }) {
  return { v: String(p.protocolVersion), id: p.deviceId, ens: p.ensembleTag };
}

function txtString(txt: object, key: string): string | undefined {
  // Own properties only: a TXT key named "__proto__" or "constructor" must not read through.
  if (!Object.hasOwn(txt, key)) return undefined;
  const value: unknown = (txt as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}

function refererAddress(service: unknown): unknown {
  if (typeof service !== 'object' || service === null) return undefined;
  const referer = (service as { referer?: unknown }).referer;
  return typeof referer === 'object' && referer !== null
    ? (referer as { address?: unknown }).address
    : undefined;
}

/** The packet's source IP, for counting and logging rejections; "unknown" if there is none. */
export function sourceOf(service: unknown): string {
  const from = refererAddress(service);
  return typeof from === 'string' && isIP(from) !== 0 ? from : 'unknown';
}

// Checked, though we never dial what they say: an announcement is not authenticated, so A
// records would let anyone make every daemon on the LAN send handshakes wherever they like.
// A host advertises its own unicast addresses; anything else marks a broken or forged packet.
function validAddresses(addresses: unknown): boolean {
  return (
    addresses === undefined ||
    (Array.isArray(addresses) &&
      addresses.length <= MAX_ADDRESSES &&
      addresses.every((a) => isDialableIPv4(a) || (typeof a === 'string' && isIP(a) === 6)))
  );
}

/**
 * A bonjour-service `Service` (typed `unknown`: it is decoded network input) → a peer, or the
 * first reason it is unusable. Does not check the ensemble tag: a foreign band is valid, just
 * not ours.
 */
export function parsePeer(service: unknown): DiscoveredPeer | PeerRejection {
  if (typeof service !== 'object' || service === null) return { bad: 'bad-instance' };
  const s = service as Record<string, unknown>;
  if (!isValidInstance(s.name)) return { bad: 'bad-instance' };
  if (!isValidPort(s.port)) return { bad: 'bad-port' };
  if (typeof s.txt !== 'object' || s.txt === null) return { bad: 'no-txt' };
  const v = txtString(s.txt, 'v');
  if (v === undefined || !POSITIVE_INT.test(v)) return { bad: 'bad-version' };
  const id = txtString(s.txt, 'id');
  // The real parser, so the hint is a device ID in its one canonical spelling or nothing.
  const parsed = isValidToken(id) ? parseDeviceId(id) : undefined;
  if (!parsed?.ok) return { bad: 'bad-id' };
  const ens = txtString(s.txt, 'ens');
  if (!isValidToken(ens)) return { bad: 'bad-ensemble' };
  if (!validAddresses(s.addresses)) return { bad: 'bad-address' };
  // The source of the packet is where the peer's traffic comes from and where a reply routes
  // back; on a loopback-only host it is all there is (A records are empty, DESIGN.md §1).
  const address = refererAddress(service);
  if (!isDialableIPv4(address)) return { bad: 'no-address' };
  return {
    instance: s.name,
    deviceId: parsed.id,
    ensembleTag: ens,
    protocolVersion: Number(v),
    address,
    port: s.port,
  };
}

export function samePeer(a: DiscoveredPeer, b: DiscoveredPeer): boolean {
  return (
    a.instance === b.instance &&
    a.deviceId === b.deviceId &&
    a.ensembleTag === b.ensembleTag &&
    a.protocolVersion === b.protocolVersion &&
    a.address === b.address &&
    a.port === b.port
  );
}

/** For messages: untrusted text, quoted and cut short so it cannot forge log lines. */
export function quote(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : '(none)';
}
