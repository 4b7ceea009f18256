// MIDI 1.0 events as typed values. Channels are 0–15 on the wire and here; people see 1–16.

export type RealtimeType = 'clock' | 'tick' | 'start' | 'continue' | 'stop' | 'activeSensing' | 'reset';

export type MidiEvent =
  | { kind: 'noteOn'; channel: number; note: number; velocity: number }
  | { kind: 'noteOff'; channel: number; note: number; velocity: number }
  | { kind: 'polyPressure'; channel: number; note: number; pressure: number }
  | { kind: 'controlChange'; channel: number; controller: number; value: number }
  | { kind: 'programChange'; channel: number; program: number }
  | { kind: 'channelPressure'; channel: number; pressure: number }
  /** 0..16383, centre 8192. */
  | { kind: 'pitchBend'; channel: number; value: number }
  | { kind: 'sysex'; data: Uint8Array }
  | { kind: 'mtcQuarterFrame'; value: number }
  | { kind: 'songPosition'; value: number }
  | { kind: 'songSelect'; song: number }
  | { kind: 'tuneRequest' }
  | { kind: 'realtime'; type: RealtimeType };

/** Stable reason codes for bytes the parser drops. */
export type MidiRejectCode =
  | 'orphan-data' // a data byte with no status to belong to
  | 'truncated' // a message cut short by a new status byte
  | 'sysex-unterminated' // SysEx cut by a status byte other than F7 or real-time
  | 'sysex-oversize' // SysEx longer than the limit
  | 'undefined-status'; // F4, F5, F9, FD
