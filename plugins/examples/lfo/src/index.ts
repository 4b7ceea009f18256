import type { Command, DisplayList, FrameInfo, SetupInfo } from '../../../api/hana-plugin.d.ts';

// A low-frequency oscillator that writes a parameter: /layer/2/opacity follows a sine wave of
// eight beats, so anything reading it (the "beat-strobe" example) swells and fades with the music.
// It also draws its waveform along the bottom with a dot at the current value.
//
// The value is a function of the shared beat, so every linked daemon computes the same one and
// their writes agree. Writes go through the daemon's validated path; at most 20 per second are
// sent, which is plenty for a slow wave and keeps the shared state quiet.

const TARGET = '/layer/2/opacity';
const PERIOD_BEATS = 8;
const MIN_WRITE_INTERVAL_S = 0.05;
const SAMPLES = 96;

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

  // The last PERIOD_BEATS beats scroll from left to right; "now" is at the right edge.
  const left = f.width * 0.1;
  const right = f.width * 0.9;
  const bottom = f.height * 0.95;
  const amp = f.height * 0.12;
  const points: number[] = [];
  for (let i = 0; i <= SAMPLES; i++) {
    const beat = f.beat - PERIOD_BEATS + (i / SAMPLES) * PERIOD_BEATS;
    points.push(left + ((right - left) * i) / SAMPLES, bottom - wave(beat) * amp);
  }
  const out: Command[] = [
    { op: 'line', x1: left, y1: bottom, x2: right, y2: bottom, color: '#3af2ff', alpha: 0.3 },
    { op: 'polyline', points, color: '#3af2ff', lineWidth: 3, alpha: 0.9 },
    { op: 'circle', x: right, y: bottom - value * amp, r: 8, color: '#ffffff' },
    {
      op: 'text',
      x: right,
      y: bottom - amp - 12,
      text: `${TARGET} ${value.toFixed(2)}`,
      size: 18,
      align: 'right',
      color: '#3af2ff',
    },
  ];
  return out;
}
