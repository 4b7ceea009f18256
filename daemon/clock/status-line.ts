import { shortId } from '../../trust-store/short-id.ts';
import type { ClockReading } from './session-clock.ts';

// The `clock` line of `hana status`: the shared beat, its tempo, and whose clock it follows, in
// words an operator can act on. Before any timeline there is no beat to show: the old line
// printed session time times tempo from the epoch (beat 3592615839.12).

const ms = (x: number) => `±${x.toFixed(2)} ms`;
const age = (x: number) => (x < 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x / 1000)} s`);

export function clockStatusLine(r: ClockReading): string {
  if (r.timeline === null) return `no shared beat yet (tempo ${r.tempo} bpm): set /tempo to start one`;
  const head = `beat ${r.beat.toFixed(2)} at ${r.tempo} bpm`;
  const who = shortId(r.leader);
  switch (r.basis) {
    case 'self':
      return `${head}, led by this daemon (it set the tempo last)`;
    case 'leader':
      return `${head}, following ${who} (${ms(r.errorMs ?? 0)})`;
    case 'last-offset':
      return `${head}, following ${who}, not linked: its offset measured ${age(r.estimateAgeMs ?? 0)} ago (${ms(r.errorMs ?? 0)}, growing)`;
    case 'own-clock':
      return `${head}, led by ${who}, never measured here: on this laptop's own clock (error unknown)`;
  }
}
