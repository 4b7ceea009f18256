import { z } from 'zod';

// An ISF (Interactive Shader Format, isf.video, spec 2.0) fragment shader: a GLSL ES 1.00 fragment
// shader whose first thing is a comment holding a JSON dict that declares its INPUTS and PASSES.
// The file arrives inside a plugin folder from whoever published it, so the header is checked
// here (types, names, limits) before the daemon sends a byte of it to an output page, and the
// page checks the same limits again before it compiles anything.

/** Limits on one shader; docs/plugins.md lists them. */
export const ISF_LIMITS = {
  /** Bytes of the whole .fs file. */
  sourceBytes: 64 * 1024,
  /** Rendering passes (PASSES entries), the last one draws the layer. */
  passes: 4,
  /** INPUTS, each one uniform. */
  inputs: 32,
  /** Largest side of any buffer the page renders into, in pixels. */
  textureSize: 4096,
  /** Shaders one plugin may ship. */
  shadersPerPlugin: 4,
} as const;

/** A GLSL identifier that is not reserved for the GL or ISF's own names. */
const Name = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'a NAME is a GLSL identifier: a letter, then letters, digits or _')
  .refine(
    (n) => !n.startsWith('gl_') && !n.startsWith('isf_') && !n.startsWith('hana_'),
    'gl_, isf_ and hana_ names are reserved',
  )
  .refine((n) => !RESERVED.has(n), 'that NAME is one ISF declares itself (TIME, RENDERSIZE, PASSINDEX, …)');

const RESERVED = new Set(['TIME', 'TIMEDELTA', 'RENDERSIZE', 'PASSINDEX', 'FRAMEINDEX', 'DATE', 'main']);

const num = z.number().refine(Number.isFinite);
const vec = (n: number) => z.array(num).length(n);
const common = { NAME: Name, LABEL: z.string().max(64).optional() };

const FloatInput = z
  .object({
    ...common,
    TYPE: z.literal('float'),
    DEFAULT: num.optional(),
    MIN: num.optional(),
    MAX: num.optional(),
    IDENTITY: num.optional(),
  })
  .strict();
const BoolInput = z.object({ ...common, TYPE: z.literal('bool'), DEFAULT: z.boolean().optional() }).strict();
const EventInput = z.object({ ...common, TYPE: z.literal('event') }).strict();
const LongInput = z
  .object({
    ...common,
    TYPE: z.literal('long'),
    DEFAULT: z.number().int().optional(),
    MIN: z.number().int().optional(),
    MAX: z.number().int().optional(),
    VALUES: z.array(z.number().int()).max(64).optional(),
    LABELS: z.array(z.string().max(64)).max(64).optional(),
  })
  .strict();
const ColorInput = z
  .object({
    ...common,
    TYPE: z.literal('color'),
    DEFAULT: vec(4).optional(),
    MIN: vec(4).optional(),
    MAX: vec(4).optional(),
    IDENTITY: vec(4).optional(),
  })
  .strict();
const PointInput = z
  .object({
    ...common,
    TYPE: z.literal('point2D'),
    DEFAULT: vec(2).optional(),
    MIN: vec(2).optional(),
    MAX: vec(2).optional(),
    IDENTITY: vec(2).optional(),
  })
  .strict();

export const ISF_INPUT_TYPES = ['float', 'bool', 'long', 'color', 'point2D', 'event'] as const;
const UNSUPPORTED = new Set(['image', 'audio', 'audioFFT']);

const Input = z.discriminatedUnion(
  'TYPE',
  [FloatInput, BoolInput, EventInput, LongInput, ColorInput, PointInput],
  {
    error: (iss) =>
      iss.code === 'invalid_union'
        ? `TYPE must be one of ${ISF_INPUT_TYPES.join(', ')} (hana has no image or audio inputs)`
        : undefined,
  },
);
export type IsfInput = z.infer<typeof Input>;

const flag = z
  .union([z.boolean(), z.number()])
  .transform((v) => v === true || (typeof v === 'number' && v > 0));

