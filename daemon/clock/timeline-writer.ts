import type { Logger } from '../log.ts';
import type { Change, Store } from '../state/store.ts';
import type { ClockReading } from './session-clock.ts';
import { MAX_TEMPO, MIN_TEMPO, rebase, retempo } from './timeline.ts';
import { encodeTimeline, TEMPO_PATH, TIMELINE_PATH } from './timeline-register.ts';

// Turns a tempo change made on this laptop into a new timeline, written through the store like
// any write, so it is stamped, signed and replicated. Only local changes retime:
// - a peer's /tempo change arrives with the timeline its writer made, so retiming it here
//   would make every laptop write a timeline of its own for one change;
// - a sync correction re-asserts a value this laptop already held: the beat must not move;
// - our own timeline write changes TIMELINE_PATH, not /tempo, so it never calls us again.
//
// The new timeline is anchored in this daemon's own clock, because writing it makes this
// daemon the leader (session-clock.ts): the current one is first re-expressed in our clock
// (rebase by the offset we follow it with), then bent to the new tempo at our "now". The beat
// is continuous at that instant on every laptop, whoever led before.
//
// Start it after the persisted state is restored: a restore replays /tempo with its original
// source ("cli", "osc:…"), and retiming then would restart the shared beat at every boot.

/** The source of the writes this module makes, as the audit log and `hana get` show it. */
export const TIMELINE_SOURCE = 'timeline';

export type TimelineWriterInit = {
  store: Store;
  /** The session clock's reading now: the current timeline, session time and our offset to it. */
  clock(): ClockReading;
  log: Logger;
  /** Wall clock ms, for spacing repeated warnings; default Date.now. */
  now?: () => number;
};

/** A refused tempo is logged at most this often (a MIDI fader past the range sends hundreds). */
const WARN_INTERVAL_MS = 10_000;

export type TimelineWriterStats = {
  /** Timelines written. */
  written: number;
  /** Local /tempo changes that left the tempo as the timeline already had it. */
  unchanged: number;
  /** Local /tempo values no timeline can hold (the config declares /tempo wider than 20–999). */
  refused: number;
};

export type TimelineWriter = { stats(): TimelineWriterStats; close(): void };

/** Whether a change came from this laptop's own inputs (OSC, MIDI, CLI, scenes, plugins). */
export function retimes(source: string): boolean {
  return !source.startsWith('peer:') && source !== 'sync:correction' && source !== TIMELINE_SOURCE;
}

export function startTimelineWriter(init: TimelineWriterInit): TimelineWriter {
  const { store, log } = init;
  const now = init.now ?? Date.now;
  // Fail at start, not at the first tempo change in the middle of a show.
  if (!store.get(TIMELINE_PATH)) {
    throw new Error(
      `startTimelineWriter: the store does not hold ${TIMELINE_PATH}; create it with registry.stored`,
    );
  }
  const stats: TimelineWriterStats = { written: 0, unchanged: 0, refused: 0 };
  let lastWarn = -Infinity;
  let quiet = 0;

  function onTempo(c: Change): void {
    const bpm = c.value;
    if (typeof bpm !== 'number' || !(bpm >= MIN_TEMPO && bpm <= MAX_TEMPO)) {
      stats.refused++;
      const t = now();
      if (t - lastWarn < WARN_INTERVAL_MS) {
        quiet++;
        return;
      }
      log.warn(
        { event: 'timeline.tempo-refused', source: c.source, value: bpm, suppressed: quiet },
        `/tempo ${String(bpm)} cannot drive the shared beat, which runs at ${MIN_TEMPO}–${MAX_TEMPO} bpm; the beat keeps its tempo`,
      );
      lastWarn = t;
      quiet = 0;
      return;
    }
    const r = init.clock();
    if (r.timeline && r.timeline.tempo === bpm) {
      stats.unchanged++;
      return;
    }
    // Our wall clock now, and the current timeline in it.
    const own = r.timeMs - r.offsetMs;
    const current = r.timeline ? rebase(r.timeline, r.offsetMs) : undefined;
    // Ranked as the tempo change it follows (write-order.ts): a plugin's tempo here must not
    // give the beat a timeline that outranks the one a person's tempo on a peer gave it.
    const done = store.apply(
      [{ path: TIMELINE_PATH, value: encodeTimeline(retempo(current, own, bpm)) }],
      TIMELINE_SOURCE,
      { human: c.human === true },
    );
    // Left out when a person's timeline, set moments ago, outranks a plugin's tempo: the person's
    // tempo follows it everywhere (write-order.ts).
    if (done.length > 0) stats.written++;
  }

  const unsubscribe = store.subscribe(
    (changes) => {
      // The last local /tempo of a batch is the one that stands.
      let last: Change | undefined;
      for (const c of changes) if (c.path === TEMPO_PATH && retimes(c.source)) last = c;
      if (last) onTempo(last);
    },
    { paths: [TEMPO_PATH] },
  );

  return { stats: () => ({ ...stats }), close: unsubscribe };
}

/**
 * The current timeline re-expressed in this daemon's clock: the value a sync correction of
 * TIMELINE_PATH must carry. A correction makes this daemon the timeline's origin and so its
 * leader; re-asserting the same text would shift every laptop's beat by the difference between
 * the old leader's clock and ours. Undefined while there is no timeline.
 */
export function reassertedTimeline(reading: ClockReading): string | undefined {
  return reading.timeline ? encodeTimeline(rebase(reading.timeline, reading.offsetMs)) : undefined;
}
