import type { MidiEvent, MidiRejectCode, RealtimeType } from './events.ts';

// Streaming MIDI 1.0 parser: bytes in any chunking → typed events. Real-time bytes (F8–FF)
// may appear anywhere, even inside another message or a SysEx, and pass through without
// disturbing it; running status applies to channel messages and is cleared by system common
// and SysEx. Bad bytes are dropped with a reason and the parser resynchronises on the next
// status byte. It never throws and allocates nothing per byte.

export type MidiParserInit = {
  maxSysexBytes?: number;
  onEvent: (e: MidiEvent) => void;
  onError: (code: MidiRejectCode, detail: string) => void;
};

const REALTIME: Record<number, RealtimeType> = {
  248: 'clock',
  249: 'tick',
  250: 'start',
  251: 'continue',
  252: 'stop',
  254: 'activeSensing',
  255: 'reset',
};

/** Data bytes that follow each status (high nibble for channel messages, full byte for system). */
function dataLength(status: number): number {
  switch (status & 0xf0) {
    case 0xc0:
    case 0xd0:
      return 1;
    case 0xf0:
      return status === 0xf1 || status === 0xf3 ? 1 : status === 0xf2 ? 2 : 0;
    default:
      return 2;
  }
}

const hex = (b: number) => b.toString(16).padStart(2, '0');

export function createMidiParser(init: MidiParserInit): { push(bytes: Uint8Array): void; reset(): void } {
  const maxSysex = init.maxSysexBytes ?? 4096;
  const sysex = new Uint8Array(maxSysex);
  let sysexLen = 0;
  let inSysex = false;
  let sysexOversize = false;
  let status = 0; // running status, 0 = none
  let d0 = 0;
  let have = 0; // data bytes collected for `status`
  let need = 0;

  function channelEvent(s: number, a: number, b: number): MidiEvent {
    const channel = s & 0x0f;
    switch (s & 0xf0) {
      case 0x80:
        return { kind: 'noteOff', channel, note: a, velocity: b };
      case 0x90:
        // Note-on with velocity 0 is a note-off (MIDI 1.0, so running status can carry offs).
        return b === 0
          ? { kind: 'noteOff', channel, note: a, velocity: 0 }
          : { kind: 'noteOn', channel, note: a, velocity: b };
      case 0xa0:
        return { kind: 'polyPressure', channel, note: a, pressure: b };
      case 0xb0:
        return { kind: 'controlChange', channel, controller: a, value: b };
      case 0xc0:
        return { kind: 'programChange', channel, program: a };
      case 0xd0:
        return { kind: 'channelPressure', channel, pressure: a };
      default:
        return { kind: 'pitchBend', channel, value: a | (b << 7) };
    }
  }

  function emitSystem(s: number, a: number, b: number): void {
    if (s === 0xf1) init.onEvent({ kind: 'mtcQuarterFrame', value: a });
    else if (s === 0xf2) init.onEvent({ kind: 'songPosition', value: a | (b << 7) });
    else if (s === 0xf3) init.onEvent({ kind: 'songSelect', song: a });
  }

  function endSysex(byStatus: number | undefined): void {
    if (byStatus === undefined) {
      if (!sysexOversize) init.onEvent({ kind: 'sysex', data: sysex.slice(0, sysexLen) });
    } else if (!sysexOversize) {
      init.onError('sysex-unterminated', `SysEx of ${sysexLen} bytes cut by status 0x${hex(byStatus)}`);
    }
    inSysex = false;
    sysexOversize = false;
    sysexLen = 0;
  }

  function onStatus(b: number): void {
    if (have > 0 && have < need)
      init.onError('truncated', `0x${hex(status)} cut after ${have} of ${need} data bytes by 0x${hex(b)}`);
    have = 0;
    if (b === 0xf7) {
      if (inSysex) endSysex(undefined); // otherwise a stray EOX: harmless
      status = 0;
      return;
    }
    if (inSysex) endSysex(b);
    if (b === 0xf0) {
      inSysex = true;
      status = 0;
      return;
    }
    if (b === 0xf4 || b === 0xf5) {
      init.onError('undefined-status', `undefined status 0x${hex(b)}`);
      status = 0;
      return;
    }
    if (b === 0xf6) {
      status = 0;
      init.onEvent({ kind: 'tuneRequest' });
      return;
    }
    status = b;
    need = dataLength(b);
  }

  return {
    push(bytes) {
      for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i]!;
        if (b >= 0xf8) {
          const type = REALTIME[b];
          if (type) init.onEvent({ kind: 'realtime', type });
          else init.onError('undefined-status', `undefined real-time byte 0x${hex(b)}`);
          continue;
        }
        if (b & 0x80) {
          onStatus(b);
          continue;
        }
        if (inSysex) {
          if (sysexLen < maxSysex) sysex[sysexLen++] = b;
          else if (!sysexOversize) {
            sysexOversize = true;
            init.onError('sysex-oversize', `SysEx longer than ${maxSysex} bytes; dropping it`);
          }
          continue;
        }
        if (status === 0) {
          init.onError('orphan-data', `data byte 0x${hex(b)} with no status`);
          continue;
        }
        if (have === 0) d0 = b;
        have++;
        if (have < need) continue;
        if (status >= 0xf0) {
          emitSystem(status, d0, b);
          status = 0; // system common does not run
        } else {
          init.onEvent(channelEvent(status, d0, b));
        }
        have = 0;
      }
    },
    reset() {
      status = 0;
      have = 0;
      inSysex = false;
      sysexOversize = false;
      sysexLen = 0;
    },
  };
}
