import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MidiEvent } from '../../../protocols/midi/events.ts';
import { createMidiParser } from '../../../protocols/midi/parser.ts';
import { parse, recorder } from './midi-test-helpers.ts';

// Byte-level cases from the MIDI 1.0 specification: message formats, running status,
// real-time bytes anywhere, SysEx framing, and what happens to bytes that break the rules.

const cc = (channel: number, controller: number, value: number): MidiEvent => ({
  kind: 'controlChange',
  channel,
  controller,
  value,
});
const noteOn = (channel: number, note: number, velocity: number): MidiEvent => ({
  kind: 'noteOn',
  channel,
  note,
  velocity,
});
const clock: MidiEvent = { kind: 'realtime', type: 'clock' };

describe('MIDI parser: channel messages', () => {
  it('decodes every channel message type, on low and high channels', () => {
    const { events, errors } = parse([
      [0x80, 60, 10, 0x91, 61, 100, 0xa2, 62, 5, 0xb3, 7, 127, 0xc4, 9, 0xd5, 33, 0xe6, 0x00, 0x40],
      [0x8f, 1, 2, 0x9f, 3, 4, 0xaf, 5, 6, 0xbf, 8, 9, 0xcf, 10, 0xdf, 11, 0xef, 0x7f, 0x7f],
    ]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [
      { kind: 'noteOff', channel: 0, note: 60, velocity: 10 },
      noteOn(1, 61, 100),
      { kind: 'polyPressure', channel: 2, note: 62, pressure: 5 },
      cc(3, 7, 127),
      { kind: 'programChange', channel: 4, program: 9 },
      { kind: 'channelPressure', channel: 5, pressure: 33 },
      { kind: 'pitchBend', channel: 6, value: 8192 },
      { kind: 'noteOff', channel: 15, note: 1, velocity: 2 },
      noteOn(15, 3, 4),
      { kind: 'polyPressure', channel: 15, note: 5, pressure: 6 },
      cc(15, 8, 9),
      { kind: 'programChange', channel: 15, program: 10 },
      { kind: 'channelPressure', channel: 15, pressure: 11 },
      { kind: 'pitchBend', channel: 15, value: 16383 },
    ]);
  });

  it('reads pitch bend as LSB first, then MSB', () => {
    assert.deepEqual(parse([[0xe0, 0x01, 0x00, 0xe0, 0x00, 0x01, 0xe0, 0x00, 0x00]]).events, [
      { kind: 'pitchBend', channel: 0, value: 1 },
      { kind: 'pitchBend', channel: 0, value: 128 },
      { kind: 'pitchBend', channel: 0, value: 0 },
    ]);
  });

  it('delivers note-on with velocity 0 as note-off with velocity 0', () => {
    assert.deepEqual(parse([[0x93, 60, 0]]).events, [{ kind: 'noteOff', channel: 3, note: 60, velocity: 0 }]);
  });
});

describe('MIDI parser: running status', () => {
  it('reuses the last channel status, across a real-time byte too (90 3C 40 F8 3E 40)', () => {
    const { events, errors } = parse([[0x90, 0x3c, 0x40, 0xf8, 0x3e, 0x40]]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [noteOn(0, 0x3c, 0x40), clock, noteOn(0, 0x3e, 0x40)]);
  });

  it('carries note-offs as note-on velocity 0', () => {
    assert.deepEqual(parse([[0x90, 60, 100, 60, 0, 62, 0]]).events, [
      noteOn(0, 60, 100),
      { kind: 'noteOff', channel: 0, note: 60, velocity: 0 },
      { kind: 'noteOff', channel: 0, note: 62, velocity: 0 },
    ]);
  });

  it('runs one-data-byte messages one byte at a time', () => {
    assert.deepEqual(parse([[0xc2, 1, 2, 3, 0xd0, 9, 8]]).events, [
      { kind: 'programChange', channel: 2, program: 1 },
      { kind: 'programChange', channel: 2, program: 2 },
      { kind: 'programChange', channel: 2, program: 3 },
      { kind: 'channelPressure', channel: 0, pressure: 9 },
      { kind: 'channelPressure', channel: 0, pressure: 8 },
    ]);
  });

  it('survives a real-time byte between the two data bytes of a running-status message', () => {
    const { events, errors } = parse([[0xb0, 1, 2, 3, 0xfe, 4]]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [cc(0, 1, 2), { kind: 'realtime', type: 'activeSensing' }, cc(0, 3, 4)]);
  });

  it('is cleared by system common messages and SysEx', () => {
    for (const between of [[0xf3, 5], [0xf6], [0xf1, 0x12], [0xf0, 0x7d, 0xf7]]) {
      const { events, errors } = parse([[0xb0, 1, 2, ...between, 3, 4]]);
      assert.equal(events[0]!.kind, 'controlChange');
      assert.equal(events.length, 2, `after ${between}`);
      assert.deepEqual(errors, ['orphan-data', 'orphan-data'], `after ${between}`);
    }
  });
});

