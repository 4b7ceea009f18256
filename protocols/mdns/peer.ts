import { isIPv4 } from 'node:net';

// Socket-free validation of what a browser hands us. Everything here arrived from the LAN
// unauthenticated: the result is a dialling hint, never an identity (the DTLS handshake decides).

export type DiscoveredPeer = {
  instance: string;
  /** A HINT only: anyone on the LAN can claim any ID; the DTLS handshake decides identity. */
  deviceId: string;
  ensembleTag: string;
  protocolVersion: number;
  /** IPv4 to dial. */
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
  'no-address',
] as const;
export type MdnsRejectCode = (typeof MDNS_REJECT_CODES)[number];
export type PeerRejection = { bad: MdnsRejectCode };

export const MAX_INSTANCE_BYTES = 63; // one DNS label
export const MAX_TXT_VALUE_CHARS = 128;

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

function pickAddress(addresses: unknown, referer: unknown): string | undefined {
  const advertised = Array.isArray(addresses) ? addresses.filter(isDialableIPv4) : [];
  const from =
    typeof referer === 'object' && referer !== null ? (referer as { address?: unknown }).address : undefined;
  // The packet's source address is proven to route back to us; A records list every interface
  // of the peer (docker bridges, VPNs…), so prefer the source when the peer also advertises it.
  // On a loopback-only host A records are empty (DESIGN.md §1): the source is all there is.
  if (isDialableIPv4(from) && (advertised.length === 0 || advertised.includes(from))) return from;
  return advertised[0] ?? (isDialableIPv4(from) ? from : undefined);
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
  if (!isValidToken(id)) return { bad: 'bad-id' };
  const ens = txtString(s.txt, 'ens');
  if (!isValidToken(ens)) return { bad: 'bad-ensemble' };
  const address = pickAddress(s.addresses, s.referer);
  if (address === undefined) return { bad: 'no-address' };
  return {
    instance: s.name,
    deviceId: id,
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
