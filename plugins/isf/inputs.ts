import type { ParamSpec } from '../../daemon/config/params-schema.ts';
import type { IsfHeader, IsfInput } from './header.ts';
import type { ShaderRef } from './manifest-schema.ts';

// Whether a shader's manifest mapping fits: every mapped NAME is one of the file's INPUTS, every
// parameter is declared in the registry with a type that fits the input, and the plugin's
// `reads` allow it (a shader sees parameters through the same permission as the plugin's code).

export type ParamLookup = { get(path: string): ParamSpec | undefined };

const FITS: Record<IsfInput['TYPE'], readonly ParamSpec['type'][]> = {
  float: ['float', 'int'],
  long: ['int', 'float'],
  bool: ['bool'],
  event: ['trigger'],
  color: ['color'],
  point2D: ['float', 'int'],
};

export type InputCheck =
  | { ok: true }
  | {
      ok: false;
      code:
        | 'shader-input-unknown'
        | 'shader-input-undeclared'
        | 'shader-input-type'
        | 'shader-input-not-readable';
      error: string;
    };

export function checkShaderInputs(
  ref: ShaderRef,
  header: IsfHeader,
  registry: ParamLookup,
  canRead: (path: string) => boolean,
): InputCheck {
  const byName = new Map(header.INPUTS.map((i) => [i.NAME, i]));
  for (const [name, target] of Object.entries(ref.inputs)) {
    const input = byName.get(name);
    if (!input)
      return {
        ok: false,
        code: 'shader-input-unknown',
        error: `${ref.file}: the manifest maps ${name}, which is not one of the shader's INPUTS`,
      };
    const paths = typeof target === 'string' ? [target] : target;
    if ((input.TYPE === 'point2D') !== (paths.length === 2))
      return {
        ok: false,
        code: 'shader-input-type',
        error: `${ref.file}: ${name} is a ${input.TYPE}: map it to ${input.TYPE === 'point2D' ? 'two parameters [x, y]' : 'one parameter'}`,
      };
    for (const path of paths) {
      const spec = registry.get(path);
      if (!spec)
        return {
          ok: false,
          code: 'shader-input-undeclared',
          error: `${ref.file}: ${name} maps to ${path}, which is not a declared parameter`,
        };
      if (!FITS[input.TYPE].includes(spec.type))
        return {
          ok: false,
          code: 'shader-input-type',
          error: `${ref.file}: ${name} is a ${input.TYPE} input but ${path} is a ${spec.type} parameter (fits: ${FITS[input.TYPE].join(', ')})`,
        };
      if (!canRead(path))
        return {
          ok: false,
          code: 'shader-input-not-readable',
          error: `${ref.file}: ${name} maps to ${path}, which the plugin's "reads" do not allow`,
        };
    }
  }
  return { ok: true };
}
