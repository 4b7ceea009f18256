import { beatAtHost, type HostTimeline } from '../../protocols/link/peer.ts';
import { microsPerBeat } from '../../protocols/link/v1/entries.ts';
import type { ClockReading } from '../clock/session-clock.ts';
import { beatAt, MAX_TEMPO, MIN_TEMPO, type Timeline } from '../clock/timeline.ts';

// The one mapping between the Link session's timeline and hana's (daemon/clock/timeline.ts).
// Pure: the caller passes the clocks.
//
// - Link's timeline is on the host's monotonic clock (µs); hana's on session time, the
//   leader's wall clock in ms, which is performance.timeOrigin + performance.now(): the same
//   monotonic clock plus a constant (`wallOffsetMs`). Writing a timeline makes this daemon the
//   leader, so the one we write is on our own wall clock.
// - Link peers agree on phase within a quantum, not on beat numbers (a Link app shows bar 1 when
//   it joins a session at bar 57). hana keeps its own beat count and takes Link's phase: the
//   new beat is Link's shifted by whole quanta to the nearest of hana's current beat, so a bar
//   stays a bar and the count does not jump.

/**
 * How far hana's beat may be from Link's (ms at the tempo) before it is rewritten. Tight when
 * this daemon wrote the timeline: its own clock reads it exactly, so anything left is an error
 * of ours. Loose when another laptop did: our reading of it carries the error of our offset
 * estimate to that laptop, and two laptops in one Link session rewriting over each other's
 * estimates would trade the timeline back and forth.
 */
export const OWN_TOLERANCE_MS = 0.05;
export const FOLLOW_TOLERANCE_MS = 1;

/** The tempo hana's timeline can hold for a Link tempo (999 bpm travels as 999.0009). */
export const clampTempo = (bpm: number) => Math.min(MAX_TEMPO, Math.max(MIN_TEMPO, bpm));

/**
 * The timeline hana should hold to follow `link`, or undefined when the one it holds already
 * does: same tempo in Link's whole µs per beat, and the same phase within the tolerance.
 */
export function followLink(
  link: HostTimeline,
  reading: ClockReading,
  at: { hostUs: number; wallOffsetMs: number },
  quantum: number,
): Timeline | undefined {
  const tempo = clampTempo(link.bpm);
  const linkBeat = beatAtHost(link, at.hostUs);
  const ownWall = at.hostUs / 1000 + at.wallOffsetMs;
  let beat = linkBeat;
  if (reading.timeline) {
    const hanaBeat = beatAt(reading.timeline, ownWall + reading.offsetMs);
    beat = linkBeat + quantum * Math.round((hanaBeat - linkBeat) / quantum);
    const sameTempo = microsPerBeat(reading.timeline.tempo) === link.microsPerBeat;
    const offMs = (Math.abs(hanaBeat - beat) * 60_000) / tempo;
    const tolerance = reading.basis === 'self' ? OWN_TOLERANCE_MS : FOLLOW_TOLERANCE_MS;
    if (sameTempo && offMs < tolerance) return undefined;
  }
  return { tempo, beatOrigin: beat, timeOrigin: ownWall };
}

/** Whether hana's tempo differs from Link's as Link carries it (whole µs per beat). */
export function tempoDiffers(hanaTempo: number, link: HostTimeline): boolean {
  return microsPerBeat(hanaTempo) !== link.microsPerBeat && clampTempo(link.bpm) !== hanaTempo;
}
