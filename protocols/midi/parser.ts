import type { MidiEvent, MidiRejectCode, RealtimeEvent, RealtimeType, TuneRequestEvent } from './events.ts';

// Streaming MIDI 1.0 parser: bytes in any chunking → typed events. Real-time bytes (F8–FF) may
// appear anywhere, even inside another message or a SysEx, and pass through without disturbing
// it; running status applies to channel messages and is cleared by system common and SysEx.
// Bad bytes are dropped with a reason code and the parser resynchronises on the next status
// byte. It never throws on input. Per byte it allocates nothing: state lives in a few numbers,
// SysEx in one buffer reused across messages; only delivered events allocate.

export type MidiParserInit = {
  /** Longest SysEx payload (bytes between F0 and F7) delivered; longer ones are dropped. Default 4096. */
  maxSysexBytes?: number;
  /**
   * Deliver F9 as a real-time 'tick' (old 10 ms timing gear). MIDI 1.0 leaves F9 undefined, so
   * by default it is rejected as 'undefined-status', like FD.
   */
  acceptTick?: boolean;
  /** Called for each complete message. Real-time and tune request events are shared frozen objects. */
  onEvent: (e: MidiEvent) => void;
  /** Called once per rejection: one stray byte, one cut message, one dropped SysEx. */
  onError: (code: MidiRejectCode, detail: string) => void;
};

export type MidiParser = {
  push(bytes: Uint8Array): void;
  /** Forget running status and any partial message or SysEx, silently (e.g. on reconnect). */
  reset(): void;
};

const realtime = (type: RealtimeType): RealtimeEvent => Object.freeze({ kind: 'realtime', type });
// Indexed by byte - 0xF8. Shared and frozen: clock arrives 24 times per beat, per device.
const REALTIME: readonly (RealtimeEvent | undefined)[] = [
  realtime('clock'),
  undefined, // F9: 'tick' only with acceptTick
  realtime('start'),
  realtime('continue'),
  realtime('stop'),
  undefined, // FD
  realtime('activeSensing'),
  realtime('reset'),
];
const TICK = realtime('tick');
const TUNE_REQUEST: TuneRequestEvent = Object.freeze({ kind: 'tuneRequest' });

const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

/** One complete channel or system common message (status `s`, data bytes `a`, `b`). */
function decode(s: number, a: number, b: number): MidiEvent {
  const channel = s & 0x0f;
  switch (s >> 4) {
    case 0x8:
      return { kind: 'noteOff', channel, note: a, velocity: b };
    case 0x9:
      // Velocity 0 is a note-off (MIDI 1.0), so running status can carry offs too.
      return b === 0
        ? { kind: 'noteOff', channel, note: a, velocity: 0 }
        : { kind: 'noteOn', channel, note: a, velocity: b };
    case 0xa:
      return { kind: 'polyPressure', channel, note: a, pressure: b };
    case 0xb:
      return { kind: 'controlChange', channel, controller: a, value: b };
    case 0xc:
      return { kind: 'programChange', channel, program: a };
    case 0xd:
      return { kind: 'channelPressure', channel, pressure: a };
    case 0xe:
      return { kind: 'pitchBend', channel, value: a | (b << 7) };
  }
  if (s === 0xf1) return { kind: 'mtcQuarterFrame', piece: a >> 4, value: a & 0x0f };
  if (s === 0xf2) return { kind: 'songPosition', position: a | (b << 7) };
  return { kind: 'songSelect', song: a };
}

