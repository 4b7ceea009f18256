import { z } from 'zod';

// Declared parameters: the only addresses the store accepts. Kept separate from the rest of the
// config because the registry, the docs generator and (later) peers all read it.

/** A concrete OSC address: no pattern characters, no empty parts, bounded length. */
export const ParamAddress = z
  .string()
  .max(256, 'an address is at most 256 characters')
  .regex(/^(\/[^\s#*,?[\]{}/]+)+$/, 'an address is "/part/part", with no spaces or any of # * , ? [ ] { }');

const common = {
  unit: z.string().max(32).optional().describe('Unit shown to people (e.g. "bpm", "deg").'),
  description: z.string().max(512).optional().describe('What the parameter does.'),
};

const OutOfRange = z
  .enum(['clamp', 'reject'])
  .default('clamp')
  .describe('What to do with a value outside [min, max]: clamp it to the range, or reject it.');

const FloatParam = z
  .object({
    type: z.literal('float'),
    min: z.number().optional().describe('Lowest accepted value.'),
    max: z.number().optional().describe('Highest accepted value.'),
    default: z.number().optional().describe('Value at start (default: 0, or the bound nearest to it).'),
    outOfRange: OutOfRange,
    ...common,
  })
  .strict();

const IntParam = z
  .object({
    type: z.literal('int'),
    min: z.number().int().optional().describe('Lowest accepted value.'),
    max: z.number().int().optional().describe('Highest accepted value.'),
    default: z.number().int().optional().describe('Value at start (default: 0, or the bound nearest to it).'),
    outOfRange: OutOfRange,
    ...common,
  })
  .strict();

const BoolParam = z.object({ type: z.literal('bool'), default: z.boolean().optional(), ...common }).strict();

const StringParam = z
  .object({
    type: z.literal('string'),
    default: z.string().optional(),
    maxLength: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(256)
      .describe(
        'Longest accepted string, in characters. Peers replicate a value in one datagram, so 256 is the most.',
      ),
    values: z
      .array(z.string().min(1).max(256))
      .min(1)
      .max(64)
      .optional()
      .describe(
        'The only strings accepted (an enum, as OSCQuery VALS); any other is refused as out-of-range. Unset: any string up to maxLength.',
      ),
    ...common,
  })
  .strict()
  .refine((p) => p.default === undefined || p.values === undefined || p.values.includes(p.default), {
    message: 'default must be one of values',
  });

const TriggerParam = z.object({ type: z.literal('trigger'), ...common }).strict();

/** Canonical colour form: lower-case #rrggbbaa. Input may omit alpha. */
export const ColorText = z
  .string()
  .regex(/^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/, 'a colour is "#rrggbb" or "#rrggbbaa"');

const ColorParam = z.object({ type: z.literal('color'), default: ColorText.optional(), ...common }).strict();

export const ParamSpec = z
  .discriminatedUnion('type', [FloatParam, IntParam, BoolParam, StringParam, TriggerParam, ColorParam])
  .superRefine((p, ctx) => {
    if (p.type !== 'float' && p.type !== 'int') return;
    if (p.min !== undefined && p.max !== undefined && p.min > p.max) {
      ctx.addIssue({
        code: 'custom',
        message: `min (${p.min}) is greater than max (${p.max})`,
        path: ['min'],
      });
    }
    if (p.default !== undefined) {
      if ((p.min !== undefined && p.default < p.min) || (p.max !== undefined && p.default > p.max)) {
        ctx.addIssue({
          code: 'custom',
          message: `default ${p.default} is outside [min, max]`,
          path: ['default'],
        });
      }
    }
  });

export type ParamSpec = z.infer<typeof ParamSpec>;
export type ParamType = ParamSpec['type'];

// zod reports a bad record key only as "Invalid key in record": surface ParamAddress's own message.
const keyMessage: z.core.$ZodErrorMap = (iss) =>
  iss.code === 'invalid_key' ? iss.issues[0]?.message : undefined;

export const ParamMap = z.record(ParamAddress, ParamSpec, { error: keyMessage }).superRefine((map, ctx) => {
  // An address cannot be both a parameter and a container of parameters: OSC dispatch would be
  // ambiguous and a pattern like /layer/* would match both.
  const paths = Object.keys(map);
  const set = new Set(paths);
  for (const p of paths) {
    // /hana/… carries hana's own messages (/hana/subscribe) and values (/hana/timeline).
    if (p === '/hana' || p.startsWith('/hana/')) {
      ctx.addIssue({ code: 'custom', message: `${p}: /hana/… is reserved for hana itself`, path: [p] });
    }
    for (let i = p.indexOf('/', 1); i > 0; i = p.indexOf('/', i + 1)) {
      if (set.has(p.slice(0, i))) {
        ctx.addIssue({
          code: 'custom',
          message: `${p.slice(0, i)} is a parameter and also a prefix of ${p}`,
          path: [p],
        });
      }
    }
  }
});
export type ParamMap = z.infer<typeof ParamMap>;

function layers(n: number): ParamMap {
  const out: ParamMap = {};
  for (let i = 1; i <= n; i++) {
    out[`/layer/${i}/opacity`] = {
      type: 'float',
      min: 0,
      max: 1,
      default: i === 1 ? 1 : 0,
      outOfRange: 'clamp',
      description: `Opacity of layer ${i}.`,
    };
    out[`/layer/${i}/hue`] = {
      type: 'float',
      min: 0,
      max: 360,
      default: 0,
      unit: 'deg',
      outOfRange: 'clamp',
      description: `Hue shift of layer ${i}.`,
    };
    out[`/layer/${i}/color`] = { type: 'color', default: '#ffffffff', description: `Tint of layer ${i}.` };
    // Applied by the output page's compositor (daemon/output/mix.ts), not by plugins.
    out[`/layer/${i}/blend`] = {
      type: 'string',
      default: 'normal',
      maxLength: 16,
      values: ['normal', 'add', 'multiply', 'screen'],
      description: `How layer ${i} is laid over the layers below it: normal, add, multiply or screen.`,
    };
    out[`/layer/${i}/deck`] = {
      type: 'string',
      default: i <= 2 ? 'a' : 'b',
      maxLength: 1,
      values: ['a', 'b'],
      description: `Crossfader deck of layer ${i}: a or b (/master/crossfade 0 shows deck A, 1 deck B).`,
    };
  }
  return out;
}

/** The demo set a fresh `hana start` declares: enough to drive from TouchOSC or oscsend at once. */
export const DEFAULT_PARAMS: ParamMap = {
  '/master/opacity': {
    type: 'float',
    min: 0,
    max: 1,
    default: 1,
    outOfRange: 'clamp',
    description: 'Master opacity of the whole output.',
  },
  '/master/blackout': { type: 'bool', default: false, description: 'Blackout: hide all output while true.' },
  '/master/crossfade': {
    type: 'float',
    min: 0,
    max: 1,
    default: 0,
    outOfRange: 'clamp',
    description: 'A/B crossfader: 0 shows deck A, 1 deck B, between mixes them.',
  },
  ...layers(4),
  '/tempo': {
    type: 'float',
    min: 20,
    max: 999,
    default: 120,
    unit: 'bpm',
    outOfRange: 'reject',
    description: 'Shared tempo in beats per minute.',
  },
  '/scene': {
    type: 'int',
    min: 0,
    max: 127,
    default: 0,
    outOfRange: 'reject',
    description: 'Current scene number.',
  },
  '/strobe': { type: 'trigger', description: 'Fire one strobe flash.' },
};
