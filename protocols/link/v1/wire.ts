// Ableton Link's wire format, version 1: the constants. Facts taken from Ableton's public
// repository (Ableton/link, include/ableton/discovery/v1/Messages.hpp, link/v1/Messages.hpp,
// PayloadEntries.hpp, Timeline.hpp, SessionId.hpp, StartStopState.hpp, PeerState.hpp,
// discovery/IpInterface.hpp, discovery/PeerGateway.hpp); written here from those facts, no
// code copied. Every integer is big-endian. Times are microseconds in an int64, beats are
// micro-beats in an int64, a tempo travels as microseconds per beat in an int64.

/** Where Link peers announce themselves (IPv4). */
export const MULTICAST_GROUP = '224.76.78.75';
export const MULTICAST_PORT = 20808;

/** Link caps every datagram (discovery and measurement) at this many bytes. */
export const MAX_MESSAGE_BYTES = 512;

/** Discovery datagrams start with "_asdp_v" and the version byte 1. */
export const DISCOVERY_MAGIC = Uint8Array.of(0x5f, 0x61, 0x73, 0x64, 0x70, 0x5f, 0x76, 0x01);
/** Measurement datagrams (ping/pong) start with "_link_v" and the version byte 1. */
export const MEASUREMENT_MAGIC = Uint8Array.of(0x5f, 0x6c, 0x69, 0x6e, 0x6b, 0x5f, 0x76, 0x01);

/** Discovery message types. */
export const ALIVE = 1;
export const RESPONSE = 2;
export const BYEBYE = 3;
/** Measurement message types. */
export const PING = 1;
export const PONG = 2;

/** Magic (8) + type (1) + TTL (1) + session group (2, always 0) + node id (8). */
export const DISCOVERY_HEADER_BYTES = 20;
/** Magic (8) + type (1). */
export const MEASUREMENT_HEADER_BYTES = 9;
export const NODE_ID_BYTES = 8;

/** Seconds a peer stays known after its last announcement, as Link announces it. */
export const DEFAULT_TTL = 5;
/** Link announces TTL/RATIO seconds apart (250 ms) and never more often than every 50 ms. */
export const TTL_RATIO = 20;
export const MIN_BROADCAST_MS = 50;

/** A payload entry: 4-byte key, 4-byte value size, value. */
export const ENTRY_HEADER_BYTES = 8;

const key = (s: string) =>
  ((s.charCodeAt(0) << 24) | (s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8) | s.charCodeAt(3)) >>> 0;

/** Payload entry keys (four ASCII characters read as a big-endian uint32) and value sizes. */
export const KEY = {
  /** Timeline: tempo (µs per beat), beat origin (micro-beats), time origin (ghost µs). */
  timeline: key('tmln'),
  /** Session membership: the session id (the founding node's id, 8 bytes). */
  session: key('sess'),
  /** Start/stop: is-playing (1 byte), beats (micro-beats), timestamp (ghost µs). */
  startStop: key('stst'),
  /** Measurement endpoint, IPv4: address (4) and port (2). */
  measurementV4: key('mep4'),
  /** Host time of a ping's sender, µs. */
  hostTime: key('__ht'),
  /** Ghost time of a pong's sender, µs. */
  ghostTime: key('__gt'),
  /** The ghost time the previous pong carried, echoed in the next ping, µs. */
  prevGhostTime: key('_pgt'),
} as const;

export const SIZE = {
  timeline: 24,
  session: 8,
  startStop: 17,
  measurementV4: 6,
  time: 8,
} as const;

/** Link clamps tempos to this range; hana refuses anything outside it. */
export const MIN_BPM = 20;
export const MAX_BPM = 999;

/** The largest ping payload a responder echoes: a host time and a previous ghost time. */
export const MAX_PING_PAYLOAD_BYTES = 2 * (ENTRY_HEADER_BYTES + SIZE.time);
