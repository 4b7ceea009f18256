import { MIN_SAMPLES, type OffsetEstimate } from './clock.ts';

// The session's shared time and beat. Every daemon follows the clock of the linked daemon with
// the smallest device ID (itself included), so a group agrees on one timeline without electing
// anyone: each member computes the same leader from the same membership. A daemon that is cut
// off follows its own group's leader, and snaps back when the link returns.
//
// The beat comes from the replicated /tempo entry: beat = (sessionTime − the tempo entry's
// stamp time) × bpm / 60 000. The stamp time is part of the replicated entry, so every daemon
// uses the same anchor and shows the same phase; a tempo change restarts the count at the
// moment it was made.

export type ClockReading = {
  /** Session time in ms since the Unix epoch (the leader's wall clock). */
  timeMs: number;
  /** Device ID whose clock the session follows. */
  leader: string;
  /** How far off our reading of the leader's clock may be, in ms (0 when we lead). */
  errorMs: number;
  tempo: number;
  beat: number;
  phase: number;
};

export type SessionClockInit = {
  selfId: () => string;
  /** Our wall clock in ms with sub-millisecond resolution. */
  now(): number;
  /** Current tempo in BPM and the session time its value was set at (ms). */
  tempo(): { bpm: number; sinceMs: number };
};

export type SessionClock = {
  setPeer(id: string, estimate: OffsetEstimate | undefined): void;
  removePeer(id: string): void;
  read(): ClockReading;
};

export function createSessionClock(init: SessionClockInit): SessionClock {
  const peers = new Map<string, OffsetEstimate>();

  function leader(): { id: string; offsetMs: number; errorMs: number } {
    let best = { id: init.selfId(), offsetMs: 0, errorMs: 0 };
    for (const [id, e] of peers) {
      if (e.samples >= MIN_SAMPLES && id < best.id) best = { id, offsetMs: e.offsetMs, errorMs: e.errorMs };
    }
    return best;
  }

  return {
    setPeer(id, estimate) {
      if (estimate) peers.set(id, estimate);
      else peers.delete(id);
    },
    removePeer(id) {
      peers.delete(id);
    },
    read() {
      const l = leader();
      const timeMs = init.now() + l.offsetMs;
      const { bpm, sinceMs } = init.tempo();
      const tempo = Number.isFinite(bpm) && bpm > 0 ? bpm : 120;
      const beat = Math.max(0, ((timeMs - sinceMs) * tempo) / 60_000);
      return { timeMs, leader: l.id, errorMs: l.errorMs, tempo, beat, phase: beat - Math.floor(beat) };
    },
  };
}
