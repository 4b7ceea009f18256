import type { Timetag } from './types.ts';

const SECONDS_1900_TO_1970 = 2208988800;
const TWO_32 = 4294967296;

export function isImmediate(t: Timetag): boolean {
  return t.seconds === 0 && t.fraction === 1;
}

/** NTP time tag to Unix milliseconds. */
export function timetagToMs(t: Timetag): number {
  return (t.seconds - SECONDS_1900_TO_1970) * 1000 + (t.fraction / TWO_32) * 1000;
}

export function msToTimetag(ms: number): Timetag {
  const secs = Math.floor(ms / 1000);
  const fraction = Math.min(TWO_32 - 1, Math.round(((ms - secs * 1000) / 1000) * TWO_32));
  return { seconds: secs + SECONDS_1900_TO_1970, fraction };
}
