// Values that span several controller messages: 14-bit CC pairs, (N)RPN parameters, and the
// deltas of relative encoders. Pure, one assembler per input device, fed every control change
// of that device in order (other CCs matter: they tell which halves arrived back to back).
// Inputs outside MIDI's ranges are programmer errors (RangeError); any 7-bit input is fine.

export type Cc14AssemblerInit = {
  /**
   * When `push` gets timestamps (ms): two halves further apart than this are never one pair.
   * Default 20; a controller sends both halves within a millisecond or two.
   */
  pairWindowMs?: number;
};

/** `controller` is the MSB's number, 0–31; `value` 0..16383. */
export type Cc14Value = { readonly channel: number; readonly controller: number; readonly value: number };

export type Cc14Assembler = {
  /** Feed every CC; returns the 14-bit value it sets for controller 0–31, or undefined. */
  push(channel: number, controller: number, value: number, at?: number): Cc14Value | undefined;
  reset(): void;
};

function checkCc(channel: number, controller: number, value: number): void {
  if (!(channel >= 0 && channel <= 15 && Number.isInteger(channel))) {
    throw new RangeError(`channel ${channel}`);
  }
  if (!(controller >= 0 && controller <= 127 && Number.isInteger(controller))) {
    throw new RangeError(`controller ${controller}`);
  }
  if (!(value >= 0 && value <= 127 && Number.isInteger(value))) throw new RangeError(`value ${value}`);
}

/**
 * 14-bit CC: MSB on CC 0–31, LSB on CC 32–63. The rule (MIDI 1.0): a new MSB resets the LSB
 * to 0 and yields MSB<<7, so controllers that never send an LSB still work; an LSB alone
 * updates the low bits of the last MSB (nothing is yielded before any MSB: guessing 0 would
 * jump the control). One exception, for controllers that send the LSB first: an MSB whose
 * immediately preceding CC on the channel was its own LSB keeps that LSB, unless that LSB
 * was itself the second half of an MSB-first pair (and, given timestamps, came within
 * `pairWindowMs`). So for both orders the value after each complete pair is exact: MSB-first
 * yields MSB<<7 then the refined value, LSB-first a transient old-MSB+new-LSB, then the
 * exact value. A controller can't say which order it uses; this rule needs no configuration.
 */
export function createCc14Assembler(init: Cc14AssemblerInit = {}): Cc14Assembler {
  const windowMs = init.pairWindowMs ?? 20;
  if (!(windowMs >= 0)) throw new RangeError(`pairWindowMs must be ≥ 0, got ${windowMs}`);
  // Per channel × 32 pairs. MSB -1: none seen yet.
  const msb = new Int16Array(16 * 32);
  const lsb = new Uint8Array(16 * 32);
  // Per channel, the previous CC: its number, whether it completed a pair, when (NaN: unknown).
  const prevCtl = new Int16Array(16);
  const prevPaired = new Uint8Array(16);
  const prevAt = new Float64Array(16);

  function reset(): void {
    msb.fill(-1);
    lsb.fill(0);
    prevCtl.fill(-1);
    prevPaired.fill(0);
    prevAt.fill(Number.NaN);
  }
  reset();

  return {
    push(channel, controller, value, at = Number.NaN) {
      checkCc(channel, controller, value);
      const prev = prevCtl[channel]!;
      const prevWasPaired = prevPaired[channel] === 1;
      const since = at - prevAt[channel]!; // NaN without timestamps: no time limit
      prevCtl[channel] = controller;
      prevAt[channel] = at;
      prevPaired[channel] = 0;
      if (controller >= 64) return undefined;
      const pair = controller & 31;
      const i = channel * 32 + pair;
      if (controller < 32) {
        const lsbFirst = prev === controller + 32 && !prevWasPaired && !(since > windowMs);
        if (lsbFirst) prevPaired[channel] = 1;
        else lsb[i] = 0;
        msb[i] = value;
        return { channel, controller: pair, value: (value << 7) | lsb[i]! };
      }
      lsb[i] = value;
      if (prev === pair && !prevWasPaired && !(since > windowMs)) prevPaired[channel] = 1;
      const m = msb[i]!;
      return m < 0 ? undefined : { channel, controller: pair, value: (m << 7) | value };
    },
    reset,
  };
}

/** `number` and `value` are 0..16383. */
export type ParameterNumberValue = {
  readonly channel: number;
  readonly kind: 'nrpn' | 'rpn';
  readonly number: number;
  readonly value: number;
};

export type ParameterNumberAssembler = {
  /** Feed every CC; returns the parameter value a data entry or increment sets, or undefined. */
  push(channel: number, controller: number, value: number): ParameterNumberValue | undefined;
  reset(): void;
};

const NONE = 0;
const NRPN = 1;
const RPN = 2;