const Pass = z
  .object({
    TARGET: Name.optional(),
    PERSISTENT: flag.optional(),
    FLOAT: flag.optional(),
    // Buffers are the output's size: IMG_PIXEL and IMG_SIZE rely on it, and it keeps the
    // texture size limit one number. A WIDTH or HEIGHT expression is refused, not ignored.
    WIDTH: z.never({ error: 'pass WIDTH is not supported: every buffer is the output size' }).optional(),
    HEIGHT: z.never({ error: 'pass HEIGHT is not supported: every buffer is the output size' }).optional(),
    DESCRIPTION: z.string().max(256).optional(),
  })
  .strict();

export const IsfHeader = z
  .object({
    ISFVSN: z.string().max(16).optional(),
    VSN: z.string().max(16).optional(),
    DESCRIPTION: z.string().max(1024).optional(),
    CREDIT: z.string().max(256).optional(),
    CATEGORIES: z.array(z.string().max(64)).max(16).optional(),
    INPUTS: z.array(Input).max(ISF_LIMITS.inputs, `at most ${ISF_LIMITS.inputs} INPUTS`).default([]),
    PASSES: z.array(Pass).min(1).max(ISF_LIMITS.passes, `at most ${ISF_LIMITS.passes} PASSES`).default([{}]),
    IMPORTED: z.never({ error: 'IMPORTED images are not supported' }).optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    const names = new Set<string>();
    for (const [i, n] of [
      ...h.INPUTS.map((x) => x.NAME),
      ...h.PASSES.flatMap((p) => (p.TARGET ? [p.TARGET] : [])),
    ].entries()) {
      if (names.has(n))
        ctx.addIssue({
          code: 'custom',
          message: `${n} is declared twice (inputs and pass targets share one namespace)`,
          path: [i],
        });
      names.add(n);
    }
    h.PASSES.forEach((p, i) => {
      if (i < h.PASSES.length - 1 && !p.TARGET)
        ctx.addIssue({
          code: 'custom',
          message: `pass ${i} has no TARGET: only the last pass may draw to the output`,
          path: ['PASSES', i],
        });
    });
  });
export type IsfHeader = z.infer<typeof IsfHeader>;

export type IsfShader = { readonly header: IsfHeader; readonly source: string };
export type IsfResult = { ok: true; shader: IsfShader } | { ok: false; error: string };

/** The leading comment's JSON, or why there is none. */
function leadingJson(source: string): { ok: true; text: string } | { ok: false; error: string } {
  const start = source.search(/\S/);
  if (start < 0 || !source.startsWith('/*', start))
    return { ok: false, error: 'an ISF file starts with a /* comment */ holding its JSON header' };
  const end = source.indexOf('*/', start + 2);
  if (end < 0) return { ok: false, error: 'the header comment is never closed (*/)' };
  return { ok: true, text: source.slice(start + 2, end) };
}

/** Parses and checks an ISF file's text. Never throws. */
export function parseIsf(source: string): IsfResult {
  if (Buffer.byteLength(source, 'utf8') > ISF_LIMITS.sourceBytes)
    return { ok: false, error: `the shader is larger than ${ISF_LIMITS.sourceBytes} bytes` };
  // Compiled as GLSL ES 1.00 with hana's own preamble in front: a #version line must be first in
  // a shader, so it cannot be honoured, and refusing it says so at install rather than on a page.
  if (/^\s*#\s*version\b/m.test(source))
    return { ok: false, error: 'a #version line is not allowed (ISF shaders are compiled as GLSL ES 1.00)' };
  const json = leadingJson(source);
  if (!json.ok) return json;
  let raw: unknown;
  try {
    raw = JSON.parse(json.text);
  } catch (err) {
    return { ok: false, error: `the header is not JSON: ${(err as Error).message}` };
  }
  const inputs = (raw as { INPUTS?: unknown })?.INPUTS;
  if (Array.isArray(inputs)) {
    for (const x of inputs) {
      const t = (x as { TYPE?: unknown })?.TYPE;
      if (typeof t === 'string' && UNSUPPORTED.has(t))
        return {
          ok: false,
          error: `input ${JSON.stringify((x as { NAME?: unknown }).NAME)} is of TYPE ${t}: hana has no image or audio inputs`,
        };
    }
  }
  const r = IsfHeader.safeParse(raw);
  if (!r.success) return { ok: false, error: `the header is invalid: ${z.prettifyError(r.error)}` };
  return { ok: true, shader: { header: r.data, source } };
}
