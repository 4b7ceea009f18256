import {
  bpmFromMicrosPerBeat,
  type Decoded,
  int64Value,
  putEntry,
  type RawEntry,
  readInt64,
  readNodeId,
  readUint16,
  readUint32,
  refuse,
  splitEntries,
  writeNodeId,
  writeUint16,
} from './entries.ts';
import {
  ALIVE,
  BYEBYE,
  DISCOVERY_HEADER_BYTES,
  DISCOVERY_MAGIC,
  KEY,
  MAX_MESSAGE_BYTES,
  RESPONSE,
  SIZE,
} from './wire.ts';

// Discovery messages: a peer's announcement of its state (ALIVE to the multicast group,
// RESPONSE straight back to an ALIVE's sender) and its goodbye (BYEBYE). Header: magic,
// type, TTL in seconds, session group (0), node id; then payload entries. A state carries
// its timeline, its session, its start/stop state and where to measure it.

/** A timeline on the wire, exact: integers as Link sends them. */
export type WireTimeline = {
  /** Microseconds per beat (Link's tempo unit). */
  microsPerBeat: number;
  /** The same tempo in bpm (60e6 / microsPerBeat), checked to be 20–999. */
  bpm: number;
  /** Micro-beats at timeOrigin. */
  beatOrigin: number;
  /** Ghost time, µs. */
  timeOrigin: number;
};

export type WireStartStop = {
  playing: boolean;
  /** Micro-beats on the session timeline at which it started or stopped. */
  beats: number;
  /** Ghost time of the change, µs: the newest change wins. */
  timestamp: number;
};

export type Endpoint = { address: string; port: number };

export type PeerState = {
  sessionId: string;
  timeline: WireTimeline;
  startStop: WireStartStop | null;
  /** Where this peer answers pings (IPv4); null if it sent none. */
  measurement: Endpoint | null;
};

export type DiscoveryMessage =
  | { type: 'alive' | 'response'; ttl: number; nodeId: string; state: PeerState }
  | { type: 'byebye'; nodeId: string };

function header(b: Uint8Array, type: number, ttl: number, nodeId: string): number {
  b.set(DISCOVERY_MAGIC, 0);
  b[8] = type;
  b[9] = ttl;
  writeUint16(b, 10, 0);
  writeNodeId(b, 12, nodeId);
  return DISCOVERY_HEADER_BYTES;
}

function timelineValue(tl: WireTimeline): Uint8Array {
  const v = new Uint8Array(SIZE.timeline);
  v.set(int64Value(tl.microsPerBeat), 0);
  v.set(int64Value(tl.beatOrigin), 8);
  v.set(int64Value(tl.timeOrigin), 16);
  return v;
}

function startStopValue(s: WireStartStop): Uint8Array {
  const v = new Uint8Array(SIZE.startStop);
  v[0] = s.playing ? 1 : 0;
  v.set(int64Value(s.beats), 1);
  v.set(int64Value(s.timestamp), 9);
  return v;
}

function endpointValue(e: Endpoint): Uint8Array {
  const v = new Uint8Array(SIZE.measurementV4);
  const parts = e.address.split('.').map(Number);
  v.set(parts, 0);
  writeUint16(v, 4, e.port);
  return v;
}

export function encodeAnnouncement(
  type: 'alive' | 'response',
  ttl: number,
  nodeId: string,
  state: PeerState,
): Uint8Array {
  const b = new Uint8Array(MAX_MESSAGE_BYTES);
  let at = header(b, type === 'alive' ? ALIVE : RESPONSE, ttl, nodeId);
  at = putEntry(b, at, KEY.timeline, timelineValue(state.timeline));
  at = putEntry(b, at, KEY.session, Buffer.from(state.sessionId, 'hex'));
  if (state.startStop) at = putEntry(b, at, KEY.startStop, startStopValue(state.startStop));
  if (state.measurement) at = putEntry(b, at, KEY.measurementV4, endpointValue(state.measurement));
  return b.slice(0, at);
}

export function encodeByeBye(nodeId: string): Uint8Array {
  const b = new Uint8Array(DISCOVERY_HEADER_BYTES);
  header(b, BYEBYE, 0, nodeId);
  return b;
}

