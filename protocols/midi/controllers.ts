// Assembling 14-bit values from pairs of 7-bit controller messages. Pure and per instance:
// one per input device. Timestamps (ms) are passed in, never read from a clock.

/**
 * 14-bit CC (MSB on CC 0–31, LSB on CC 32–63). MIDI 1.0: a new MSB resets the LSB to 0 and an
 * LSB alone refines the last MSB, which also serves controllers that never send an LSB. Some
 * controllers send the LSB first; an LSB followed within `pairWindowMs` by its MSB is taken as
 * one pair, so those keep their 14 bits instead of losing them to the reset.
 */
export function createCc14Assembler(pairWindowMs = 20) {
  // Per channel × 32 controllers: last MSB, last LSB, and when an unpaired half arrived.
  const msb = new Uint8Array(16 * 32);
  const lsb = new Uint8Array(16 * 32);
  const unpairedMsbAt = new Float64Array(16 * 32).fill(Number.NEGATIVE_INFINITY);
  const unpairedLsbAt = new Float64Array(16 * 32).fill(Number.NEGATIVE_INFINITY);

  return {
    /** Feed any CC; returns the 14-bit value of controller 0–31 it updates, or undefined. */
    push(
      channel: number,
      controller: number,
      value: number,
      at: number,
    ): { controller: number; value: number } | undefined {
      if (controller >= 64) return undefined;
      const base = controller & 31;
      const i = channel * 32 + base;
      if (controller < 32) {
        msb[i] = value;
        if (at - unpairedLsbAt[i]! <= pairWindowMs) {
          unpairedLsbAt[i] = Number.NEGATIVE_INFINITY; // LSB-first pair, complete
        } else {
          lsb[i] = 0;
          unpairedMsbAt[i] = at;
        }
        return { controller: base, value: (msb[i]! << 7) | lsb[i]! };
      }
      lsb[i] = value;
      if (at - unpairedMsbAt[i]! <= pairWindowMs) unpairedMsbAt[i] = Number.NEGATIVE_INFINITY;
      else unpairedLsbAt[i] = at;
      return { controller: base, value: (msb[i]! << 7) | lsb[i]! };
    },
  };
}

export type ParameterNumberEvent = { channel: number; kind: 'nrpn' | 'rpn'; number: number; value: number };

/**
 * NRPN (CC 99/98) and RPN (CC 101/100) selection with data entry (CC 6 MSB, 38 LSB) and
 * increment/decrement (CC 96/97). RPN 127/127 is the null parameter: data entry then does nothing.
 */
export function createParameterNumberAssembler() {
  type Sel = { kind: 'nrpn' | 'rpn' | undefined; msb: number; lsb: number; value: number };
  const sel: Sel[] = Array.from({ length: 16 }, () => ({ kind: undefined, msb: 0, lsb: 0, value: 0 }));

  return {
    /** Feed any CC; returns the parameter event it completes, or undefined. */
    push(channel: number, controller: number, value: number): ParameterNumberEvent | undefined {
      const s = sel[channel]!;
      const select = (kind: 'nrpn' | 'rpn', part: 'msb' | 'lsb') => {
        if (s.kind !== kind) {
          s.kind = kind;
          s.msb = 0;
          s.lsb = 0;
        }
        s[part] = value;
        if (kind === 'rpn' && s.msb === 127 && s.lsb === 127) s.kind = undefined;
        return undefined;
      };
      switch (controller) {
        case 99:
          return select('nrpn', 'msb');
        case 98:
          return select('nrpn', 'lsb');
        case 101:
          return select('rpn', 'msb');
        case 100:
          return select('rpn', 'lsb');
        case 6:
          if (!s.kind) return undefined;
          s.value = value << 7;
          break;
        case 38:
          if (!s.kind) return undefined;
          s.value = (s.value & 0x3f80) | value;
          break;
        case 96:
        case 97:
          if (!s.kind) return undefined;
          s.value = Math.min(16383, Math.max(0, s.value + (controller === 96 ? 1 : -1)));
          break;
        default:
          return undefined;
      }
      return { channel, kind: s.kind, number: (s.msb << 7) | s.lsb, value: s.value };
    },
  };
}

/** Signed steps from a relative (endless) encoder's 7-bit value. */
export function decodeRelative(value: number, encoding: 'twosComplement' | 'offset64' | 'signBit'): number {
  const v = value & 0x7f;
  switch (encoding) {
    case 'twosComplement':
      return v < 64 ? v : v - 128;
    case 'offset64':
      return v - 64;
    case 'signBit':
      return v & 0x40 ? -(v & 0x3f) : v & 0x3f;
  }
}
