import type { ParamSpec } from '../config/params-schema.ts';
import type { Value } from '../state/coerce.ts';

// How a scene's value moves from where a parameter is to where the scene wants it: floats and
// colours glide, everything else (bools, ints, strings) steps at the start of the fade. Pure.

/** /tempo steps even though it is a float: a ramp would rewrite the shared timeline every tick. */
const STEPPED_FLOATS = new Set(['/tempo']);

/** Whether a parameter glides over a fade (true) or steps at its start (false). */
export function glides(path: string, spec: ParamSpec | undefined): boolean {
  if (!spec) return false;
  if (spec.type === 'color') return true;
  return spec.type === 'float' && !STEPPED_FLOATS.has(path);
}

const COLOR = /^#[0-9a-f]{8}$/i;

function channels(c: string): number[] {
  return [1, 3, 5, 7].map((i) => Number.parseInt(c.slice(i, i + 2), 16));
}

const hex = (n: number) => Math.round(n).toString(16).padStart(2, '0');

/**
 * The value a fraction `f` (0…1) of the way from `from` to `to`. Floats are linear; colours
 * are linear per channel (red, green, blue, alpha) and rounded to the 8-bit channel. A pair
 * that cannot be interpolated (a value of another kind) is `to`.
 */
export function interpolate(from: Value, to: Value, f: number): Value {
  // NaN (a clock not yet read) counts as not started, never as a NaN value.
  const k = f > 0 ? Math.min(f, 1) : 0;
  if (k === 1) return to;
  if (typeof from === 'number' && typeof to === 'number') return from + (to - from) * k;
  if (typeof from === 'string' && typeof to === 'string' && COLOR.test(from) && COLOR.test(to)) {
    const a = channels(from);
    const b = channels(to);
    return `#${a.map((x, i) => hex(x + (b[i]! - x) * k)).join('')}`;
  }
  return to;
}
