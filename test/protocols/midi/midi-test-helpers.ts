import fc from 'fast-check';
import type { MidiEvent, MidiRejectCode, RealtimeType } from '../../../protocols/midi/events.ts';
import { createMidiParser, type MidiParserInit } from '../../../protocols/midi/parser.ts';

// Shared by the MIDI tests: a recording parser and fast-check generators of valid events.

export type Output = { event: MidiEvent } | { error: MidiRejectCode; detail: string };

export type Recorder = {
  push(bytes: ArrayLike<number>): void;
  reset(): void;
  /** Everything delivered so far, events and errors in order. */
  outputs: Output[];
  events(): MidiEvent[];
  errors(): MidiRejectCode[];
};

export function recorder(options: Omit<MidiParserInit, 'onEvent' | 'onError'> = {}): Recorder {
  const outputs: Output[] = [];
  const parser = createMidiParser({
    ...options,
    onEvent: (event) => outputs.push({ event }),
    onError: (error, detail) => outputs.push({ error, detail }),
  });
  return {
    push: (bytes) => parser.push(Uint8Array.from(bytes)),
    reset: parser.reset,
    outputs,
    events: () => outputs.flatMap((o) => ('event' in o ? [o.event] : [])),
    errors: () => outputs.flatMap((o) => ('error' in o ? [o.error] : [])),
  };
}

/** Parses the chunks with a fresh parser. */
export function parse(
  chunks: ArrayLike<number>[],
  options: Omit<MidiParserInit, 'onEvent' | 'onError'> = {},
) {
  const r = recorder(options);
  for (const c of chunks) r.push(c);
  return { events: r.events(), errors: r.errors(), outputs: r.outputs };
}

/** Splits bytes at arbitrary points, as USB packets and serial reads do. */
export function chunked(bytes: number[], cuts: number[]): number[][] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: number[][] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.slice(at, p));
    at = p;
  }
  out.push(bytes.slice(at));
  return out;
}

/** What the parser gives back for an encoded event: note-on velocity 0 reads as note-off. */
export function expectedAfterParse(e: MidiEvent): MidiEvent {
  return e.kind === 'noteOn' && e.velocity === 0 ? { ...e, kind: 'noteOff' } : e;
}

export const isChannelEvent = (e: MidiEvent): boolean =>
  e.kind !== 'sysex' &&
  e.kind !== 'realtime' &&
  e.kind !== 'mtcQuarterFrame' &&
  e.kind !== 'songPosition' &&
  e.kind !== 'songSelect' &&
  e.kind !== 'tuneRequest';

// fast-check records are built without Object.prototype; spread them into ordinary objects so
// deepStrictEqual compares contents only.
const plain = <T extends object>(a: fc.Arbitrary<T>): fc.Arbitrary<T> => a.map((r) => ({ ...r }));
const channel = fc.nat(15);
const d7 = fc.nat(127);
const d14 = fc.nat(16383);

export const REALTIME_TYPES: readonly RealtimeType[] = [
  'clock',
  'tick',
  'start',
  'continue',
  'stop',
  'activeSensing',
  'reset',
];

export const channelEventArb: fc.Arbitrary<MidiEvent> = fc.oneof(
  plain(fc.record({ kind: fc.constant('noteOn' as const), channel, note: d7, velocity: d7 })),
  plain(fc.record({ kind: fc.constant('noteOff' as const), channel, note: d7, velocity: d7 })),
  plain(fc.record({ kind: fc.constant('polyPressure' as const), channel, note: d7, pressure: d7 })),
  plain(fc.record({ kind: fc.constant('controlChange' as const), channel, controller: d7, value: d7 })),
  plain(fc.record({ kind: fc.constant('programChange' as const), channel, program: d7 })),
  plain(fc.record({ kind: fc.constant('channelPressure' as const), channel, pressure: d7 })),
  plain(fc.record({ kind: fc.constant('pitchBend' as const), channel, value: d14 })),
);

/** Every kind of event, tick included (parse with `acceptTick` to read it back). */
export const midiEventArb: fc.Arbitrary<MidiEvent> = fc.oneof(
  { arbitrary: channelEventArb, weight: 6 },
  plain(fc.record({ kind: fc.constant('sysex' as const), data: fc.uint8Array({ max: 127, maxLength: 48 }) })),
  plain(fc.record({ kind: fc.constant('realtime' as const), type: fc.constantFrom(...REALTIME_TYPES) })),
  plain(fc.record({ kind: fc.constant('mtcQuarterFrame' as const), piece: fc.nat(7), value: fc.nat(15) })),
  plain(fc.record({ kind: fc.constant('songPosition' as const), position: d14 })),
  plain(fc.record({ kind: fc.constant('songSelect' as const), song: d7 })),
  fc.constant<MidiEvent>({ kind: 'tuneRequest' }),
);

/** Bytes that stress the parser: mostly arbitrary, often status and real-time bytes. */
export const noisyBytesArb = (maxLength: number): fc.Arbitrary<number[]> =>
  fc.array(
    fc.oneof(
      { arbitrary: fc.nat(255), weight: 4 },
      { arbitrary: fc.nat(127), weight: 3 },
      {
        arbitrary: fc.constantFrom(
          0x90,
          0xb0,
          0xc0,
          0xe0,
          0xf0,
          0xf1,
          0xf2,
          0xf3,
          0xf4,
          0xf6,
          0xf7,
          0xf8,
          0xf9,
          0xfd,
        ),
        weight: 3,
      },
    ),
    { maxLength },
  );
