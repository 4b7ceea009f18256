import type { Value } from './coerce.ts';
import { compareStamps, type Stamp } from './hlc.ts';

// The one order every daemon ranks two writes of a path by. Stamps decide, with one exception:
// a person's write outranks automation (a plugin's write) stamped less than PERSON_LEAD_MS after
// it. Without it, a performer's move on one laptop lost to an LFO on another that wrote the same
// parameter before the move reached it (a later stamp, written in ignorance of the move): on a
// loaded laptop, where the link's delay is longer than the LFO's period, every move was lost.
// It is an order, not a rule applied after the fact: each write ranks by its stamp's time plus
// the lead if a person made it (the origin signs that mark, sync/v2 entries.ts), so every daemon
// that holds the same writes keeps the same one, whatever order they arrived in, and no daemon
// writes anything again on anyone's behalf. Two different values under one stamp can only come
// from an origin that equivocated (or a bug), and then the value itself breaks the tie.

/** A value's canonical text: distinct values (including 1 and true, 0 and −0) never share one. */
export function valueKey(v: Value): string {
  if (v === null) return 'n';
  if (typeof v === 'boolean') return v ? 'b1' : 'b0';
  if (typeof v === 'number') return Object.is(v, -0) ? 'f-0' : `f${v}`;
  return `s${v}`;
}

export const sameValue = (a: Value, b: Value): boolean => a === b && (a !== 0 || Object.is(a, b));

/**
 * How long a person's write outranks automation stamped after it, ms: the takeover every laptop
 * agrees on, whatever its plugins.takeoverMs. Part of the protocol: laptops with different values
 * would keep different winners.
 */
export const PERSON_LEAD_MS = 1000;

type Ranked = { stamp: Stamp; value: Value; human?: boolean | undefined };
const rank = (w: Ranked): number => (w.human ? w.stamp.t + PERSON_LEAD_MS : w.stamp.t);

/** Rank (a person's write leads by PERSON_LEAD_MS), then stamp order, then the value's canonical text. */
export function compareWrites(a: Ranked, b: Ranked): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  const s = compareStamps(a.stamp, b.stamp);
  if (s !== 0 || sameValue(a.value, b.value)) return s;
  const ka = valueKey(a.value);
  const kb = valueKey(b.value);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
