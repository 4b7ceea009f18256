import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTransport, MAX_POSITION } from '../../../daemon/midi-clock/transport.ts';

// Where a song falls on the shared beat: starts on the quantum, continues where the held
// position falls on the bar grid, stops at a 16th, song position while stopped only.

describe('MIDI clock transport', () => {
  it('starts on the next quantum boundary, strictly after now', () => {
    const t = createTransport({ quantum: 4 });
    t.start(5.2);
    assert.deepEqual(t.state(), { playing: true, kind: 'start', originBeat: 8, resumeBeat: 8 });
    t.stop(8.1);
    t.start(8); // on a boundary: the next one, so every output hears of it in time
    assert.equal((t.state() as { originBeat: number }).originBeat, 12);
  });

  it('stops at the next 16th, and continues where that 16th falls on the bar grid', () => {
    const t = createTransport({ quantum: 4 });
    t.start(0.5); // song from beat 4
    t.stop(9.3); // 5.3 beats in: 21.2 16ths → resume at 22
    assert.deepEqual(t.state(), { playing: false, position: 22 });
    t.continue(20.1); // 22 16ths = 5.5 beats: phase 1.5 in a bar → beat 21.5
    assert.deepEqual(t.state(), { playing: true, kind: 'continue', originBeat: 16, resumeBeat: 21.5 });
    assert.equal(t.positionAt(22), 24);
  });

  it('a stop before the cued start keeps the cue’s position; song position only while stopped', () => {
    const t = createTransport({ quantum: 1 });
    t.locate(40);
    t.continue(3.9); // 40 16ths = 10 beats, quantum 1: the next whole beat, 4
    t.stop(3.95);
    assert.deepEqual(t.state(), { playing: false, position: 40 });
    t.start(4);
    assert.equal(t.locate(3), false);
    t.stop(5.5);
    assert.equal(t.locate(MAX_POSITION + 100), true);
    assert.deepEqual(t.state(), { playing: false, position: MAX_POSITION });
  });

  it('tells subscribers, and lands on the tick grid whatever the float arithmetic does', () => {
    const t = createTransport({ quantum: 0.25 });
    const seen: boolean[] = [];
    const off = t.subscribe((s) => seen.push(s.playing));
    t.start(0.1 + 0.2);
    const s = t.state() as { originBeat: number };
    assert.equal(s.originBeat * 24, Math.round(s.originBeat * 24));
    t.stop(1);
    off();
    t.start(2);
    assert.deepEqual(seen, [true, false]);
  });
});