export function createMidiParser(init: MidiParserInit): MidiParser {
  const maxSysex = init.maxSysexBytes ?? 4096;
  if (!Number.isSafeInteger(maxSysex) || maxSysex < 0) {
    throw new RangeError(`maxSysexBytes must be a whole number ≥ 0, got ${maxSysex}`);
  }
  const { onEvent, onError } = init;
  const realtimeEvents = REALTIME.slice();
  if (init.acceptTick) realtimeEvents[1] = TICK;

  // The message being collected. `status` stays set after a channel message completes: that
  // is running status. `held` counts its bytes received so far (its status byte too, unless
  // running), so a cut message reports exactly what it drops.
  let status = 0; // 0 = none
  let need = 0; // data bytes `status` takes
  let have = 0; // data bytes collected (0 or 1: the longest message has 2)
  let first = 0;
  let held = 0;

  let inSysex = false;
  let sysexLen = 0;
  let sysexDropping = false; // oversize: reported once, the rest discarded up to its end
  // Grows by doubling up to maxSysex, so a parser that never sees a big SysEx stays small.
  let sysex = new Uint8Array(Math.min(maxSysex, 256));

  function sysexData(b: number): void {
    if (sysexDropping) return;
    if (sysexLen === maxSysex) {
      sysexDropping = true;
      onError('sysex-oversize', `SysEx longer than ${maxSysex} data bytes; discarding it up to its end`);
      return;
    }
    if (sysexLen === sysex.length) {
      const bigger = new Uint8Array(Math.min(maxSysex, sysex.length * 2));
      bigger.set(sysex);
      sysex = bigger;
    }
    sysex[sysexLen++] = b;
  }

  /** F0–F7: ends whatever was in progress, then starts what `b` begins. */
  function statusByte(b: number): void {
    // State is settled before any callback runs, so a throwing callback leaves it consistent.
    let cut = '';
    let cutCode: MidiRejectCode = 'truncated';
    if (inSysex) {
      const len = sysexLen;
      const dropping = sysexDropping;
      inSysex = false;
      sysexDropping = false;
      sysexLen = 0;
      if (b === 0xf7) {
        status = 0;
        if (!dropping) onEvent({ kind: 'sysex', data: sysex.slice(0, len) });
        return;
      }
      if (!dropping) {
        cutCode = 'sysex-unterminated';
        cut = `SysEx cut after ${len} data bytes by status ${hex(b)}`;
      }
    } else if (held > 0) {
      cut = `message ${hex(status)} cut after ${have} of ${need} data bytes by status ${hex(b)}`;
    }
    have = 0;
    if (b < 0xf0) {
      status = b;
      need = (b & 0xe0) === 0xc0 ? 1 : 2; // program change and channel pressure take one
      held = 1;
    } else if (b === 0xf1 || b === 0xf3) {
      status = b;
      need = 1;
      held = 1;
    } else if (b === 0xf2) {
      status = b;
      need = 2;
      held = 1;
    } else {
      status = 0;
      need = 0;
      held = 0;
      inSysex = b === 0xf0;
    }
    if (cut !== '') onError(cutCode, cut);
    if (b === 0xf6) onEvent(TUNE_REQUEST);
    else if (b === 0xf7) onError('orphan-eox', 'end of SysEx (0xf7) with no SysEx in progress');
    else if (b === 0xf4 || b === 0xf5) onError('undefined-status', `undefined status byte ${hex(b)}`);
  }

  return {
    push(bytes) {
      for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i]!;
        if (b < 0x80) {
          if (inSysex) {
            sysexData(b);
          } else if (status === 0) {
            onError('orphan-data', `data byte ${hex(b)} with no status byte to apply it to`);
          } else if (need === 2 && have === 0) {
            first = b;
            have = 1;
            held++;
          } else {
            const s = status;
            const a = need === 1 ? b : first;
            have = 0;
            held = 0;
            if (s >= 0xf0) status = 0; // system common messages do not run
            onEvent(decode(s, a, b));
          }
        } else if (b >= 0xf8) {
          const e = realtimeEvents[b - 0xf8];
          if (e !== undefined) onEvent(e);
          else onError('undefined-status', `undefined real-time byte ${hex(b)}`);
        } else {
          statusByte(b);
        }
      }
    },
    reset() {
      status = 0;
      need = 0;
      have = 0;
      held = 0;
      inSysex = false;
      sysexDropping = false;
      sysexLen = 0;
    },
  };
}
