import { type MidiEvent, REALTIME_STATUS } from './events.ts';

// Events → bytes, each message with its full status byte (no running status: feedback goes to
// many outputs and may interleave). Out-of-range fields are programmer errors: RangeError.

function check(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} ${v} is outside 0..${max}`);
  return v;
}

const ch = (c: number) => check('channel', c, 15);
const d7 = (name: string, v: number) => check(name, v, 127);

export function encodeMidiEvent(e: MidiEvent): Uint8Array {
  switch (e.kind) {
    case 'noteOff':
      return Uint8Array.of(0x80 | ch(e.channel), d7('note', e.note), d7('velocity', e.velocity));
    case 'noteOn':
      return Uint8Array.of(0x90 | ch(e.channel), d7('note', e.note), d7('velocity', e.velocity));
    case 'polyPressure':
      return Uint8Array.of(0xa0 | ch(e.channel), d7('note', e.note), d7('pressure', e.pressure));
    case 'controlChange':
      return Uint8Array.of(0xb0 | ch(e.channel), d7('controller', e.controller), d7('value', e.value));
    case 'programChange':
      return Uint8Array.of(0xc0 | ch(e.channel), d7('program', e.program));
    case 'channelPressure':
      return Uint8Array.of(0xd0 | ch(e.channel), d7('pressure', e.pressure));
    case 'pitchBend': {
      const v = check('pitch bend', e.value, 16383);
      return Uint8Array.of(0xe0 | ch(e.channel), v & 0x7f, v >> 7);
    }
    case 'sysex': {
      // A byte ≥ 0x80 inside would end the SysEx early on the wire and corrupt what follows.
      for (const b of e.data) d7('SysEx byte', b);
      const out = new Uint8Array(e.data.length + 2);
      out[0] = 0xf0;
      out.set(e.data, 1);
      out[out.length - 1] = 0xf7;
      return out;
    }
    case 'mtcQuarterFrame':
      return Uint8Array.of(
        0xf1,
        (check('quarter frame piece', e.piece, 7) << 4) | check('quarter frame value', e.value, 15),
      );
    case 'songPosition': {
      const v = check('song position', e.position, 16383);
      return Uint8Array.of(0xf2, v & 0x7f, v >> 7);
    }
    case 'songSelect':
      return Uint8Array.of(0xf3, d7('song', e.song));
    case 'tuneRequest':
      return Uint8Array.of(0xf6);
    case 'realtime': {
      const status: number | undefined = REALTIME_STATUS[e.type];
      if (status === undefined) throw new RangeError(`unknown real-time type ${String(e.type)}`);
      return Uint8Array.of(status);
    }
    default:
      throw new TypeError(`not a MIDI event: kind ${String((e as { kind?: unknown }).kind)}`);
  }
}

export type ControlKind = 'cc' | 'cc14' | 'note' | 'nrpn' | 'rpn' | 'pitchbend';

/**
 * The byte sequence that sets one mapped control to a raw position, for feedback: 14-bit CCs
 * send MSB then LSB, (N)RPNs the full select + data-entry sequence.
 */
export function encodeControl(
  control: ControlKind,
  channel: number,
  number: number,
  raw: number,
): Uint8Array {
  const cc = (controller: number, value: number) =>
    encodeMidiEvent({ kind: 'controlChange', channel, controller, value });
  switch (control) {
    case 'cc':
      return cc(number, raw);
    case 'cc14':
      check('14-bit CC number', number, 31);
      check('14-bit CC value', raw, 16383);
      return concat(cc(number, raw >> 7), cc(number + 32, raw & 0x7f));
    case 'note':
      return raw > 0
        ? encodeMidiEvent({ kind: 'noteOn', channel, note: number, velocity: raw })
        : encodeMidiEvent({ kind: 'noteOff', channel, note: number, velocity: 0 });
    case 'nrpn':
    case 'rpn': {
      check(`${control} number`, number, 16383);
      check(`${control} value`, raw, 16383);
      const [msb, lsb] = control === 'nrpn' ? [99, 98] : [101, 100];
      return concat(cc(msb, number >> 7), cc(lsb, number & 0x7f), cc(6, raw >> 7), cc(38, raw & 0x7f));
    }
    case 'pitchbend':
      return encodeMidiEvent({ kind: 'pitchBend', channel, value: raw });
    default:
      throw new TypeError(`not a control kind: ${String(control)}`);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
