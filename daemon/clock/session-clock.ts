import { DRIFT_PPM, MIN_SAMPLES, type OffsetEstimate } from '../sync/clock.ts';
import { beatAt, phase, type Timeline } from './timeline.ts';
import type { TimelineEntry } from './timeline-register.ts';

// The session's shared time and beat.
//
// Who leads: the device that wrote the winning timeline entry (its stamp's origin), not the
// linked daemon with the smallest device ID as before. Why:
// - Every laptop holding the same converged timeline picks the same leader, with no election
//   and no view of who is linked to whom (the smallest-ID rule gave two laptops with different
//   links two different leaders).
// - Only performers can write the timeline: the sync layer refuses the writes of observers and
//   blocked peers, and checks a write's origin by its signature. So an observer never leads,
//   and a device ID ground until it is tiny buys nothing, since no size of ID counts.
// - The writer anchors the timeline's timeOrigin in its own clock (timeline-writer.ts), so
//   reading it against that same clock is what makes one value mean one beat everywhere.
//
// Session time is the leader's wall clock: ours plus our offset estimate to it (daemon/sync/
// clock.ts). When the leader is not linked we keep the last offset we measured to it, so time
// and beat stay continuous, and say the error grows with the estimate's age; with no estimate
// ever, we use our own clock and say the error is unknown. The beat comes from the timeline
// alone, never from a write's stamp: a stamp accepted from a clock running ahead once froze the
// beat at 0.00 on every laptop.

/** Devices whose last offset is remembered after their link goes: more than any stage has. */
const MAX_REMEMBERED = 256;
const DEFAULT_TEMPO = 120;

/** What the session time of a reading is based on. */
export type TimeBasis =
  /** This daemon leads: its own wall clock. */
  | 'self'
  /** A live offset estimate to the linked leader. */
  | 'leader'
  /** The leader is not linked: the last offset measured to it; errorMs grows with its age. */
  | 'last-offset'
  /** No timeline, or a leader never measured: this daemon's own wall clock, error unknown. */
  | 'own-clock';

type ReadingBase = {
  /** Session time in ms since the Unix epoch (the leader's wall clock as we estimate it). */
  timeMs: number;
  /** timeMs minus this daemon's wall clock. */
  offsetMs: number;
  basis: TimeBasis;
  /** Bound on how far timeMs may be from the leader's clock; 0 when we lead, null when unknown. */
  errorMs: number | null;
  /** Age of the offset estimate in use, ms; null when none is used. */
  estimateAgeMs: number | null;
  /** Beats per minute: the timeline's, or /tempo's value while there is no timeline. */
  tempo: number;
};

export type ClockReading =
  /** No timeline was ever written: there is no shared beat yet, and nobody leads. */
  | (ReadingBase & {
      timeline: null;
      leader: null;
      leaderLinked: false;
      beat: null;
      phase: null;
    })
  | (ReadingBase & {
      timeline: Timeline;
      /** The device ID that wrote the timeline, whose clock the session follows. */
      leader: string;
      /** True when we lead, or hold a live estimate (≥ MIN_SAMPLES) to the leader. */
      leaderLinked: boolean;
      /** The shared beat at timeMs (negative before a fresh timeline's origin). */
      beat: number;
      /** Fraction of the beat, in [0, 1). */
      phase: number;
    });

export type SessionClockInit = {
  /** This daemon's device ID; a function because it can change (an identity rotation). */
  selfId(): string;
  /** Every device ID this daemon has had: a timeline it wrote under an earlier one is still its own. */
  ownIds?(): readonly string[];
  /** Our wall clock in ms with sub-millisecond resolution. */
  now(): number;
  /** The winning timeline and its origin (createTimelineReader), undefined while none exists. */
  timeline(): TimelineEntry | undefined;
  /** /tempo's value, shown while no timeline exists (120 if it is not a positive number). */
  tempo(): number;
};

export type SessionClock = {
  /** A peer's offset estimate, at every clock exchange; undefined is the same as removePeer. */
  setPeer(id: string, estimate: OffsetEstimate | undefined): void;
  /** The link to a peer went: its last offset is kept for continuity. */
  removePeer(id: string): void;
  read(): ClockReading;
};

type Seen = { estimate: OffsetEstimate; at: number };

export function createSessionClock(init: SessionClockInit): SessionClock {
  const linked = new Map<string, Seen>();
  const remembered = new Map<string, Seen>();
  const drift = DRIFT_PPM / 1e6;

  const isSelf = (id: string) => id === init.selfId() || (init.ownIds?.().includes(id) ?? false);

  function removePeer(id: string): void {
    linked.delete(id);
  }

  function noTimeline(t: number): ClockReading {
    const bpm = init.tempo();
    return {
      timeMs: t,
      offsetMs: 0,
      basis: 'own-clock',
      errorMs: null,
      estimateAgeMs: null,
      tempo: Number.isFinite(bpm) && bpm > 0 ? bpm : DEFAULT_TEMPO,
      timeline: null,
      leader: null,
      leaderLinked: false,
      beat: null,
      phase: null,
    };
  }

  /** How we reach the leader's clock from ours. */
  function follow(leader: string, t: number) {
    if (isSelf(leader)) {
      return { basis: 'self', offsetMs: 0, errorMs: 0, estimateAgeMs: null, linked: true } as const;
    }
    const live = linked.get(leader);
    const seen = live ?? remembered.get(leader);
    if (!seen) {
      return { basis: 'own-clock', offsetMs: 0, errorMs: null, estimateAgeMs: null, linked: false } as const;
    }
    const age = Math.max(0, t - seen.at);
    return {
      basis: live ? 'leader' : 'last-offset',
      offsetMs: seen.estimate.offsetMs,
      // Between exchanges the two clocks keep drifting apart; an estimate no longer renewed
      // (the link went) grows wrong at up to DRIFT_PPM.
      errorMs: seen.estimate.errorMs + age * drift,
      estimateAgeMs: age,
      linked: live !== undefined,
    } as const;
  }

  return {
    setPeer(id, estimate) {
      if (!estimate) return removePeer(id);
      // Too few exchanges to trust; keep using what we had.
      if (estimate.samples < MIN_SAMPLES || !Number.isFinite(estimate.offsetMs)) return;
      const seen = { estimate, at: init.now() };
      linked.set(id, seen);
      remembered.delete(id);
      remembered.set(id, seen);
      if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
    },
    removePeer,
    read() {
      const own = init.now();
      const entry = init.timeline();
      if (!entry) return noTimeline(own);
      const f = follow(entry.origin, own);
      const timeMs = own + f.offsetMs;
      const beat = beatAt(entry.timeline, timeMs);
      return {
        timeMs,
        offsetMs: f.offsetMs,
        basis: f.basis,
        errorMs: f.errorMs,
        estimateAgeMs: f.estimateAgeMs,
        tempo: entry.timeline.tempo,
        timeline: entry.timeline,
        leader: entry.origin,
        leaderLinked: f.linked,
        beat,
        phase: phase(beat, 1),
      };
    },
  };
}
