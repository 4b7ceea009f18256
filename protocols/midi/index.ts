/**
 * The pure MIDI 1.0 layer: untrusted bytes → typed events (`createMidiParser`, with stable
 * reject codes), events → bytes (`encodeMidiEvent`, `encodeControl`), and the values that span
 * several messages (14-bit CC pairs, NRPN/RPN, relative encoders). No I/O here: device access
 * lives in `device.ts`, which is not re-exported: importing this module touches nothing outside the process.
 */

export {
  type Cc14Assembler,
  type Cc14AssemblerInit,
  type Cc14Value,
  createCc14Assembler,
  createParameterNumberAssembler,
  decodeRelative,
  type ParameterNumberAssembler,
  type ParameterNumberValue,
  type RelativeEncoding,
} from './controllers.ts';
export { type ControlKind, encodeControl, encodeMidiEvent } from './encoder.ts';
export {
  type ChannelEvent,
  type ChannelPressureEvent,
  type ControlChangeEvent,
  MIDI_REJECT_CODES,
  type MidiEvent,
  type MidiRejectCode,
  type MtcQuarterFrameEvent,
  type NoteOffEvent,
  type NoteOnEvent,
  type PitchBendEvent,
  type PolyPressureEvent,
  type ProgramChangeEvent,
  REALTIME_STATUS,
  type RealtimeEvent,
  type RealtimeType,
  type SongPositionEvent,
  type SongSelectEvent,
  type SysexEvent,
  type SystemCommonEvent,
  type TuneRequestEvent,
} from './events.ts';
export { createMidiParser, type MidiParser, type MidiParserInit } from './parser.ts';
