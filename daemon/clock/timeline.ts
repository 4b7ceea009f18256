import { z } from 'zod';

// The shared beat as one explicit value, the way Ableton Link's Timeline is: a tempo and one
// point (beatOrigin at timeOrigin) through which the beat line passes. Every laptop holding the
// same value and reading the same session time computes the same beat, so nothing here depends
// on when or by whom the value was written (a write's stamp can be moved by the drift a clock
// accepts; this value cannot).
//
// Times are session time in ms (the leader's wall clock, see session-clock.ts). Doubles are
// enough: near 2^41 ms (today's epoch times) a double resolves 0.25 µs.
//
// Pure functions, no I/O, no clock: callers pass the time.

export const MIN_TEMPO = 20;
export const MAX_TEMPO = 999;

export const Timeline = z
  .object({
    // z.number() refuses NaN and ±Infinity (zod 4), so every field is finite.
    tempo: z.number().min(MIN_TEMPO).max(MAX_TEMPO).describe('Beats per minute.'),
    beatOrigin: z.number().describe('The beat at timeOrigin.'),
    timeOrigin: z.number().describe('Session time in ms at which the beat is beatOrigin.'),
  })
  .strict();
export type Timeline = z.infer<typeof Timeline>;

const MS_PER_MINUTE = 60_000;

/**
 * The beat at a session time. Linear on both sides of the origin, as Link's `toBeats` is: a
 * time before timeOrigin gives a beat below beatOrigin (negative just before a fresh timeline's
 * origin). Never clamped: a clamp is what froze the old beat at 0.00 when its origin was in the
 * future. `phase` handles negative beats.
 */
export function beatAt(tl: Timeline, sessionMs: number): number {
  return tl.beatOrigin + ((sessionMs - tl.timeOrigin) * tl.tempo) / MS_PER_MINUTE;
}

/** The session time at which the timeline reaches a beat (Link's `fromBeats`). */
export function timeAt(tl: Timeline, beat: number): number {
  return tl.timeOrigin + ((beat - tl.beatOrigin) * MS_PER_MINUTE) / tl.tempo;
}

/**
 * A new timeline at `bpm` that passes through the beat `tl` shows at `sessionNowMs`, anchored
 * there: the beat is continuous across a tempo change and only its slope changes. With no
 * timeline yet, the count starts at beat 0 now.
 */
export function retempo(tl: Timeline | undefined, sessionNowMs: number, bpm: number): Timeline {
  const next = {
    tempo: bpm,
    beatOrigin: tl ? beatAt(tl, sessionNowMs) : 0,
    timeOrigin: sessionNowMs,
  };
  // The callers check tempo first (it is outside input); reaching here with a bad one is a bug.
  const checked = Timeline.safeParse(next);
  if (!checked.success) throw new Error(`retempo: ${z.prettifyError(checked.error)}`);
  return checked.data;
}

/**
 * The same beat line with its time origin moved from one clock to another: `offsetMs` is the
 * old clock minus the new one (a follower's offset to the leader). A daemon that writes a
 * timeline becomes its leader, so it first re-expresses the current one in its own clock;
 * otherwise the beat would jump by the two clocks' difference.
 */
export function rebase(tl: Timeline, offsetMs: number): Timeline {
  return { tempo: tl.tempo, beatOrigin: tl.beatOrigin, timeOrigin: tl.timeOrigin - offsetMs };
}

/**
 * Where a beat falls within a quantum, in [0, quantum), correct for negative beats (Link's
 * `phase`). Quantum 1 gives the fraction of the beat; 4 the position in a 4/4 bar. A quantum
 * of 0 or less has no phase: 0.
 */
export function phase(beat: number, quantum: number): number {
  if (!(quantum > 0)) return 0;
  const p = ((beat % quantum) + quantum) % quantum;
  // (−tiny % q) + q rounds to q itself; the phase range is half-open.
  return p >= quantum ? 0 : p;
}

/**
 * The least beat ≥ `beat` whose phase matches `target`'s (Link's `nextPhaseMatch`). Returns
 * `beat` itself when the phases already match.
 */
export function nextPhaseMatch(beat: number, target: number, quantum: number): number {
  if (!(quantum > 0)) return beat;
  const diff = phase(phase(target, quantum) - phase(beat, quantum), quantum);
  return beat + diff;
}

/**
 * The first quantum boundary strictly after `beat`: the next bar (quantum 4) or beat
 * (quantum 1) for a quantized launch. Strictly after, so a launch decided on a boundary still
 * leaves the other laptops time to hear of it.
 */
export function nextBoundary(beat: number, quantum: number): number {
  if (!(quantum > 0)) return beat;
  const b = beat + (quantum - phase(beat, quantum));
  // Rounding can land on the boundary below or exactly on beat; step once more if so.
  return b > beat ? b : b + quantum;
}
