// Decoded MIDI 1.0 messages, independent of any device library. Channels are 0-15 on the wire
// and here; only user-facing text (config, UI) counts them 1-16.

export type NoteOnEvent = {
  readonly kind: 'noteOn';
  readonly channel: number;
  readonly note: number;
  /** 1-127: a note-on with velocity 0 is delivered as a noteOff. */
  readonly velocity: number;
};
export type NoteOffEvent = {
  readonly kind: 'noteOff';
  readonly channel: number;
  readonly note: number;
  readonly velocity: number;
};
export type ControlChangeEvent = {
  readonly kind: 'controlChange';
  readonly channel: number;
  readonly controller: number;
  readonly value: number;
};
export type ProgramChangeEvent = {
  readonly kind: 'programChange';
  readonly channel: number;
  readonly program: number;
};
export type PitchBendEvent = {
  readonly kind: 'pitchBend';
  readonly channel: number;
  /** 0..16383, centre 8192. */
  readonly value: number;
};
export type ChannelPressureEvent = {
  readonly kind: 'channelPressure';
  readonly channel: number;
  readonly pressure: number;
};
export type PolyPressureEvent = {
  readonly kind: 'polyPressure';
  readonly channel: number;
  readonly note: number;
  readonly pressure: number;
};
export type SysexEvent = {
  readonly kind: 'sysex';
  /** The bytes between F0 and F7, each 0-127 (manufacturer ID first). */
  readonly data: Uint8Array;
};

/**
 * 'tick' is F9, which the MIDI 1.0 spec leaves undefined; some old gear sends it every 10 ms.
 * The parser rejects it unless asked to accept it (`acceptTick`).
 */
export type RealtimeType = 'clock' | 'tick' | 'start' | 'continue' | 'stop' | 'activeSensing' | 'reset';
export type RealtimeEvent = { readonly kind: 'realtime'; readonly type: RealtimeType };

/** MIDI time code quarter frame (F1): `piece` is the 3-bit message type, `value` its 4-bit nibble. */
export type MtcQuarterFrameEvent = {
  readonly kind: 'mtcQuarterFrame';
  readonly piece: number;
  readonly value: number;
};
/** Song position pointer (F2), in MIDI beats (sixteenth notes), 0..16383. */
export type SongPositionEvent = { readonly kind: 'songPosition'; readonly position: number };
export type SongSelectEvent = { readonly kind: 'songSelect'; readonly song: number };
export type TuneRequestEvent = { readonly kind: 'tuneRequest' };

export type ChannelEvent =
  | NoteOnEvent
  | NoteOffEvent
  | ControlChangeEvent
  | ProgramChangeEvent
  | PitchBendEvent
  | ChannelPressureEvent
  | PolyPressureEvent;
export type SystemCommonEvent = MtcQuarterFrameEvent | SongPositionEvent | SongSelectEvent | TuneRequestEvent;
export type MidiEvent = ChannelEvent | SysexEvent | RealtimeEvent | SystemCommonEvent;

/** Status byte of each real-time message. */
export const REALTIME_STATUS = {
  clock: 0xf8,
  tick: 0xf9,
  start: 0xfa,
  continue: 0xfb,
  stop: 0xfc,
  activeSensing: 0xfe,
  reset: 0xff,
} as const satisfies Record<RealtimeType, number>;

/**
 * Stable reason codes for bytes the parser drops; they appear in counters, logs and docs, so
 * never rename one.
 */
export const MIDI_REJECT_CODES = [
  /** A data byte with no status to apply it to (no running status). */
  'orphan-data',
  /** A channel or system common message cut short by a new status byte. */
  'truncated',
  /** A SysEx cut by a status byte other than F7 (real-time bytes do not cut it). */
  'sysex-unterminated',
  /** A SysEx longer than `maxSysexBytes`; the rest of it is discarded. */
  'sysex-oversize',
  /** F4, F5, F9 and FD, which MIDI 1.0 leaves undefined (F9 unless `acceptTick`). */
  'undefined-status',
  /** An end-of-SysEx byte (F7) with no SysEx in progress. */
  'orphan-eox',
] as const;
export type MidiRejectCode = (typeof MIDI_REJECT_CODES)[number];
