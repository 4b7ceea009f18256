import { z } from 'zod';
import type { OscArg } from '../../protocols/osc/types.ts';
import type { Value } from '../state/coerce.ts';

// How one subscriber wants values typed. The default (T/F bools, colours as "#rrggbbaa" text)
// suits TouchOSC, Open Stage Control and liblo; Pure Data vanilla's [oscparse] refuses T and F
// ("unknown tag"), and Max and Pd patches take a colour most easily as four numbers.

export const FeedbackFormat = z
  .object({
    bools: z.enum(['TF', 'int']),
    colors: z.enum(['string', 'floats', 'r']),
  })
  .strict();
export type FeedbackFormat = z.infer<typeof FeedbackFormat>;

export const DEFAULT_FORMAT: FeedbackFormat = { bools: 'TF', colors: 'string' };

/** The option words `/hana/subscribe` takes after its port, and what each sets. */
const OPTIONS: Record<string, Partial<FeedbackFormat>> = {
  plain: { bools: 'int', colors: 'floats' },
  'bools-int': { bools: 'int' },
  'color-floats': { colors: 'floats' },
  'color-r': { colors: 'r' },
};
export const FORMAT_OPTIONS = Object.keys(OPTIONS);

/** The format the option words ask for (later words win), or the first word not understood. */
export function parseFormat(words: readonly string[]): { format: FeedbackFormat } | { unknown: string } {
  let format = DEFAULT_FORMAT;
  for (const w of words) {
    const o = OPTIONS[w];
    if (!o) return { unknown: w };
    format = { ...format, ...o };
  }
  return { format };
}

/** The option words that give `f` (for status), or "" for the default. */
export function formatWords(f: FeedbackFormat): string {
  const words: string[] = [];
  if (f.bools === 'int' && f.colors === 'floats') return 'plain';
  if (f.bools === 'int') words.push('bools-int');
  if (f.colors === 'floats') words.push('color-floats');
  if (f.colors === 'r') words.push('color-r');
  return words.join(' ');
}

const channel = (hex: string, i: number) => Number.parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16);

/** A parameter's value as OSC arguments, in the subscriber's format. */
export function valueToArgs(type: string, value: Value, format: FeedbackFormat = DEFAULT_FORMAT): OscArg[] {
  switch (type) {
    case 'float':
      return [{ type: 'f', value: value as number }];
    case 'int':
      return [{ type: 'i', value: value as number }];
    case 'bool':
      if (format.bools === 'int') return [{ type: 'i', value: value ? 1 : 0 }];
      return [value ? { type: 'T', value: true } : { type: 'F', value: false }];
    case 'color': {
      const hex = value as string;
      if (format.colors === 'floats') {
        return [0, 1, 2, 3].map((i) => ({ type: 'f', value: channel(hex, i) / 255 }) as OscArg);
      }
      if (format.colors === 'r') {
        const [r, g, b, a] = [0, 1, 2, 3].map((i) => channel(hex, i));
        return [{ type: 'r', value: { r: r!, g: g!, b: b!, a: a! } }];
      }
      // Text by default, not the 'r' type tag: liblo (and so oscdump, Pure Data's liblo
      // externals) rejects 'r' messages outright, and strings round-trip through our input.
      return [{ type: 's', value: hex }];
    }
    case 'trigger':
      return [];
    default:
      return [{ type: 's', value: String(value) }];
  }
}
