import type { MidiClockStatus } from '../midi-clock/service.ts';
import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';

// `hana midi clock [status] | play | stop | continue`, and the `midiclock` line of `hana status`.

const USAGE = 'usage: hana midi clock [status] [--json] | play | stop | continue';

const SOURCE = {
  'midi-clock': 'MIDI clock in',
  'ableton-link': 'Ableton Link',
  hana: 'hana (/tempo)',
} as const;

export function midiClockLine(s: MidiClockStatus): string {
  const wantsSome = s.out.wanted.length > 0 || s.in.wanted !== null;
  if (!wantsSome) return 'off (set midi.clock.out or midi.clock.in in the config)';
  if (!s.available) return `off: MIDI is off (${s.reason})`;
  const out = s.out.wanted.length
    ? `out → ${s.out.ports.join(', ') || `no port matches ${s.out.wanted.join(', ')}`}${s.out.ports.length ? ` (${s.out.running ? 'playing' : 'stopped'}, ${s.out.ticks} clocks)` : ''}`
    : 'out off';
  const inText =
    s.in.wanted === null
      ? 'in off'
      : `in ← ${s.in.port ?? `no port matches ${s.in.wanted}`}${
          s.in.port
            ? {
                off: '',
                waiting: ' (no clock yet)',
                following: ` (following ${s.in.tempo?.toFixed(2)} bpm${s.in.playing ? ', playing' : ''})`,
                lost: ' (clock stopped: not following)',
              }[s.in.state]
            : ''
        }`;
  const transport = s.transport.playing
    ? `playing at 16th ${s.transport.position}`
    : `stopped at 16th ${s.transport.position}`;
  return `${out}; ${inText}; ${transport}; tempo from ${SOURCE[s.tempoSource]}`;
}

export async function midiClockCommand(args: Parsed, out: Out, rest: string[]): Promise<number> {
  const [sub = 'status', ...extra] = rest;
  if (extra.length) throw new UsageError(USAGE);
  if (sub === 'status') {
    const r = (await callOrReport(args, out, 'midiClock.status', {})) as MidiClockStatus | undefined;
    return r ? print(args, out, r, () => midiClockLine(r)) : 1;
  }
  if (sub !== 'play' && sub !== 'stop' && sub !== 'continue') throw new UsageError(USAGE);
  const r = (await callOrReport(args, out, 'midiClock.transport', { action: sub })) as
    | { playing: boolean; status: MidiClockStatus }
    | undefined;
  if (!r) return 1;
  return print(args, out, r, () =>
    r.playing
      ? `MIDI clock: ${sub === 'continue' ? 'continuing' : 'starting'} on the next ${sub === 'continue' ? 'matching beat' : 'bar'} (${r.status.out.ports.length} output(s))`
      : 'MIDI clock: stopped',
  );
}
