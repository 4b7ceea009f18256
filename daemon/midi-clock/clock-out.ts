import type { Timers } from '../timers.ts';
import { MAX_POSITION, PPQN, type TransportState } from './transport.ts';

// MIDI clock out: 24 ticks (F8) per beat of the shared beat, plus start (FA), continue (FB),
// stop (FC) and song position (F2), to every chosen output at once.
//
// Ticks are never counted from intervals, which would drift: each wake-up reads the shared beat,
// works out which tick is due (tick k falls on beat k / 24) and sends every tick not yet sent, in
// order, in one write. A tempo change (a new timeline) therefore takes effect at the next tick,
// and a late wake-up (a busy event loop) sends the ticks it missed rather than losing them.
//
// A start or continue is cued on a tick: at that tick the song position goes out first, then
// FA or FB, then the tick itself, which is the first clock of the song (MIDI 1.0: a receiver
// starts on the clock after FA). Stop goes out at once.

export const FA = 0xfa;
export const FB = 0xfb;
export const FC = 0xfc;
export const F8 = 0xf8;
export const F2 = 0xf2;

/** How often to look again while there is no shared beat. */
const NO_BEAT_RETRY_MS = 250;
/**
 * A tick due within this fraction of a tick counts as due: a wake-up on time must not miss it.
 * Session times near 1.7e12 ms resolve 0.24 µs, which at 120 bpm is 1e-5 of a tick: a smaller
 * margin sent wake-ups chasing a tick a rounding error away (measured in the service test).
 */
const EPSILON = 1e-3;
/** Ticks caught up in one go at most (a bar); further behind, the clock relocates instead. */
export const MAX_CATCH_UP = 4 * PPQN;
/** A beat going back by up to this many ticks is waited out; further, the clock relocates. */
export const MAX_BACK = PPQN;

export type BeatReading = { beat: number; tempo: number } | undefined;

export type ClockOutInit = {
  /** The shared beat and tempo now; undefined while there is no shared beat. */
  read(): BeatReading;
  transport(): TransportState;
  send(bytes: Uint8Array): void;
  timers: Timers;
  whileStopped: boolean;
  /** The beat jumped too far to follow tick by tick (a new leader, a Link re-phase). */
  onRelocate?(fromTick: number, toTick: number): void;
};

export type ClockOutStats = {
  /** Timing clocks sent. */
  ticks: number;
  /** Wake-ups that found more than one tick due (a late timer or a busy event loop). */
  lateWakeups: number;
  relocations: number;
  /** FA/FB sent and no FC since: the outputs are playing. */
  running: boolean;
};

type Cue = { tick: number; kind: 'start' | 'continue'; position: number };

export function songPosition(position: number): number[] {
  const p = Math.min(MAX_POSITION, Math.max(0, Math.round(position)));
  return [F2, p & 0x7f, p >> 7];
}

export function createClockOut(init: ClockOutInit) {
  const { timers } = init;
  let last: number | undefined;
  let running = false;
  let cue: Cue | undefined;
  let timer: unknown;
  let closed = false;
  const stats = { ticks: 0, lateWakeups: 0, relocations: 0 };

  function schedule(ms: number): void {
    if (timer !== undefined) timers.clear(timer);
    timer = closed ? undefined : timers.set(Math.max(0, ms), wake);
  }

  function cueFromTransport(s: TransportState): Cue | undefined {
    if (!s.playing) return undefined;
    return {
      tick: Math.round(s.resumeBeat * PPQN),
      kind: s.kind,
      position: Math.round((s.resumeBeat - s.originBeat) * 4),
    };
  }

  /** Follows a beat that jumped: no burst of ticks, and playing outputs re-cued on a 16th. */
  function relocate(due: number, out: number[]): void {
    init.onRelocate?.(last ?? due, due);
    stats.relocations++;
    const s = init.transport();
    if (running && s.playing) {
      out.push(FC);
      running = false;
      const origin = Math.round(s.originBeat * PPQN);
      const position = Math.max(0, Math.ceil((due + 1 - origin) / 6));
      cue = { tick: origin + position * 6, kind: 'continue', position };
    }
    last = due;
  }

  function emit(k: number, out: number[]): void {
    if (cue && k >= cue.tick) {
      out.push(...songPosition(cue.position), cue.kind === 'start' ? FA : FB);
      running = true;
      cue = undefined;
    }
    if (running || init.whileStopped) {
      out.push(F8);
      stats.ticks++;
    }
  }

  function wake(): void {
    timer = undefined;
    if (closed) return;
    const r = init.read();
    if (!r) {
      last = undefined;
      schedule(NO_BEAT_RETRY_MS);
      return;
    }
    const due = Math.floor(r.beat * PPQN + EPSILON);
    const out: number[] = [];
    // Starting: the tick already under way would go out late; the next is on time.
    if (last === undefined) last = due;
    if (cue && cue.tick <= last && cue.tick >= due - MAX_CATCH_UP) {
      // A cue at or before ticks already sent (the beat was moved onto it, e.g. a clock in's
      // start): send from the cue again; the outputs were stopped, so no tick counts twice.
      if (running) out.push(FC);
      running = false;
      last = cue.tick - 1;
    }
    if (due < last && last - due > MAX_BACK) relocate(due, out);
    else if (due - last > MAX_CATCH_UP) relocate(due, out);
    if (due - last > 1) stats.lateWakeups++;
    for (let k = last + 1; k <= due; k++) emit(k, out);
    if (due > last) last = due;
    if (out.length) init.send(Uint8Array.from(out));
    const nextBeat = (last + 1) / PPQN;
    schedule(((nextBeat - r.beat) * 60_000) / r.tempo);
  }

  return {
    /** Starts ticking (or looks again now: the timeline changed). */
    wake,
    /** The transport changed: stop goes out now, a start or continue is cued on its tick. */
    transportChanged(s: TransportState): void {
      if (!s.playing) {
        cue = undefined;
        if (running) {
          running = false;
          init.send(Uint8Array.of(FC));
        }
        return;
      }
      cue = cueFromTransport(s);
      wake();
    },
    stats: (): ClockOutStats => ({ ...stats, running }),
    close(): void {
      closed = true;
      if (timer !== undefined) timers.clear(timer);
      timer = undefined;
    },
  };
}

export type ClockOut = ReturnType<typeof createClockOut>;
