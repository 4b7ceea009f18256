import type { ParamSpec } from '../config/params-schema.ts';
import type { Store } from '../state/store.ts';
import { MAX_TEMPO, MIN_TEMPO, Timeline } from './timeline.ts';

// The timeline as a replicated register. The store and the sync layer carry plain values
// (number | boolean | string | null), so the three doubles travel as one short string, written
// once by the daemon that changed the tempo and stamped, signed and replicated like any write.
// One register, not three: a tempo and an origin from two different writes would describe a
// beat line nobody chose.

/** Where the timeline lives in the store. Under /hana/, which no config may declare. */
export const TIMELINE_PATH = '/hana/timeline';
/** The operator's tempo: changing it locally writes a new timeline (timeline-writer.ts). */
export const TEMPO_PATH = '/tempo';

const PREFIX = 'tl1';
/** "tl1" and three doubles of at most 24 characters each, with separators, fit in 78. */
export const MAX_ENCODED_LENGTH = 96;

/**
 * The declaration the registry needs for TIMELINE_PATH, as one of hana's own values (the
 * second argument of createRegistry): stored and replicated, never written by OSC, MIDI,
 * `hana set`, a scene or a plugin.
 */
export const timelineParam: ParamSpec = {
  type: 'string',
  maxLength: MAX_ENCODED_LENGTH,
  description:
    'The shared beat: tempo, beat origin and time origin, written by the daemon that last changed /tempo. Read it with `hana status`; it is not an OSC parameter.',
};

// String(x) is the shortest text that reads back as exactly x, except that it drops the sign of
// −0; keep it, so every double round-trips.
const num = (x: number): string => (Object.is(x, -0) ? '-0' : String(x));

/** Compact, exact text for a timeline: `tl1 <tempo> <beatOrigin> <timeOrigin>`. */
export function encodeTimeline(tl: Timeline): string {
  return `${PREFIX} ${num(tl.tempo)} ${num(tl.beatOrigin)} ${num(tl.timeOrigin)}`;
}

export type TimelineRefusal =
  | 'wrong-type'
  | 'too-long'
  | 'bad-shape'
  | 'not-finite'
  | 'not-canonical'
  | 'out-of-range';

export type DecodedTimeline =
  | { ok: true; timeline: Timeline }
  | { ok: false; code: TimelineRefusal; message: string };

const refuse = (code: TimelineRefusal, message: string): DecodedTimeline => ({ ok: false, code, message });
const FIELDS = ['tempo', 'beatOrigin', 'timeOrigin'] as const;

/**
 * Reads a register value back into a timeline, refusing anything encodeTimeline would not have
 * written: one text has one meaning, so two laptops never hold different bytes for one beat
 * line. Messages never echo the value (it is outside input).
 */
export function decodeTimeline(value: unknown): DecodedTimeline {
  if (typeof value !== 'string') {
    return refuse('wrong-type', `a timeline is a text value, not ${value === null ? 'null' : typeof value}`);
  }
  if (value.length > MAX_ENCODED_LENGTH) {
    return refuse(
      'too-long',
      `a timeline is at most ${MAX_ENCODED_LENGTH} characters, this one has ${value.length}`,
    );
  }
  const parts = value.split(' ');
  if (parts.length !== 4 || parts[0] !== PREFIX) {
    return refuse('bad-shape', `a timeline reads "${PREFIX} <tempo> <beatOrigin> <timeOrigin>"`);
  }
  const out: Record<(typeof FIELDS)[number], number> = { tempo: 0, beatOrigin: 0, timeOrigin: 0 };
  for (const [i, name] of FIELDS.entries()) {
    const text = parts[i + 1]!;
    const n = Number(text);
    if (!Number.isFinite(n)) return refuse('not-finite', `the timeline's ${name} is not a finite number`);
    // Number() also reads " 1", "0x1", "1.0" and "": only the canonical spelling is a timeline.
    if (num(n) !== text) return refuse('not-canonical', `the timeline's ${name} is not written canonically`);
    out[name] = n;
  }
  // Every field is finite by now, so the schema can only refuse the tempo's range.
  const checked = Timeline.safeParse(out);
  if (!checked.success) {
    return refuse(
      'out-of-range',
      `the timeline's tempo ${out.tempo} bpm is outside ${MIN_TEMPO}–${MAX_TEMPO}`,
    );
  }
  return { ok: true, timeline: checked.data };
}

/** The winning timeline and the device ID that wrote it (its stamp's origin). */
export type TimelineEntry = { timeline: Timeline; origin: string };

/**
 * Reads the store's timeline entry, decoding a value once however often it is read (the plugin
 * host reads the clock ten times a second). Undefined while none was ever written: the
 * register then holds its declared default "" with a zero stamp. A value that does not decode
 * (the sync layer should have refused it) also reads as none, never as a wrong beat.
 */
export function createTimelineReader(store: Store): () => TimelineEntry | undefined {
  let lastValue: unknown;
  let lastOrigin: string | undefined;
  let last: TimelineEntry | undefined;
  return () => {
    const e = store.get(TIMELINE_PATH);
    if (!e || e.value === '' || e.stamp.node === '') return undefined;
    if (e.value === lastValue && e.stamp.node === lastOrigin) return last;
    const d = decodeTimeline(e.value);
    lastValue = e.value;
    lastOrigin = e.stamp.node;
    last = d.ok ? { timeline: d.timeline, origin: e.stamp.node } : undefined;
    return last;
  };
}
