import type { Value } from './coerce.ts';
import { compareStamps, type Stamp } from './hlc.ts';

// The one order every daemon ranks two writes of a path by. Stamps decide; two different values
// under one stamp can only come from an origin that equivocated (or a bug), and then the value
// itself breaks the tie, so every daemon that holds both still keeps the same one.

/** A value's canonical text: distinct values (including 1 and true, 0 and −0) never share one. */
export function valueKey(v: Value): string {
  if (v === null) return 'n';
  if (typeof v === 'boolean') return v ? 'b1' : 'b0';
  if (typeof v === 'number') return Object.is(v, -0) ? 'f-0' : `f${v}`;
  return `s${v}`;
}

export const sameValue = (a: Value, b: Value): boolean => a === b && (a !== 0 || Object.is(a, b));

/** Stamp order, then the value's canonical text for the equal-stamp case. */
export function compareWrites(a: { stamp: Stamp; value: Value }, b: { stamp: Stamp; value: Value }): number {
  const s = compareStamps(a.stamp, b.stamp);
  if (s !== 0 || sameValue(a.value, b.value)) return s;
  const ka = valueKey(a.value);
  const kb = valueKey(b.value);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