describe('MIDI parser: chunking', () => {
  it('reassembles a message split across push calls', () => {
    assert.deepEqual(parse([[0xe0], [0x7f], [0x7f]]).events, [
      { kind: 'pitchBend', channel: 0, value: 16383 },
    ]);
  });

  it('keeps running status and SysEx across push calls', () => {
    const { events, errors } = parse([[0x90, 60], [100, 61], [101], [0xf0, 0x7e], [0x01], [0xf7]]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [
      noteOn(0, 60, 100),
      noteOn(0, 61, 101),
      { kind: 'sysex', data: Uint8Array.of(0x7e, 0x01) },
    ]);
  });

  it('accepts an empty push', () => {
    const r = recorder();
    r.push([]);
    r.push([0xf8]);
    assert.deepEqual(r.outputs, [{ event: clock }]);
  });
});

describe('MIDI parser: real-time bytes', () => {
  it('decodes every defined real-time byte', () => {
    assert.deepEqual(
      parse([[0xf8, 0xfa, 0xfb, 0xfc, 0xfe, 0xff]]).events.map((e) =>
        e.kind === 'realtime' ? e.type : e.kind,
      ),
      ['clock', 'start', 'continue', 'stop', 'activeSensing', 'reset'],
    );
  });

  it('emits real-time bytes inside a channel message at once, without breaking it', () => {
    const { events, errors } = parse([[0xb0, 0xfa, 7, 0xfc, 100]]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [
      { kind: 'realtime', type: 'start' },
      { kind: 'realtime', type: 'stop' },
      cc(0, 7, 100),
    ]);
  });

  it('does not let system reset (FF) disturb the message in progress', () => {
    assert.deepEqual(parse([[0x90, 60, 0xff, 100]]).events, [
      { kind: 'realtime', type: 'reset' },
      noteOn(0, 60, 100),
    ]);
  });

  it('completes a SysEx interrupted by real-time bytes', () => {
    const { events, errors } = parse([
      [0xf0, 0x7e, 0xf8, 0x01],
      [0xfe, 0x02, 0xf7],
    ]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [
      clock,
      { kind: 'realtime', type: 'activeSensing' },
      { kind: 'sysex', data: Uint8Array.of(0x7e, 0x01, 0x02) },
    ]);
  });

  it('rejects F9 and FD as undefined without disturbing a message or a SysEx', () => {
    const { events, errors } = parse([[0xb0, 0xf9, 1, 0xfd, 2, 0xf0, 0x01, 0xfd, 0x02, 0xf7]]);
    assert.deepEqual(errors, ['undefined-status', 'undefined-status', 'undefined-status']);
    assert.deepEqual(events, [cc(0, 1, 2), { kind: 'sysex', data: Uint8Array.of(1, 2) }]);
  });

  it('delivers F9 as tick when asked to', () => {
    const { events, errors } = parse([[0xb0, 1, 0xf9, 2]], { acceptTick: true });
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [{ kind: 'realtime', type: 'tick' }, cc(0, 1, 2)]);
  });
});

describe('MIDI parser: system common', () => {
  it('decodes MTC quarter frame, song position, song select and tune request', () => {
    const { events, errors } = parse([[0xf1, 0x73, 0xf2, 0x01, 0x02, 0xf3, 0x05, 0xf6]]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [
      { kind: 'mtcQuarterFrame', piece: 7, value: 3 },
      { kind: 'songPosition', position: 0x101 },
      { kind: 'songSelect', song: 5 },
      { kind: 'tuneRequest' },
    ]);
  });

  it('does not run: a second data byte after song select is an orphan', () => {
    const { events, errors } = parse([[0xf3, 1, 2]]);
    assert.deepEqual(events, [{ kind: 'songSelect', song: 1 }]);
    assert.deepEqual(errors, ['orphan-data']);
  });
});

