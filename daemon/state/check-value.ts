import type { ParamSpec } from '../config/params-schema.ts';
import { type CoerceCode, canonicalColor, notAmong, type Value } from './coerce.ts';

// A replicated value must already be exactly what the sender's store holds: there is nothing to
// coerce, and clamping it here would make two daemons hold different values for one stamp and
// never converge. So a peer's value is checked against our declaration and refused if it does not
// fit as is (a peer with a wider range, another type, a longer string limit).

export type Checked = { ok: true } | { ok: false; code: CoerceCode; message: string };

const OK: Checked = { ok: true };
const fail = (code: CoerceCode, message: string): Checked => ({ ok: false, code, message });

export function checkValue(spec: ParamSpec, value: Value): Checked {
  switch (spec.type) {
    case 'trigger':
      return value === null ? OK : fail('wrong-type', `a trigger carries no value, got ${typeof value}`);
    case 'bool':
      return typeof value === 'boolean' ? OK : fail('wrong-type', `bool expected, got ${typeof value}`);
    case 'string': {
      if (typeof value !== 'string') return fail('wrong-type', `string expected, got ${typeof value}`);
      if (value.length > spec.maxLength)
        return fail('out-of-range', `string is ${value.length} characters, more than ${spec.maxLength}`);
      const refused = notAmong(spec.values, value);
      return refused === undefined ? OK : fail('out-of-range', refused);
    }
    case 'color':
      return typeof value === 'string' && canonicalColor(value) === value
        ? OK
        : fail('wrong-type', 'colour expected as "#rrggbbaa"');
    case 'float':
    case 'int': {
      if (typeof value !== 'number') return fail('wrong-type', `${spec.type} expected, got ${typeof value}`);
      if (!Number.isFinite(value)) return fail('not-finite', `${value} is not a finite number`);
      if (spec.type === 'int' && !Number.isInteger(value))
        return fail('wrong-type', `int expected, got ${value}`);
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
        return fail('out-of-range', `${value} is outside [${spec.min ?? '-∞'}, ${spec.max ?? '∞'}]`);
      }
      return OK;
    }
  }
}
