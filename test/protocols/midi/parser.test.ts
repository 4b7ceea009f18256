import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeMidiEvent } from '../../../protocols/midi/encoder.ts';
import type { MidiEvent, MidiRejectCode } from '../../../protocols/midi/events.ts';
import { createMidiParser } from '../../../protocols/midi/parser.ts';

// Byte-level cases from the MIDI 1.0 specification, then properties over arbitrary bytes.

function parse(chunks: number[][], maxSysexBytes?: number) {
  const events: MidiEvent[] = [];
  const errors: MidiRejectCode[] = [];
  const p = createMidiParser({
    maxSysexBytes,
    onEvent: (e) => events.push(e),
    onError: (c) => errors.push(c),
  });
  for (const c of chunks) p.push(Uint8Array.from(c));
  return { events, errors };
}

const cc = (channel: number, controller: number, value: number): MidiEvent => ({
  kind: 'controlChange',
  channel,
  controller,
  value,
});

describe('MIDI parser', () => {
  it('decodes every channel message', () => {
    const { events, errors } = parse([
      [0x80, 60, 10, 0x91, 61, 100, 0xa2, 62, 5, 0xb3, 7, 127, 0xc4, 9, 0xd5, 33, 0xe6, 0x00, 0x40],
    ]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [
      { kind: 'noteOff', channel: 0, note: 60, velocity: 10 },
      { kind: 'noteOn', channel: 1, note: 61, velocity: 100 },
      { kind: 'polyPressure', channel: 2, note: 62, pressure: 5 },
      cc(3, 7, 127),
      { kind: 'programChange', channel: 4, program: 9 },
      { kind: 'channelPressure', channel: 5, pressure: 33 },
      { kind: 'pitchBend', channel: 6, value: 8192 },
    ]);
  });

  it('reads note-on with velocity 0 as note-off', () => {
    assert.deepEqual(parse([[0x90, 60, 0]]).events, [{ kind: 'noteOff', channel: 0, note: 60, velocity: 0 }]);
  });

  it('applies running status, across real-time bytes too', () => {
    const { events, errors } = parse([[0x90, 0x3c, 0x40, 0xf8, 0x3e, 0x40, 0x3c, 0x00]]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [
      { kind: 'noteOn', channel: 0, note: 0x3c, velocity: 0x40 },
      { kind: 'realtime', type: 'clock' },
      { kind: 'noteOn', channel: 0, note: 0x3e, velocity: 0x40 },
      { kind: 'noteOff', channel: 0, note: 0x3c, velocity: 0 },
    ]);
  });

  it('delivers a real-time byte in the middle of a message without breaking it', () => {
    const { events } = parse([[0xb0, 0xfa, 7, 0xfc, 100]]);
    assert.deepEqual(events, [
      { kind: 'realtime', type: 'start' },
      { kind: 'realtime', type: 'stop' },
      cc(0, 7, 100),
    ]);
  });

  it('reassembles a message split across chunks', () => {
    assert.deepEqual(parse([[0xe0], [0x7f], [0x7f]]).events, [
      { kind: 'pitchBend', channel: 0, value: 16383 },
    ]);
  });

  it('completes SysEx interrupted by real-time bytes', () => {
    const { events } = parse([
      [0xf0, 0x7e, 0xf8, 0x01],
      [0x02, 0xf7],
    ]);
    assert.deepEqual(events[0], { kind: 'realtime', type: 'clock' });
    assert.deepEqual(events[1], { kind: 'sysex', data: Uint8Array.of(0x7e, 0x01, 0x02) });
  });

  it('drops SysEx cut by a new status and parses that message', () => {
    const { events, errors } = parse([[0xf0, 0x01, 0x02, 0x90, 60, 1]]);
    assert.deepEqual(errors, ['sysex-unterminated']);
    assert.deepEqual(events, [{ kind: 'noteOn', channel: 0, note: 60, velocity: 1 }]);
  });

  it('drops an oversize SysEx once and resumes after it', () => {
    const { events, errors } = parse([[0xf0, ...Array(10).fill(1), 0xf7, 0xc0, 5]], 4);
    assert.deepEqual(errors, ['sysex-oversize']);
    assert.deepEqual(events, [{ kind: 'programChange', channel: 0, program: 5 }]);
  });

  it('drops orphan data bytes and truncated messages, then resynchronises', () => {
    const { events, errors } = parse([[0x01, 0x02, 0xb0, 7, 0x90, 60, 1]]);
    assert.deepEqual(errors, ['orphan-data', 'orphan-data', 'truncated']);
    assert.deepEqual(events, [{ kind: 'noteOn', channel: 0, note: 60, velocity: 1 }]);
  });

  it('reports undefined status bytes and clears running status after system common', () => {
    const { events, errors } = parse([[0xf4, 0xfd, 0xb0, 1, 2, 0xf3, 4, 5, 6]]);
    assert.deepEqual(errors, ['undefined-status', 'undefined-status', 'orphan-data', 'orphan-data']);
    assert.deepEqual(events, [cc(0, 1, 2), { kind: 'songSelect', song: 4 }]);
  });

  it('decodes system common messages', () => {
    assert.deepEqual(parse([[0xf1, 0x23, 0xf2, 0x01, 0x02, 0xf6]]).events, [
      { kind: 'mtcQuarterFrame', value: 0x23 },
      { kind: 'songPosition', value: 0x101 },
      { kind: 'tuneRequest' },
    ]);
  });
});