describe('MIDI parser: SysEx', () => {
  it('delivers the bytes between F0 and F7, as a copy the parser will not overwrite', () => {
    const { events } = parse([[0xf0, 0x43, 0x10, 0x4c, 0xf7, 0xf0, 0x7f, 0xf7]]);
    assert.deepEqual(events, [
      { kind: 'sysex', data: Uint8Array.of(0x43, 0x10, 0x4c) },
      { kind: 'sysex', data: Uint8Array.of(0x7f) },
    ]);
  });

  it('delivers an empty SysEx', () => {
    assert.deepEqual(parse([[0xf0, 0xf7]]).events, [{ kind: 'sysex', data: new Uint8Array(0) }]);
  });

  it('delivers a SysEx exactly at the limit, and one far past the initial buffer', () => {
    const exact = Array.from({ length: 4 }, (_, i) => i);
    assert.deepEqual(parse([[0xf0, ...exact, 0xf7]], { maxSysexBytes: 4 }).events, [
      { kind: 'sysex', data: Uint8Array.from(exact) },
    ]);
    const big = Array.from({ length: 3000 }, (_, i) => i & 0x7f);
    const { events, errors } = parse([
      [0xf0, ...big.slice(0, 1000)],
      [...big.slice(1000), 0xf7],
    ]);
    assert.deepEqual(errors, []);
    assert.deepEqual(events, [{ kind: 'sysex', data: Uint8Array.from(big) }]);
  });

  it('reports a SysEx cut by a new status byte once, then parses that message', () => {
    const { outputs } = parse([[0xf0, 0x01, 0x02, 0x90, 0x3c, 0x01]]);
    assert.equal(outputs.length, 2);
    assert.ok('error' in outputs[0]!);
    assert.equal(outputs[0].error, 'sysex-unterminated');
    assert.match(outputs[0].detail, /2 data bytes.*0x90/);
    assert.deepEqual(outputs[1], { event: noteOn(0, 0x3c, 1) });
  });

  it('reports a SysEx cut by another F0, and delivers the second one', () => {
    const { events, errors } = parse([[0xf0, 0x01, 0xf0, 0x02, 0xf7]]);
    assert.deepEqual(errors, ['sysex-unterminated']);
    assert.deepEqual(events, [{ kind: 'sysex', data: Uint8Array.of(0x02) }]);
  });

  it('reports an oversize SysEx once, discards it to its F7, and resumes', () => {
    const { events, errors } = parse(
      [
        [0xf0, 1, 2, 3, 4, 5],
        [6, 7, 0xf8, 8, 0xf7, 0xc0, 5],
      ],
      { maxSysexBytes: 4 },
    );
    assert.deepEqual(errors, ['sysex-oversize']);
    assert.deepEqual(events, [clock, { kind: 'programChange', channel: 0, program: 5 }]);
  });

  it('ends an oversize SysEx at the next status byte without a second report', () => {
    const { events, errors } = parse([[0xf0, 1, 2, 3, 0x90, 60, 1]], { maxSysexBytes: 2 });
    assert.deepEqual(errors, ['sysex-oversize']);
    assert.deepEqual(events, [noteOn(0, 60, 1)]);
  });

  it('with maxSysexBytes 0 delivers only empty SysEx', () => {
    const { events, errors } = parse([[0xf0, 0xf7, 0xf0, 1, 0xf7]], { maxSysexBytes: 0 });
    assert.deepEqual(events, [{ kind: 'sysex', data: new Uint8Array(0) }]);
    assert.deepEqual(errors, ['sysex-oversize']);
  });

  it('rejects an F7 with no SysEx in progress', () => {
    const { events, errors } = parse([[0xf7, 0xb0, 1, 2]]);
    assert.deepEqual(errors, ['orphan-eox']);
    assert.deepEqual(events, [cc(0, 1, 2)]);
  });
});

