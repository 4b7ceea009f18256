import type { LoadedPlugin } from '../../plugins/installed.ts';
import { checkShaderInputs, type ParamLookup } from '../../plugins/isf/inputs.ts';
import { compilePermissions } from '../../plugins/sandbox/permissions.ts';
import type { ShaderPlan } from './shaders.ts';

// Which loaded plugins' shaders go to the page. Each shader's input mapping is checked against the
// registry of this daemon (a plugin is signed once but runs under many configurations, so this
// cannot be decided at signing): a plugin whose mapping does not fit is refused whole, as a
// plugin whose files do not verify is, rather than run with a shader reading nothing.

export type PlannedShaders = {
  plan: ShaderPlan;
  /** Plugins left out, each with the code and reason of its first misfit. */
  refused: { id: string; code: string; error: string; file: string }[];
};

export function planShaders(plugins: readonly LoadedPlugin[], registry: ParamLookup): PlannedShaders {
  const plan = new Map<string, LoadedPlugin['shaders']>();
  const refused: PlannedShaders['refused'] = [];
  for (const p of plugins) {
    if (p.shaders.length === 0) continue;
    const perms = compilePermissions(p.manifest);
    const bad = p.shaders
      .map(({ ref, shader }) => ({ ref, r: checkShaderInputs(ref, shader.header, registry, perms.canRead) }))
      .find((x) => !x.r.ok);
    if (bad && !bad.r.ok) {
      refused.push({
        id: p.manifest.id,
        code: bad.r.code,
        error: `${p.manifest.id}: ${bad.r.error}`,
        file: bad.ref.file,
      });
      continue;
    }
    plan.set(p.manifest.id, p.shaders);
  }
  return { plan, refused };
}
