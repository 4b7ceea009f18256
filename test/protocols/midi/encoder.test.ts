import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeControl, encodeMidiEvent } from '../../../protocols/midi/encoder.ts';
import type { MidiEvent } from '../../../protocols/midi/events.ts';
import { expectedAfterParse, midiEventArb, parse } from './midi-test-helpers.ts';

const bytes = (e: MidiEvent) => [...encodeMidiEvent(e)];

describe('encodeMidiEvent', () => {
  it('writes each message with its full status byte', () => {
    assert.deepEqual(bytes({ kind: 'noteOn', channel: 0, note: 60, velocity: 100 }), [0x90, 0x3c, 0x64]);
    assert.deepEqual(bytes({ kind: 'noteOff', channel: 15, note: 60, velocity: 0 }), [0x8f, 0x3c, 0x00]);
    assert.deepEqual(bytes({ kind: 'polyPressure', channel: 1, note: 2, pressure: 3 }), [0xa1, 2, 3]);
    assert.deepEqual(bytes({ kind: 'controlChange', channel: 2, controller: 7, value: 127 }), [0xb2, 7, 127]);
    assert.deepEqual(bytes({ kind: 'programChange', channel: 3, program: 9 }), [0xc3, 9]);
    assert.deepEqual(bytes({ kind: 'channelPressure', channel: 4, pressure: 33 }), [0xd4, 33]);
    assert.deepEqual(bytes({ kind: 'pitchBend', channel: 5, value: 8192 }), [0xe5, 0x00, 0x40]);
    assert.deepEqual(bytes({ kind: 'pitchBend', channel: 5, value: 16383 }), [0xe5, 0x7f, 0x7f]);
    assert.deepEqual(
      bytes({ kind: 'sysex', data: Uint8Array.of(0x7e, 0x7f, 0x06, 0x01) }),
      [0xf0, 0x7e, 0x7f, 0x06, 0x01, 0xf7],
    );
    assert.deepEqual(bytes({ kind: 'mtcQuarterFrame', piece: 7, value: 1 }), [0xf1, 0x71]);
    assert.deepEqual(bytes({ kind: 'songPosition', position: 0x101 }), [0xf2, 0x01, 0x02]);
    assert.deepEqual(bytes({ kind: 'songSelect', song: 5 }), [0xf3, 5]);
    assert.deepEqual(bytes({ kind: 'tuneRequest' }), [0xf6]);
    assert.deepEqual(
      (['clock', 'tick', 'start', 'continue', 'stop', 'activeSensing', 'reset'] as const).map(
        (type) => bytes({ kind: 'realtime', type })[0],
      ),
      [0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfe, 0xff],
    );
  });

  it('throws RangeError for fields out of range (programmer errors)', () => {
    const bad: MidiEvent[] = [
      { kind: 'noteOn', channel: 16, note: 60, velocity: 1 },
      { kind: 'noteOn', channel: -1, note: 60, velocity: 1 },
      { kind: 'noteOn', channel: 0, note: 128, velocity: 1 },
      { kind: 'noteOff', channel: 0, note: 1, velocity: 1.5 },
      { kind: 'controlChange', channel: 0, controller: 0, value: Number.NaN },
      { kind: 'pitchBend', channel: 0, value: 16384 },
      { kind: 'sysex', data: Uint8Array.of(1, 0x80, 2) },
      { kind: 'mtcQuarterFrame', piece: 8, value: 0 },
      { kind: 'mtcQuarterFrame', piece: 0, value: 16 },
      { kind: 'songPosition', position: -1 },
      { kind: 'songSelect', song: 200 },
      { kind: 'realtime', type: 'bogus' as 'clock' },
    ];
    for (const e of bad) assert.throws(() => encodeMidiEvent(e), RangeError, JSON.stringify(e));
    assert.throws(() => encodeMidiEvent({ kind: 'nope' } as unknown as MidiEvent), TypeError);
  });

  it('round-trips: parsing what it writes gives the event back (note-on velocity 0 as note-off)', () => {
    fc.assert(
      fc.property(midiEventArb, (e) => {
        const { events, errors } = parse([encodeMidiEvent(e)], { acceptTick: true });
        assert.deepEqual(errors, []);
        assert.deepEqual(events, [expectedAfterParse(e)]);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('encodeControl', () => {
  it('writes each mapped control kind for feedback', () => {
    assert.deepEqual([...encodeControl('cc', 1, 7, 100)], [0xb1, 7, 100]);
    assert.deepEqual([...encodeControl('cc14', 0, 7, (0x40 << 7) | 0x21)], [0xb0, 7, 0x40, 0xb0, 39, 0x21]);
    assert.deepEqual([...encodeControl('note', 2, 60, 127)], [0x92, 60, 127]);
    assert.deepEqual([...encodeControl('note', 2, 60, 0)], [0x82, 60, 0]);
    assert.deepEqual(
      [...encodeControl('nrpn', 0, 512, (64 << 7) | 9)],
      [0xb0, 99, 4, 0xb0, 98, 0, 0xb0, 6, 64, 0xb0, 38, 9],
    );
    assert.deepEqual(
      [...encodeControl('rpn', 3, 0, 2 << 7)],
      [0xb3, 101, 0, 0xb3, 100, 0, 0xb3, 6, 2, 0xb3, 38, 0],
    );
    assert.deepEqual([...encodeControl('pitchbend', 0, 0, 8192)], [0xe0, 0, 0x40]);
  });

  it('throws RangeError for numbers and positions the control cannot carry', () => {
    assert.throws(() => encodeControl('cc14', 0, 32, 0), RangeError);
    assert.throws(() => encodeControl('cc14', 0, 1, 16384), RangeError);
    assert.throws(() => encodeControl('nrpn', 0, 16384, 0), RangeError);
    assert.throws(() => encodeControl('cc', 16, 1, 0), RangeError);
  });
});