/**
 * NRPN (CC 99 MSB, 98 LSB) and RPN (CC 101 MSB, 100 LSB) selection, data entry (CC 6 MSB,
 * 38 LSB) and increment/decrement (CC 96/97), per channel. Data entry does nothing until both
 * halves of a parameter number are known, and after RPN null (127/127). Data entry MSB yields
 * MSB<<7 (LSB reset to 0), LSB refines it; an LSB sent just before its MSB pairs with it, as
 * for 14-bit CCs. Selecting a different parameter forgets the data value. Increment and
 * decrement step the 14-bit value by 1, clamped; their data byte is ignored, as most
 * receivers do, and they do nothing before the value is known.
 */
export function createParameterNumberAssembler(): ParameterNumberAssembler {
  // -1: not received yet. `selected` is the full parameter number, -1 when none or incomplete.
  const nrpnMsb = new Int8Array(16);
  const nrpnLsb = new Int8Array(16);
  const rpnMsb = new Int8Array(16);
  const rpnLsb = new Int8Array(16);
  const kind = new Uint8Array(16);
  const selected = new Int16Array(16);
  const dataMsb = new Int8Array(16);
  const dataLsb = new Uint8Array(16);
  const prevCtl = new Int16Array(16);
  const prevPaired = new Uint8Array(16);

  function reset(): void {
    for (const a of [nrpnMsb, nrpnLsb, rpnMsb, rpnLsb, selected, dataMsb, prevCtl]) a.fill(-1);
    kind.fill(NONE);
    dataLsb.fill(0);
    prevPaired.fill(0);
  }
  reset();

  function select(channel: number, k: typeof NRPN | typeof RPN): undefined {
    const m = k === NRPN ? nrpnMsb[channel]! : rpnMsb[channel]!;
    const l = k === NRPN ? nrpnLsb[channel]! : rpnLsb[channel]!;
    let n = m < 0 || l < 0 ? -1 : (m << 7) | l;
    if (k === RPN && n === 16383) n = -1; // RPN null: deselect, data entry now does nothing
    const nk = n < 0 ? NONE : k;
    if (nk !== kind[channel] || n !== selected[channel]) {
      kind[channel] = nk;
      selected[channel] = n;
      dataMsb[channel] = -1;
      dataLsb[channel] = 0;
    }
    return undefined;
  }

  const result = (channel: number, value: number): ParameterNumberValue => ({
    channel,
    kind: kind[channel] === NRPN ? 'nrpn' : 'rpn',
    number: selected[channel]!,
    value,
  });

  return {
    push(channel, controller, value) {
      checkCc(channel, controller, value);
      const prev = prevCtl[channel]!;
      const prevWasPaired = prevPaired[channel] === 1;
      prevCtl[channel] = controller;
      prevPaired[channel] = 0;
      switch (controller) {
        case 99:
          nrpnMsb[channel] = value;
          return select(channel, NRPN);
        case 98:
          nrpnLsb[channel] = value;
          return select(channel, NRPN);
        case 101:
          rpnMsb[channel] = value;
          return select(channel, RPN);
        case 100:
          rpnLsb[channel] = value;
          return select(channel, RPN);
      }
      if (kind[channel] === NONE) return undefined;
      switch (controller) {
        case 6: {
          if (prev === 38 && !prevWasPaired) prevPaired[channel] = 1;
          else dataLsb[channel] = 0;
          dataMsb[channel] = value;
          return result(channel, (value << 7) | dataLsb[channel]!);
        }
        case 38: {
          dataLsb[channel] = value;
          if (prev === 6 && !prevWasPaired) prevPaired[channel] = 1;
          const m = dataMsb[channel]!;
          return m < 0 ? undefined : result(channel, (m << 7) | value);
        }
        case 96:
        case 97: {
          const m = dataMsb[channel]!;
          if (m < 0) return undefined;
          const current = (m << 7) | dataLsb[channel]!;
          const next = Math.min(16383, Math.max(0, current + (controller === 96 ? 1 : -1)));
          dataMsb[channel] = next >> 7;
          dataLsb[channel] = next & 0x7f;
          return result(channel, next);
        }
        default:
          return undefined;
      }
    },
    reset,
  };
}

export type RelativeEncoding = 'twosComplement' | 'offset64' | 'signBit';

/**
 * Signed steps from a relative (endless) encoder's value. twosComplement: 1..63 up, 127..64
 * down 1..64; offset64 (binary offset): 64 is 0, 65 +1, 63 -1; signBit: bit 6 is the sign,
 * the low 6 bits the size. Only the low 7 bits are read: the value comes off the wire, and a
 * mapping may hand over a wider one, so this never throws on a number.
 */
export function decodeRelative(value: number, encoding: RelativeEncoding): number {
  const v = value & 0x7f;
  switch (encoding) {
    case 'twosComplement':
      return v < 64 ? v : v - 128;
    case 'offset64':
      return v - 64;
    case 'signBit': {
      const size = v & 0x3f;
      return v & 0x40 && size !== 0 ? -size : size; // 64 is "minus zero": 0, not -0
    }
    default:
      throw new TypeError(`unknown relative encoding ${String(encoding)}`);
  }
}