function decodeTimeline(v: Uint8Array): Decoded<WireTimeline> {
  if (v.length !== SIZE.timeline) return refuse('bad-entry-size');
  const mpb = readInt64(v, 0);
  const beatOrigin = readInt64(v, 8);
  const timeOrigin = readInt64(v, 16);
  if (mpb === undefined || beatOrigin === undefined || timeOrigin === undefined) return refuse('bad-number');
  const bpm = bpmFromMicrosPerBeat(mpb);
  if (bpm === undefined) return refuse('bad-tempo');
  return { ok: true, value: { microsPerBeat: mpb, bpm, beatOrigin, timeOrigin } };
}

function decodeStartStop(v: Uint8Array): Decoded<WireStartStop> {
  if (v.length !== SIZE.startStop) return refuse('bad-entry-size');
  if (v[0]! > 1) return refuse('bad-number');
  const beats = readInt64(v, 1);
  const timestamp = readInt64(v, 9);
  if (beats === undefined || timestamp === undefined) return refuse('bad-number');
  return { ok: true, value: { playing: v[0] === 1, beats, timestamp } };
}

function decodeEndpoint(v: Uint8Array): Decoded<Endpoint> {
  if (v.length !== SIZE.measurementV4) return refuse('bad-entry-size');
  const port = readUint16(v, 4);
  if (readUint32(v, 0) === 0 || port === 0) return refuse('bad-endpoint');
  return { ok: true, value: { address: `${v[0]}.${v[1]}.${v[2]}.${v[3]}`, port } };
}

function decodeState(entries: RawEntry[]): Decoded<PeerState> {
  const seen = new Set<number>();
  let sessionId: string | undefined;
  let timeline: WireTimeline | undefined;
  let startStop: WireStartStop | null = null;
  let measurement: Endpoint | null = null;
  for (const { key, value } of entries) {
    const known =
      key === KEY.timeline || key === KEY.session || key === KEY.startStop || key === KEY.measurementV4;
    if (!known) continue;
    if (seen.has(key)) return refuse('duplicate-entry');
    seen.add(key);
    if (key === KEY.session) {
      if (value.length !== SIZE.session) return refuse('bad-entry-size');
      sessionId = readNodeId(value, 0);
    } else if (key === KEY.timeline) {
      const d = decodeTimeline(value);
      if (!d.ok) return d;
      timeline = d.value;
    } else if (key === KEY.startStop) {
      const d = decodeStartStop(value);
      if (!d.ok) return d;
      startStop = d.value;
    } else {
      const d = decodeEndpoint(value);
      if (!d.ok) return d;
      measurement = d.value;
    }
  }
  if (sessionId === undefined || timeline === undefined) return refuse('missing-entry');
  return { ok: true, value: { sessionId, timeline, startStop, measurement } };
}

export function hasMagic(b: Uint8Array, magic: Uint8Array): boolean {
  for (let i = 0; i < magic.length; i++) if (b[i] !== magic[i]) return false;
  return true;
}

/** Decodes one discovery datagram; never throws. */
export function decodeDiscovery(b: Uint8Array): Decoded<DiscoveryMessage> {
  if (b.length > MAX_MESSAGE_BYTES) return refuse('oversize');
  if (b.length < DISCOVERY_MAGIC.length) return refuse('truncated');
  if (!hasMagic(b, DISCOVERY_MAGIC)) return refuse('bad-magic');
  if (b.length < DISCOVERY_HEADER_BYTES) return refuse('truncated');
  const type = b[8]!;
  const ttl = b[9]!;
  if (readUint16(b, 10) !== 0) return refuse('bad-group');
  const nodeId = readNodeId(b, 12);
  if (type === BYEBYE) return { ok: true, value: { type: 'byebye', nodeId } };
  if (type !== ALIVE && type !== RESPONSE) return refuse('bad-type');
  const entries = splitEntries(b.subarray(DISCOVERY_HEADER_BYTES));
  if (!entries.ok) return entries;
  const state = decodeState(entries.value);
  if (!state.ok) return state;
  return {
    ok: true,
    value: { type: type === ALIVE ? 'alive' : 'response', ttl, nodeId, state: state.value },
  };
}