describe('MIDI parser: invalid bytes', () => {
  it('drops orphan data bytes one by one, then resynchronises on a status byte', () => {
    const { outputs, events, errors } = parse([[0x01, 0x02, 0xb0, 7, 0x40]]);
    assert.deepEqual(errors, ['orphan-data', 'orphan-data']);
    assert.deepEqual(events, [cc(0, 7, 0x40)]);
    assert.ok('detail' in outputs[0]!);
    assert.match(outputs[0].detail, /0x01/);
  });

  it('reports a message cut by a new status byte as truncated', () => {
    const { outputs, events } = parse([[0xb0, 7, 0x90, 0x3c, 0x01]]);
    assert.deepEqual(events, [noteOn(0, 0x3c, 1)]);
    assert.ok('error' in outputs[0]!);
    assert.equal(outputs[0].error, 'truncated');
    assert.match(outputs[0].detail, /0xb0 cut after 1 of 2 data bytes by status 0x90/);
  });

  it('reports a status byte with none of its data bytes as truncated', () => {
    const { events, errors } = parse([[0x90, 0xb0, 1, 2]]);
    assert.deepEqual(errors, ['truncated']);
    assert.deepEqual(events, [cc(0, 1, 2)]);
  });

  it('reports a running-status message cut half way, and keeps nothing of it', () => {
    const { events, errors } = parse([[0x90, 60, 1, 61, 0xc0, 3]]);
    assert.deepEqual(errors, ['truncated']);
    assert.deepEqual(events, [noteOn(0, 60, 1), { kind: 'programChange', channel: 0, program: 3 }]);
  });

  it('reports truncated system common messages', () => {
    const { events, errors } = parse([[0xf2, 1, 0xf1, 0xf6]]);
    assert.deepEqual(errors, ['truncated', 'truncated']);
    assert.deepEqual(events, [{ kind: 'tuneRequest' }]);
  });

  it('reports a message cut by F7 as truncated, then the stray F7', () => {
    const { events, errors } = parse([[0x90, 60, 0xf7, 61, 1]]);
    assert.deepEqual(errors, ['truncated', 'orphan-eox', 'orphan-data', 'orphan-data']);
    assert.deepEqual(events, []);
  });

  it('rejects F4 and F5, clears running status, and ignores the data bytes after them', () => {
    const { events, errors } = parse([[0xb0, 1, 2, 0xf4, 3, 4, 0xf5, 0xb1, 5, 6]]);
    assert.deepEqual(errors, ['undefined-status', 'orphan-data', 'orphan-data', 'undefined-status']);
    assert.deepEqual(events, [cc(0, 1, 2), cc(1, 5, 6)]);
  });

  it('lets F4 cut a SysEx like any non-real-time status', () => {
    assert.deepEqual(parse([[0xf0, 1, 0xf4, 2]]).errors, [
      'sysex-unterminated',
      'undefined-status',
      'orphan-data',
    ]);
  });
});

describe('MIDI parser: lifecycle', () => {
  it('reset() forgets running status and partial messages silently', () => {
    const r = recorder();
    r.push([0x90, 60, 1, 61]);
    r.reset();
    r.push([62, 0xf0, 1]);
    r.reset();
    r.push([2, 0xf7]);
    assert.deepEqual(r.events(), [noteOn(0, 60, 1)]);
    assert.deepEqual(r.errors(), ['orphan-data', 'orphan-data', 'orphan-eox']);
  });

  it('stays consistent when a callback throws', () => {
    const events: MidiEvent[] = [];
    let fail = true;
    const p = createMidiParser({
      onEvent(e) {
        if (fail) {
          fail = false;
          throw new Error('consumer bug');
        }
        events.push(e);
      },
      onError: () => {},
    });
    assert.throws(() => p.push(Uint8Array.of(0x90, 60, 1)), /consumer bug/);
    p.push(Uint8Array.of(61, 2));
    assert.deepEqual(events, [noteOn(0, 61, 2)]);
  });

  it('rejects a bad maxSysexBytes at construction', () => {
    for (const maxSysexBytes of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => createMidiParser({ maxSysexBytes, onEvent() {}, onError() {} }), RangeError);
    }
  });
});
