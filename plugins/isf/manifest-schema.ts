import { z } from 'zod';
import { ParamAddress } from '../../daemon/config/params-schema.ts';
import { relativePathProblem } from '../paths.ts';
import { ISF_LIMITS } from './header.ts';

// The manifest's "shaders": ISF files the plugin ships, each with its INPUTS mapped to hana
// parameters. The files are plugin files like any other, so the signature covers them; this is
// only their shape. Whether each input exists in the file's header, and each parameter in the
// registry with a fitting type, is checked when the plugin loads (inputs.ts).

const ShaderFile = z
  .string()
  .superRefine((p, ctx) => {
    const problem = relativePathProblem(p);
    if (problem)
      ctx.addIssue({ code: 'custom', message: `shader file ${problem}; it is a path inside the plugin` });
  })
  .refine((p) => p.endsWith('.fs'), 'a shader file is an ISF fragment shader ending in ".fs"');

/** One parameter, or for a point2D input two (x, y). */
const Target = z.union([ParamAddress, z.tuple([ParamAddress, ParamAddress])]);

export const ShaderRef = z
  .object({
    file: ShaderFile,
    inputs: z
      .record(z.string().max(64), Target)
      .default({})
      .refine((r) => Object.keys(r).length <= ISF_LIMITS.inputs, `at most ${ISF_LIMITS.inputs} inputs`)
      .describe('ISF input NAME → the parameter it follows (two for a point2D).'),
  })
  .strict();
export type ShaderRef = z.infer<typeof ShaderRef>;

export const Shaders = z
  .array(ShaderRef)
  .min(1)
  .max(ISF_LIMITS.shadersPerPlugin, `at most ${ISF_LIMITS.shadersPerPlugin} shaders`)
  .describe("ISF fragment shaders drawn in the plugin's layer, under its display list.");
