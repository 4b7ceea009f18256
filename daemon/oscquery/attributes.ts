import type { OscArg } from '../../protocols/osc/types.ts';
import type { ParamSpec } from '../config/params-schema.ts';
import type { Value } from '../state/coerce.ts';

// How one declared parameter reads in OSCQuery (Vidvox/OSCQueryProposal): its type tag, access,
// range, clip mode and unit, its value as JSON and as OSC arguments. Pure, so the namespace and
// the LISTEN stream say the same thing about a parameter.

/** What hana serves of a method, in the spec's names. HOST_INFO is asked of the server, not a node. */
export const NODE_ATTRIBUTES = [
  'FULL_PATH',
  'CONTENTS',
  'TYPE',
  'ACCESS',
  'VALUE',
  'RANGE',
  'CLIPMODE',
  'UNIT',
  'DESCRIPTION',
] as const;
export type NodeAttribute = (typeof NODE_ATTRIBUTES)[number];

// Triggers are momentary buttons, which the spec types N or I; colours are `r`, whose JSON form
// is "#RRGGBBAA". A bool is declared T (apps send T or F interchangeably, per the spec).
const TYPE_TAG: Record<ParamSpec['type'], string> = {
  float: 'f',
  int: 'i',
  bool: 'T',
  string: 's',
  color: 'r',
  trigger: 'N',
};

/** hana's free-text units mapped onto the spec's list (units.md); others go out as written. */
const UNITS: Record<string, string> = {
  deg: 'angle.degree',
  degree: 'angle.degree',
  rad: 'angle.radian',
  bpm: 'time.bpm',
  ms: 'time.ms',
  s: 'time.second',
  hz: 'time.hz',
  Hz: 'time.hz',
  px: 'distance.pixels',
  db: 'gain.db',
  dB: 'gain.db',
};

export const typeTag = (spec: ParamSpec): string => TYPE_TAG[spec.type];

/** 3 (read and write), or 2 for a trigger, which has no value to read. */
export const access = (spec: ParamSpec): number => (spec.type === 'trigger' ? 2 : 3);

export function valueJson(spec: ParamSpec, value: Value): unknown {
  return spec.type === 'color' ? String(value).toUpperCase() : value;
}

function rgba(text: string): { r: number; g: number; b: number; a: number } {
  const n = (i: number) => Number.parseInt(text.slice(i, i + 2), 16);
  return { r: n(1), g: n(3), b: n(5), a: text.length >= 9 ? n(7) : 255 };
}

/** The OSC arguments of a value, typed as TYPE says (a LISTEN stream matches the namespace). */
export function valueArgs(spec: ParamSpec, value: Value): OscArg[] {
  switch (spec.type) {
    case 'float':
      return [{ type: 'f', value: value as number }];
    case 'int':
      return [{ type: 'i', value: value as number }];
    case 'bool':
      return [value ? { type: 'T', value: true } : { type: 'F', value: false }];
    case 'color':
      return [{ type: 'r', value: rgba(String(value)) }];
    case 'trigger':
      return [{ type: 'N', value: null }];
    default:
      return [{ type: 's', value: String(value) }];
  }
}

/** The attributes of a method that do not change while the daemon runs (all but VALUE). */
export function staticAttributes(path: string, spec: ParamSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { FULL_PATH: path, TYPE: typeTag(spec), ACCESS: access(spec) };
  // An enum: OSCQuery's RANGE with VALS, so a controller offers a menu instead of a text field.
  if (spec.type === 'string' && spec.values) out.RANGE = [{ VALS: [...spec.values] }];
  if (spec.type === 'float' || spec.type === 'int') {
    const range: Record<string, number> = {};
    if (spec.min !== undefined) range.MIN = spec.min;
    if (spec.max !== undefined) range.MAX = spec.max;
    if (Object.keys(range).length > 0) {
      out.RANGE = [range];
      // "none" also for a rejecting parameter: it never clips, it refuses (docs/osc.md).
      const clip =
        spec.outOfRange !== 'clamp'
          ? 'none'
          : range.MIN !== undefined && range.MAX !== undefined
            ? 'both'
            : range.MIN !== undefined
              ? 'low'
              : 'high';
      out.CLIPMODE = [clip];
    }
  }
  if (spec.unit !== undefined) out.UNIT = [UNITS[spec.unit] ?? spec.unit];
  if (spec.description !== undefined) out.DESCRIPTION = spec.description;
  return out;
}
