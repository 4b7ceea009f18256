import type { OscArg as Arg } from '../../protocols/osc/types.ts';
import type { ParamSpec } from '../config/params-schema.ts';

// Turning untrusted arguments into a declared parameter's value. Both OSC arguments and the
// CLI's text end up in the same range check, so "0.5" typed by an operator and 0.5 sent by a
// fader are judged alike.

/** A parameter's stored value: number (float/int), boolean, string (also colours, as "#rrggbbaa"), null (trigger). */
export type Value = number | boolean | string | null;

export type CoerceCode = 'wrong-type' | 'wrong-arity' | 'out-of-range' | 'not-finite';

export type Coerced =
  | { ok: true; value: Value; clamped: boolean; noop?: false }
  /** A trigger "release" (0 or F): valid input that fires nothing. */
  | { ok: true; value: null; clamped: false; noop: true }
  | { ok: false; code: CoerceCode; message: string };

const fail = (code: CoerceCode, message: string): Coerced => ({ ok: false, code, message });
const ok = (value: Value, clamped = false): Coerced => ({ ok: true, value, clamped });

const NUMERIC = new Set(['i', 'h', 'f', 'd']);
const INTEGRAL = new Set(['i', 'h']);

export function coerceArgs(spec: ParamSpec, args: readonly Arg[]): Coerced {
  if (spec.type === 'trigger') {
    if (args.length > 1)
      return fail('wrong-arity', `a trigger takes at most one argument, got ${args.length}`);
    const a = args[0];
    if (a === undefined || a.type === 'I' || a.type === 'N' || a.type === 'T') return ok(null);
    if (a.type === 'F') return { ok: true, value: null, clamped: false, noop: true };
    if (NUMERIC.has(a.type)) {
      const n = a.value as number;
      if (Number.isNaN(n)) return fail('not-finite', 'a trigger argument must be a number, not NaN');
      return n === 0 ? { ok: true, value: null, clamped: false, noop: true } : ok(null);
    }
    return fail('wrong-type', `a trigger takes no argument, a number or a boolean, got type '${a.type}'`);
  }
  if (spec.type === 'color') return colorFromArgs(args);
  if (args.length !== 1)
    return fail('wrong-arity', `${spec.type} takes exactly one argument, got ${args.length}`);
  const a = args[0]!;
  switch (spec.type) {
    case 'float':
      if (!NUMERIC.has(a.type)) return fail('wrong-type', `float expects a number, got type '${a.type}'`);
      return inRange(spec, a.value as number);
    case 'int': {
      if (!NUMERIC.has(a.type)) return fail('wrong-type', `int expects a number, got type '${a.type}'`);
      const n = a.value as number;
      if (!INTEGRAL.has(a.type) && Number.isFinite(n) && !Number.isInteger(n)) {
        return fail('wrong-type', `int expects a whole number, got ${n}`);
      }
      return inRange(spec, n);
    }
    case 'bool':
      if (a.type === 'T' || a.type === 'F') return ok(a.value as boolean);
      if (NUMERIC.has(a.type)) return ok((a.value as number) !== 0);
      return fail('wrong-type', `bool expects T, F or a number, got type '${a.type}'`);
    case 'string':
      if (a.type !== 's' && a.type !== 'S' && a.type !== 'c') {
        return fail('wrong-type', `string expects a string, got type '${a.type}'`);
      }
      return stringValue(spec, a.value as string);
  }
}

/** The CLI's words (`hana set /tempo 128`), judged by the declared type. */
// What `hana set` takes for each type, in the words a person types (not OSC type tags).
const TEXT_FORMS: Record<ParamSpec['type'], string> = {
  float: 'a number, e.g. 0.5',
  int: 'a whole number, e.g. 3',
  bool: 'true or false (also on/off, yes/no, 1/0)',
  string: 'any text',
  color: 'a colour: "#rrggbb", "#rrggbbaa", or 3–4 numbers (0–255, or 0–1)',
  trigger: 'no value, or 1 to fire',
};

/** Words typed at the CLI, with errors in CLI words (`hana set /master/blackout maybe`). */
export function coerceText(spec: ParamSpec, words: readonly string[]): Coerced {
  const c = textValue(spec, words);
  if (c.ok || (c.code !== 'wrong-type' && c.code !== 'wrong-arity')) return c;
  const given = words.length ? words.map((w) => JSON.stringify(w)).join(' ') : 'no value';
  return fail(c.code, `${given} is not a ${spec.type} value: give ${TEXT_FORMS[spec.type]}`);
}

