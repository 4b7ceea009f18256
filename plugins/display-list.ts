import { z } from 'zod';

// The display list a plugin returns each frame, and the composed frame the runtime streams to
// the output page. This schema is the TypeScript source of truth; plugins/api/hana-plugin.d.ts is
// the author-facing copy of the same shapes. Everything here arrives from an isolate running
// untrusted code, so every number is finite and bounded, every string short, every list capped,
// and unknown fields are errors (a renderer must never meet a shape it was not written for).

export const MAX_COMMANDS = 2000;
export const MAX_POLYLINE_NUMBERS = 2000;
export const MAX_TEXT_LENGTH = 200;
/** Checked on the serialized list before it is parsed: parsing is the expensive part. */
export const MAX_DISPLAY_LIST_BYTES = 256 * 1024;
/** Coordinates, sizes and transform entries stay within ±this (far beyond any real output). */
export const COORD_LIMIT = 1_000_000;

// Numbers are checked by a plain predicate inside the schema: measured here, z.number().min().max()
// costs ≈ 0.16 µs per number (400 µs for one 2,000-point polyline), this ≈ 0.01 µs. Every frame of
// every plugin goes through it, so it is the runtime's hot path. NaN fails both comparisons.
const inRange = (lo: number, hi: number) => (v: unknown) => typeof v === 'number' && v >= lo && v <= hi;
const isCoord = inRange(-COORD_LIMIT, COORD_LIMIT);
const Num = z.custom<number>(isCoord, `a finite number within ±${COORD_LIMIT}`);
const Size = z.custom<number>(inRange(0, COORD_LIMIT), `a finite number from 0 to ${COORD_LIMIT}`);
const Points = z.custom<number[]>((v) => {
  if (!Array.isArray(v) || v.length < 2 || v.length > MAX_POLYLINE_NUMBERS || v.length % 2 !== 0)
    return false;
  for (const n of v) if (!isCoord(n)) return false;
  return true;
}, `points is a flat list x0, y0, x1, y1, … : an even count of 2 to ${MAX_POLYLINE_NUMBERS} finite numbers within ±${COORD_LIMIT}`);

export const Color = z
  .string()
  .regex(/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/, 'a colour is "#rgb", "#rrggbb" or "#rrggbbaa"');
export const Blend = z.enum(['normal', 'add', 'multiply', 'screen']);
export const Transform = z.tuple([Num, Num, Num, Num, Num, Num]);

const style = {
  color: Color.optional(),
  alpha: z.custom<number>(inRange(0, 1), 'alpha is from 0 to 1').optional(),
  blend: Blend.optional(),
  lineWidth: z.custom<number>(inRange(0, 1000), 'lineWidth is from 0 to 1000').optional(),
  fill: z.boolean().optional(),
  transform: Transform.optional(),
};

const Clear = z.object({ op: z.literal('clear'), color: Color.optional() }).strict();
const Rect = z.object({ op: z.literal('rect'), x: Num, y: Num, w: Num, h: Num, ...style }).strict();
const Circle = z.object({ op: z.literal('circle'), x: Num, y: Num, r: Size, ...style }).strict();
const Line = z.object({ op: z.literal('line'), x1: Num, y1: Num, x2: Num, y2: Num, ...style }).strict();
const Polyline = z
  .object({
    op: z.literal('polyline'),
    points: Points,
    closed: z.boolean().optional(),
    ...style,
  })
  .strict();
const Text = z
  .object({
    op: z.literal('text'),
    x: Num,
    y: Num,
    text: z.string().max(MAX_TEXT_LENGTH),
    size: z.custom<number>(inRange(0, 1000), 'size is from 0 to 1000').optional(),
    align: z.enum(['left', 'center', 'right']).optional(),
    ...style,
  })
  .strict();

export const Command = z.discriminatedUnion('op', [Clear, Rect, Circle, Line, Polyline, Text]);
export type Command = z.infer<typeof Command>;

export const DisplayList = z.array(Command).max(MAX_COMMANDS);
export type DisplayList = z.infer<typeof DisplayList>;

export const Layer = z.object({ id: z.string().min(1).max(64), commands: DisplayList }).strict();
export type Layer = z.infer<typeof Layer>;

/** One frame of the whole output: every running plugin's latest list, in configured order. */
export const ComposedFrame = z
  .object({
    index: z.number().int().min(0),
    /** Session time in seconds. */
    time: z.number(),
    beat: z.number(),
    tempo: z.number(),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    layers: z.array(Layer),
  })
  .strict();
export type ComposedFrame = z.infer<typeof ComposedFrame>;

export type DisplayListCode =
  | 'too-large'
  | 'not-json'
  | 'not-a-list'
  | 'too-many-commands'
  | 'invalid-command';
export type DisplayListResult =
  | { ok: true; commands: DisplayList }
  | { ok: false; code: DisplayListCode; error: string };

const fail = (code: DisplayListCode, error: string): DisplayListResult => ({ ok: false, code, error });

/** Validates an already-parsed list. Never throws. */
export function validateDisplayList(value: unknown): DisplayListResult {
  if (!Array.isArray(value)) return fail('not-a-list', `frame must return an array, got ${describe(value)}`);
  if (value.length > MAX_COMMANDS)
    return fail('too-many-commands', `${value.length} commands, more than ${MAX_COMMANDS}`);
  const r = DisplayList.safeParse(value);
  if (r.success) return { ok: true, commands: r.data };
  const issue = r.error.issues[0]!;
  const where = issue.path.length ? `command ${issue.path.map(String).join('.')}` : 'list';
  return fail('invalid-command', `${where}: ${issue.message}`);
}

/** Validates a serialized list: size cap first, then JSON, then the schema. Never throws. */
export function parseDisplayList(json: string): DisplayListResult {
  if (json.length > MAX_DISPLAY_LIST_BYTES)
    return fail('too-large', `${json.length} bytes serialized, more than ${MAX_DISPLAY_LIST_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return fail('not-json', 'the display list is not valid JSON');
  }
  return validateDisplayList(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return typeof value;
}
