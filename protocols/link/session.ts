import type { WireStartStop, WireTimeline } from './v1/discovery.ts';
import { microsPerBeat } from './v1/entries.ts';

// The rules by which Link peers agree on one session, one timeline and one start/stop state,
// as Ableton's implementation decides them (Sessions.hpp, Controller.hpp,
// ClientSessionTimelines.hpp), restated as pure functions. No sockets, no clock: callers pass
// ghost times. Ghost time is the session's shared time, in µs: ghost = host + intercept, where
// a peer measures its intercept against a member of the session (measure.ts).

/** Two sessions whose ghost clocks are this close are told apart by session id. */
export const SESSION_EPSILON_US = 500_000;
/** How often the session we joined is measured again, to follow the drift of clocks. */
export const REMEASURE_MS = 30_000;

/** Beats (a double) on a timeline at a ghost time: Link's toBeats. */
export function beatsAt(tl: WireTimeline, ghost: number): number {
  return tl.beatOrigin / 1e6 + (ghost - tl.timeOrigin) / tl.microsPerBeat;
}

/** The ghost time at which a timeline reaches `beats`: Link's fromBeats. */
export function ghostAt(tl: WireTimeline, beats: number): number {
  return tl.timeOrigin + Math.round((beats - tl.beatOrigin / 1e6) * tl.microsPerBeat);
}

export function makeTimeline(bpm: number, beatOrigin: number, timeOrigin: number): WireTimeline {
  const mpb = microsPerBeat(bpm);
  return { microsPerBeat: mpb, bpm: 60e6 / mpb, beatOrigin, timeOrigin };
}

/**
 * Whether a timeline seen from a member of our session replaces ours. Link orders a session's
 * timelines by beat origin: whoever changes the tempo moves the beat origin past the current
 * one, so the latest change wins everywhere without clocks deciding.
 */
export function supersedes(seen: WireTimeline, current: WireTimeline): boolean {
  return seen.beatOrigin > current.beatOrigin;
}

/**
 * Our proposal of a new tempo at ghost time `now`: the beat stays continuous at `now`, only
 * its slope changes. Its beat origin is the beat at `now`, and at least one micro-beat past the
 * current one, or the other peers would ignore the proposal (supersedes), as Link's
 * updateSessionTimelineFromClient has it. Two peers proposing at different instants so get
 * different origins, and the later one wins everywhere. (Here it was a whole beat past: two hana
 * laptops proposing within a beat of a timeline change both got the same origin, neither
 * superseded the other, and the session kept two timelines, 1.2 ms apart in a loaded test run.)
 */
export function proposeTempo(current: WireTimeline, bpm: number, now: number): WireTimeline {
  const beatNow = beatsAt(current, now);
  const next = makeTimeline(bpm, 0, now);
  const origin = Math.max(Math.round(beatNow * 1e6), current.beatOrigin + 1);
  return {
    ...next,
    beatOrigin: origin,
    timeOrigin: now + Math.round((origin / 1e6 - beatNow) * next.microsPerBeat),
  };
}

/** A start/stop state seen in our session replaces ours when it is newer. */
export function newerStartStop(seen: WireStartStop | null, current: WireStartStop): boolean {
  return seen !== null && seen.timestamp > current.timestamp;
}

/** Our start or stop at ghost time `now`, on the beat the session timeline has then. */
export function proposeStartStop(tl: WireTimeline, playing: boolean, now: number): WireStartStop {
  return { playing, beats: Math.round(beatsAt(tl, now) * 1e6), timestamp: now };
}

/**
 * Whether to move to another session once its ghost offset is measured. The session whose
 * ghost clock is further ahead (it has existed longer) wins; two within SESSION_EPSILON_US of
 * each other are ordered by session id, smaller first. Every peer decides the same way, so
 * two sessions merge into one.
 */
export function shouldJoin(
  hostNow: number,
  current: { sessionId: string; intercept: number },
  other: { sessionId: string; intercept: number },
): boolean {
  const diff = hostNow + other.intercept - (hostNow + current.intercept);
  return (
    diff > SESSION_EPSILON_US || (Math.abs(diff) < SESSION_EPSILON_US && other.sessionId < current.sessionId)
  );
}

/** Where a beat falls within a quantum, in [0, quantum) (Link's phase). */
export function phaseOf(beats: number, quantum: number): number {
  if (!(quantum > 0)) return 0;
  const p = ((beats % quantum) + quantum) % quantum;
  return p >= quantum ? 0 : p;
}
