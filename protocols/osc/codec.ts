import { createRequire } from 'node:module';
import type { OscArg, OscDecodeResult, OscMessage, OscPacket, Timetag } from './types.ts';
import { decodeOscV1 } from './v1/decode.ts';
import { validateOscPacket } from './v1/validate.ts';

// OSC encode/decode over the `osc` package. We load its codec file directly: the package's
// main entry also pulls in ws and serialport, which the daemon never uses.

type LibArg = { type: string; value: unknown };
type LibMessage = { address: string; args: Array<LibArg | LibArg[]> };
type LibBundle = { timeTag: { raw: [number, number] }; packets: LibPacket[] };
type LibPacket = LibMessage | LibBundle;
type OscLib = {
  readPacket(data: Uint8Array, options: object): LibPacket;
  writePacket(packet: object, options: object): Uint8Array;
};

const osc = createRequire(import.meta.url)('osc/src/osc.js') as OscLib;
const READ = { metadata: true, unpackSingleArgs: false };
const WRITE = { metadata: true };

export type DecodeLimits = { maxBytes: number; maxDepth: number };

export const IMMEDIATE: Timetag = Object.freeze({ seconds: 0, fraction: 1 });

/** Decodes one packet in a single pass (v1/decode.ts); never throws on input. */
export function decodeOscPacket(bytes: Uint8Array, limits: DecodeLimits): OscDecodeResult {
  return decodeOscV1(bytes, limits.maxBytes, limits.maxDepth);
}

/**
 * The same through the `osc` package after validate.ts: what decodeOscPacket replaced, kept as
 * the reference its tests and bench compare against.
 */
export function decodeOscPacketWithPackage(bytes: Uint8Array, limits: DecodeLimits): OscDecodeResult {
  if (bytes.length > limits.maxBytes) {
    return {
      ok: false,
      error: { code: 'oversize', message: `${bytes.length} bytes, limit ${limits.maxBytes}` },
    };
  }
  const problem = validateOscPacket(bytes, limits.maxDepth);
  if (problem) return { ok: false, error: problem };
  // The library reads blobs, colours and MIDI from `buffer` ignoring byteOffset: give it its own copy if shared.
  // `new Uint8Array(bytes)` copies; `bytes.slice()` would not when bytes is a Buffer (Buffer#slice is a view).
  const data =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
  try {
    return { ok: true, packet: fromLib(osc.readPacket(data, READ), data) };
  } catch (err) {
    // Validation should make this unreachable; a library surprise is still a typed error, never a crash.
    return { ok: false, error: { code: 'truncated', message: `codec: ${(err as Error).message}` } };
  }
}

function fromLib(p: LibPacket, data: Uint8Array): OscPacket {
  if ('address' in p) {
    return { kind: 'message', address: p.address, args: (p.args ?? []).map(fromLibArg) };
  }
  const [seconds, fraction] = p.timeTag.raw;
  return { kind: 'bundle', timetag: { seconds, fraction }, elements: p.packets.map((e) => fromLib(e, data)) };
}

function fromLibArg(a: LibArg | LibArg[]): OscArg {
  if (Array.isArray(a)) return { type: '[', value: a.map(fromLibArg) };
  const v = a.value as never;
  switch (a.type) {
    case 'h': {
      const long = v as { toNumber(): number };
      return { type: 'h', value: long.toNumber() };
    }
    case 't': {
      const raw = (v as { raw: [number, number] }).raw;
      return { type: 't', value: { seconds: raw[0], fraction: raw[1] } };
    }
    case 'r': {
      const c = v as { r: number; g: number; b: number; a: number };
      return { type: 'r', value: { r: c.r, g: c.g, b: c.b, a: Math.round(c.a * 255) } };
    }
    case 'b':
    case 'm':
      return { type: a.type, value: new Uint8Array(v as Uint8Array) };
    case 'N':
    case 'I':
      return { type: a.type, value: null };
    default:
      return { type: a.type, value: v } as OscArg;
  }
}

function toLibArg(a: OscArg): LibArg | LibArg[] {
  switch (a.type) {
    case '[':
      return a.value.map(toLibArg) as LibArg[];
    case 'h':
      return { type: 'h', value: { high: Math.floor(a.value / 2 ** 32), low: a.value >>> 0 } };
    case 't':
      return { type: 't', value: { raw: [a.value.seconds, a.value.fraction] } };
    case 'r':
      return { type: 'r', value: { ...a.value, a: a.value.a / 255 } };
    case 'T':
    case 'F':
    case 'N':
    case 'I':
      return { type: a.type, value: a.value ?? 0 };
    default:
      return a;
  }
}

function toLib(p: OscPacket): object {
  if (p.kind === 'message') return { address: p.address, args: p.args.map(toLibArg) };
  return { timeTag: { raw: [p.timetag.seconds, p.timetag.fraction] }, packets: p.elements.map(toLib) };
}

/** Encodes a packet; throws on a programmer error (e.g. an address without "/"). */
export function encodeOscPacket(packet: OscPacket): Uint8Array {
  return osc.writePacket(toLib(packet), WRITE);
}

export function oscMessage(address: string, args: readonly OscArg[] = []): OscMessage {
  return { kind: 'message', address, args };
}
