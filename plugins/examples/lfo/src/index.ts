import type { DisplayList, FrameInfo, SetupInfo } from '../../../api/hana-plugin.d.ts';

// A low-frequency oscillator that writes a parameter: /layer/2/opacity follows a sine wave of
// eight beats, so anything reading it (the "beat-strobe" example) swells and fades with the music.
// It draws nothing.
//
// The value is a function of the shared beat, so every linked daemon computes the same one and
// their writes agree. Writes go through the daemon's validated path; at most 20 per second are
// sent, which is plenty for a slow wave and keeps the shared state quiet.

const TARGET = '/layer/2/opacity';
const PERIOD_BEATS = 8;
const MIN_WRITE_INTERVAL_S = 0.05;

let lastWrite = Number.NEGATIVE_INFINITY;
let lastValue = Number.NaN;

const wave = (beat: number) => 0.5 - 0.5 * Math.cos((beat / PERIOD_BEATS) * Math.PI * 2);

export function setup(info: SetupInfo): void {
  hana.log(`lfo on ${info.id}: writing ${TARGET} every ${PERIOD_BEATS} beats`);
}

export function frame(f: FrameInfo): DisplayList {
  const value = Math.round(wave(f.beat) * 1000) / 1000;
  if (value !== lastValue && (f.time - lastWrite >= MIN_WRITE_INTERVAL_S || f.time < lastWrite)) {
    hana.set(TARGET, value);
    lastWrite = f.time;
    lastValue = value;
  }

  // Nothing to see: it is a control, and a scope with its value printed over the show made the
  // demo look like a debug view (issue 16). `hana get /layer/2/opacity` shows what it writes.
  return [];
}
