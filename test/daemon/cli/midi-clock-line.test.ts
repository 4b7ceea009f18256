import assert from 'node:assert/strict';
import { it } from 'node:test';
import { midiClockLine } from '../../../daemon/cli/midi-clock-commands.ts';
import type { MidiClockStatus } from '../../../daemon/midi-clock/service.ts';

// The `midiclock` line of `hana status`: off and why, then out, in, transport, tempo source.

const base: MidiClockStatus = {
  available: true,
  out: {
    wanted: ['TR-8S*'],
    ports: ['TR-8S MIDI 1'],
    ticks: 480,
    lateWakeups: 0,
    relocations: 0,
    running: true,
  },
  in: { wanted: 'Digitakt*', port: 'Digitakt MIDI 1', state: 'following', tempo: 121.456, playing: true },
  transport: { playing: true, position: 37 },
  tempoSource: 'midi-clock',
  writes: 3,
  overridden: 0,
};

it('says what the clock does, and why it is off', () => {
  assert.equal(
    midiClockLine(base),
    'out → TR-8S MIDI 1 (playing, 480 clocks); in ← Digitakt MIDI 1 (following 121.46 bpm, playing); playing at 16th 37; tempo from MIDI clock in',
  );
  assert.equal(
    midiClockLine({
      ...base,
      out: { ...base.out, wanted: [], ports: [] },
      in: { ...base.in, wanted: null, port: null },
    }),
    'off (set midi.clock.out or midi.clock.in in the config)',
  );
  assert.equal(
    midiClockLine({ ...base, available: false, reason: 'no ALSA sequencer' }),
    'off: MIDI is off (no ALSA sequencer)',
  );
  assert.equal(
    midiClockLine({
      ...base,
      out: { ...base.out, ports: [] },
      in: { ...base.in, state: 'lost', tempo: null, playing: false },
      transport: { playing: false, position: 0 },
      tempoSource: 'hana',
    }),
    'out → no port matches TR-8S*; in ← Digitakt MIDI 1 (clock stopped: not following); stopped at 16th 0; tempo from hana (/tempo)',
  );
});
