import { hasMagic } from './discovery.ts';
import {
  type Decoded,
  int64Value,
  putEntry,
  type RawEntry,
  readInt64,
  readNodeId,
  refuse,
  splitEntries,
} from './entries.ts';
import {
  KEY,
  MAX_MESSAGE_BYTES,
  MAX_PING_PAYLOAD_BYTES,
  MEASUREMENT_HEADER_BYTES,
  MEASUREMENT_MAGIC,
  PING,
  PONG,
  SIZE,
} from './wire.ts';

// The measurement exchange that maps a peer's host clock to the session's ghost time. The
// measuring side sends PING with its host time (__ht); the measured side answers PONG with its
// session (sess), its ghost time now (__gt) and the ping's payload echoed. The next ping
// carries the host time again and the ghost time just received (_pgt), so each round trip
// gives two estimates of the ghost-minus-host offset (see ../measure.ts).

export type Ping = {
  hostTime: number;
  prevGhostTime: number | null;
  /** The payload bytes as received: a pong echoes them unchanged. */
  payload: Uint8Array;
};

export type Pong = {
  sessionId: string;
  ghostTime: number;
  /** Echoed from our ping. */
  hostTime: number | null;
  prevGhostTime: number | null;
};

function header(b: Uint8Array, type: number): number {
  b.set(MEASUREMENT_MAGIC, 0);
  b[8] = type;
  return MEASUREMENT_HEADER_BYTES;
}

export function encodePing(hostTime: number, prevGhostTime?: number): Uint8Array {
  const b = new Uint8Array(MEASUREMENT_HEADER_BYTES + MAX_PING_PAYLOAD_BYTES);
  let at = header(b, PING);
  at = putEntry(b, at, KEY.hostTime, int64Value(hostTime));
  if (prevGhostTime !== undefined) at = putEntry(b, at, KEY.prevGhostTime, int64Value(prevGhostTime));
  return b.slice(0, at);
}

export function encodePong(sessionId: string, ghostTime: number, pingPayload: Uint8Array): Uint8Array {
  const b = new Uint8Array(MAX_MESSAGE_BYTES);
  let at = header(b, PONG);
  at = putEntry(b, at, KEY.session, Buffer.from(sessionId, 'hex'));
  at = putEntry(b, at, KEY.ghostTime, int64Value(ghostTime));
  b.set(pingPayload.subarray(0, MAX_PING_PAYLOAD_BYTES), at);
  return b.slice(0, at + Math.min(pingPayload.length, MAX_PING_PAYLOAD_BYTES));
}

/** The time entries of a measurement message, each at most once and 8 bytes. */
function times(entries: RawEntry[]): Decoded<Map<number, number | string>> {
  const out = new Map<number, number | string>();
  for (const { key, value } of entries) {
    const isTime = key === KEY.hostTime || key === KEY.ghostTime || key === KEY.prevGhostTime;
    if (!isTime && key !== KEY.session) continue;
    if (out.has(key)) return refuse('duplicate-entry');
    if (value.length !== (isTime ? SIZE.time : SIZE.session)) return refuse('bad-entry-size');
    if (!isTime) {
      out.set(key, readNodeId(value, 0));
      continue;
    }
    const t = readInt64(value, 0);
    if (t === undefined) return refuse('bad-number');
    out.set(key, t);
  }
  return { ok: true, value: out };
}

/** What kind of measurement datagram this is, after the checks every one must pass. */
function measurementBody(b: Uint8Array): Decoded<{ type: number; entries: RawEntry[] }> {
  if (b.length > MAX_MESSAGE_BYTES) return refuse('oversize');
  if (b.length < MEASUREMENT_MAGIC.length) return refuse('truncated');
  if (!hasMagic(b, MEASUREMENT_MAGIC)) return refuse('bad-magic');
  if (b.length < MEASUREMENT_HEADER_BYTES) return refuse('truncated');
  const type = b[8]!;
  if (type !== PING && type !== PONG) return refuse('bad-type');
  const entries = splitEntries(b.subarray(MEASUREMENT_HEADER_BYTES));
  if (!entries.ok) return entries;
  return { ok: true, value: { type, entries: entries.value } };
}

export type MeasurementMessage = ({ type: 'ping' } & Ping) | ({ type: 'pong' } & Pong);

/** Decodes one datagram from the measurement socket; never throws. */
export function decodeMeasurement(b: Uint8Array): Decoded<MeasurementMessage> {
  const body = measurementBody(b);
  if (!body.ok) return body;
  const t = times(body.value.entries);
  if (!t.ok) return t;
  const get = (k: number) => t.value.get(k);
  if (body.value.type === PING) {
    const payload = b.subarray(MEASUREMENT_HEADER_BYTES);
    // A responder echoes the payload: more than a host time and a previous ghost time would
    // make us an amplifier.
    if (payload.length > MAX_PING_PAYLOAD_BYTES) return refuse('oversize');
    const hostTime = get(KEY.hostTime);
    if (typeof hostTime !== 'number') return refuse('missing-entry');
    const pgt = get(KEY.prevGhostTime);
    return {
      ok: true,
      value: { type: 'ping', hostTime, prevGhostTime: typeof pgt === 'number' ? pgt : null, payload },
    };
  }
  const sessionId = get(KEY.session);
  const ghostTime = get(KEY.ghostTime);
  if (typeof sessionId !== 'string' || typeof ghostTime !== 'number') return refuse('missing-entry');
  const ht = get(KEY.hostTime);
  const pgt = get(KEY.prevGhostTime);
  return {
    ok: true,
    value: {
      type: 'pong',
      sessionId,
      ghostTime,
      hostTime: typeof ht === 'number' ? ht : null,
      prevGhostTime: typeof pgt === 'number' ? pgt : null,
    },
  };
}