function textValue(spec: ParamSpec, words: readonly string[]): Coerced {
  if (spec.type === 'string') return stringValue(spec, words.join(' '));
  if (spec.type === 'trigger') {
    if (words.length === 0) return ok(null);
    return coerceArgs(spec, words.map(textToArg));
  }
  if (spec.type === 'bool' && words.length === 1) {
    const w = words[0]!.toLowerCase();
    if (['true', 'on', 'yes'].includes(w)) return ok(true);
    if (['false', 'off', 'no'].includes(w)) return ok(false);
  }
  if (spec.type === 'color' && words.length === 1) return coerceArgs(spec, [{ type: 's', value: words[0]! }]);
  return coerceArgs(spec, words.map(textToArg));
}

function textToArg(w: string): Arg {
  const trimmed = w.trim();
  if (/^[-+]?\d+$/.test(trimmed)) return { type: 'i', value: Number(trimmed) };
  if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(trimmed) || /^[-+]?(inf(inity)?|nan)$/i.test(trimmed)) {
    return { type: 'd', value: Number(trimmed.replace(/inf$/i, 'Infinity')) };
  }
  return { type: 's', value: w };
}

function inRange(spec: Extract<ParamSpec, { type: 'float' | 'int' }>, n: number): Coerced {
  if (!Number.isFinite(n)) return fail('not-finite', `${n} is not a finite number`);
  const below = spec.min !== undefined && n < spec.min;
  const above = spec.max !== undefined && n > spec.max;
  if (!below && !above) return ok(n);
  if (spec.outOfRange === 'reject') {
    return fail('out-of-range', `${n} is outside [${spec.min ?? '-∞'}, ${spec.max ?? '∞'}]`);
  }
  return ok(below ? spec.min! : spec.max!, true);
}

function stringValue(
  spec: { maxLength: number; values?: readonly string[] | undefined },
  s: string,
): Coerced {
  if (s.length > spec.maxLength)
    return fail('out-of-range', `string is ${s.length} characters, more than ${spec.maxLength}`);
  const notAllowed = notAmong(spec.values, s);
  return notAllowed ? fail('out-of-range', notAllowed) : ok(s);
}

/** Why `s` is refused by a parameter's `values` (an enum), or undefined when it is allowed. */
export function notAmong(values: readonly string[] | undefined, s: string): string | undefined {
  if (values === undefined || values.includes(s)) return undefined;
  return `${JSON.stringify(s.slice(0, 40))} is not one of ${values.join(', ')}`;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** Normalises "#rgb…" text to "#rrggbbaa"; undefined when it is not a colour. */
export function canonicalColor(text: string): string | undefined {
  if (!/^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/.test(text)) return undefined;
  return (text.length === 7 ? text + 'ff' : text).toLowerCase();
}

function colorFromArgs(args: readonly Arg[]): Coerced {
  if (args.length === 1) {
    const a = args[0]!;
    if (a.type === 'r') {
      const { r, g, b, a: alpha } = a.value;
      return ok(`#${hex2(r)}${hex2(g)}${hex2(b)}${hex2(alpha)}`);
    }
    if (a.type === 's' || a.type === 'S') {
      const c = canonicalColor(a.value);
      return c
        ? ok(c)
        : fail('wrong-type', `"${a.value.slice(0, 32)}" is not a colour ("#rrggbb" or "#rrggbbaa")`);
    }
    return fail('wrong-type', `color expects r, a "#rrggbb" string or 3–4 numbers, got type '${a.type}'`);
  }
  if (args.length !== 3 && args.length !== 4) {
    return fail('wrong-arity', `color takes 1, 3 or 4 arguments, got ${args.length}`);
  }
  if (!args.every((a) => NUMERIC.has(a.type))) return fail('wrong-type', 'color components must be numbers');
  const nums = args.map((a) => a.value as number);
  if (!nums.every(Number.isFinite)) return fail('not-finite', 'color components must be finite');
  // All-integer components are 0–255 (as most apps send bytes); otherwise 0–1 floats.
  const bytes = args.every((a) => INTEGRAL.has(a.type));
  const scale = bytes ? 1 : 255;
  const max = bytes ? 255 : 1;
  if (nums.some((n) => n < 0 || n > max))
    return fail('out-of-range', `color components must be within 0–${max}`);
  const [r, g, b, alpha = max] = nums as [number, number, number, number?];
  const byte = (n: number) => hex2(Math.round(n * scale));
  return ok(`#${byte(r)}${byte(g)}${byte(b)}${byte(alpha)}`);
}

/** The default a parameter starts with when the config names none. */
export function initialValue(spec: ParamSpec): Value {
  switch (spec.type) {
    case 'float':
    case 'int':
      // Zero if the range allows it, else the nearest bound.
      return spec.default ?? Math.min(Math.max(0, spec.min ?? -Infinity), spec.max ?? Infinity);
    case 'bool':
      return spec.default ?? false;
    case 'string':
      return spec.default ?? '';
    case 'color':
      return canonicalColor(spec.default ?? '#000000ff')!;
    case 'trigger':
      return null;
  }
}
