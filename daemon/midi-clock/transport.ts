import { nextBoundary, nextPhaseMatch } from '../clock/timeline.ts';

// Start/stop and song position for MIDI clock, on the shared beat. The timeline has no
// transport of its own (it only runs), so this is where "playing" lives: set from
// `hana midi clock play|stop|continue`, from Link's start/stop sync, or from the clock in.
//
// A song is placed on the shared beat by the beat at which its position 0 falls (originBeat).
// A start or continue waits for a multiple of `quantum` beats, so the devices' bar 1 falls on
// hana's bars, the way Link apps start on the next bar. Positions are MIDI beats (16th notes),
// what song position pointer carries.

/** Ticks per beat (MIDI clock: 24 ppqn). */
export const PPQN = 24;
/** A song position pointer holds 14 bits. */
export const MAX_POSITION = 16383;

export type TransportState =
  | { playing: false /** Where a continue resumes, in 16ths. */; position: number }
  | {
      playing: true;
      kind: 'start' | 'continue';
      /** The shared beat at song position 0. */
      originBeat: number;
      /** The shared beat at which playing (re)starts: originBeat + position / 4. */
      resumeBeat: number;
    };

export type Transport = {
  state(): TransportState;
  /** Position 0 at the next quantum boundary after `beat`, or at `originBeat` when given. */
  start(beat: number, originBeat?: number): void;
  /** Resumes from the held position at the next beat where it falls on a quantum boundary. */
  continue(beat: number, originBeat?: number): void;
  /** Stops now; the position reached (rounded up to a 16th) is where a continue resumes. */
  stop(beat: number): void;
  /** Song position pointer while stopped (16ths); ignored while playing, as MIDI 1.0 says. */
  locate(position: number): boolean;
  /** The song position at a beat (16ths, fractional), or undefined while stopped. */
  positionAt(beat: number): number | undefined;
  subscribe(fn: (s: TransportState) => void): () => void;
};

const onGrid = (beat: number) => Math.round(beat * PPQN) / PPQN;
const clampPosition = (p: number) => Math.min(MAX_POSITION, Math.max(0, p));

export function createTransport(init: { quantum: number }): Transport {
  const { quantum } = init;
  let state: TransportState = { playing: false, position: 0 };
  const subscribers = new Set<(s: TransportState) => void>();
  const set = (s: TransportState) => {
    state = s;
    for (const fn of subscribers) fn(s);
  };

  return {
    state: () => state,
    start(beat, originBeat) {
      const origin = onGrid(originBeat ?? nextBoundary(beat, quantum));
      set({ playing: true, kind: 'start', originBeat: origin, resumeBeat: origin });
    },
    continue(beat, originBeat) {
      const position = state.playing ? 0 : state.position;
      const offset = position / 4;
      // The least beat after now at which the held position falls where it would have fallen
      // had the song run on from a quantum boundary.
      const resume = onGrid(
        originBeat !== undefined
          ? originBeat + offset
          : nextPhaseMatch(nextBoundary(beat, 0.25), offset, quantum),
      );
      set({ playing: true, kind: 'continue', originBeat: resume - offset, resumeBeat: resume });
    },
    stop(beat) {
      if (!state.playing) return;
      const p = (beat - state.originBeat) * 4;
      // A stop before the cued start leaves the song where the cue would have begun it.
      const reached =
        beat < state.resumeBeat ? (state.resumeBeat - state.originBeat) * 4 : Math.ceil(p - 1e-9);
      set({ playing: false, position: clampPosition(Math.round(reached)) });
    },
    locate(position) {
      if (state.playing) return false;
      set({ playing: false, position: clampPosition(position) });
      return true;
    },
    positionAt(beat) {
      return state.playing ? Math.max(0, (beat - state.originBeat) * 4) : undefined;
    },
    subscribe(fn) {
      subscribers.add(fn);
      return () => subscribers.delete(fn);
    },
  };
}