const channelEvent: fc.Arbitrary<MidiEvent> = fc.oneof(
  fc.record({
    kind: fc.constant('noteOn' as const),
    channel: fc.nat(15),
    note: fc.nat(127),
    velocity: fc.integer({ min: 1, max: 127 }),
  }),
  fc.record({
    kind: fc.constant('noteOff' as const),
    channel: fc.nat(15),
    note: fc.nat(127),
    velocity: fc.nat(127),
  }),
  fc.record({
    kind: fc.constant('controlChange' as const),
    channel: fc.nat(15),
    controller: fc.nat(127),
    value: fc.nat(127),
  }),
  fc.record({ kind: fc.constant('programChange' as const), channel: fc.nat(15), program: fc.nat(127) }),
  fc.record({ kind: fc.constant('channelPressure' as const), channel: fc.nat(15), pressure: fc.nat(127) }),
  fc.record({
    kind: fc.constant('polyPressure' as const),
    channel: fc.nat(15),
    note: fc.nat(127),
    pressure: fc.nat(127),
  }),
  fc.record({ kind: fc.constant('pitchBend' as const), channel: fc.nat(15), value: fc.nat(16383) }),
  fc.record({ kind: fc.constant('sysex' as const), data: fc.uint8Array({ maxLength: 32, max: 127 }) }),
  fc.record({ kind: fc.constant('songPosition' as const), value: fc.nat(16383) }),
);

/** fast-check builds records without a prototype; compare as ordinary objects. */
const plain = (evs: MidiEvent[]) => evs.map((e) => ({ ...e }));

/** Splits bytes at arbitrary points, as USB packets and DIN reads do. */
function chunked(bytes: number[], cuts: number[]): number[][] {
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

describe('MIDI parser properties', () => {
  it('never throws on arbitrary bytes in arbitrary chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(255), { maxLength: 512 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (bytes, cuts) => {
          parse(chunked(bytes, cuts), 16);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('round-trips encoded events in any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(channelEvent, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (evs, cuts) => {
          const bytes = evs.flatMap((e) => [...encodeMidiEvent(e)]);
          const { events, errors } = parse(chunked(bytes, cuts));
          assert.deepEqual(errors, []);
          assert.deepEqual(events, plain(evs));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('resynchronises: after any garbage, a status-led sequence comes out intact', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(255), { maxLength: 64 }),
        fc.array(channelEvent, { minLength: 1, maxLength: 10 }),
        (garbage, evs) => {
          // Close any SysEx the garbage may have opened; F7 is then harmless if none was open.
          const bytes = [...garbage, 0xf7, ...evs.flatMap((e) => [...encodeMidiEvent(e)])];
          const { events } = parse([bytes]);
          const tail = events.filter((e) => e.kind !== 'realtime').slice(-evs.length);
          assert.deepEqual(tail, plain(evs));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
