import { z } from 'zod';
import type { ParamSpec } from '../config/params-schema.ts';
import { coerceText, type Value } from '../state/coerce.ts';
import type { Registry } from '../state/registry.ts';
import type { Store } from '../state/store.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// Read and write methods of the control API over the parameter state. Operator writes go
// through the same coercion and range rules as OSC.

export type ParamView = {
  path: string;
  value: Value;
  spec: ParamSpec;
  source: string;
  stamp: { t: number; c: number };
};

const GetParams = z.object({ pattern: z.string().min(1).max(256) }).strict();
const SetParams = z
  .object({ path: z.string().min(1).max(256), words: z.array(z.string().max(4096)).max(16) })
  .strict();

/** `writer` is the source the writes carry: `cli` on the control socket, `ui` in the console. */
export function stateHandlers(registry: Registry, store: Store, writer = 'cli'): Handlers {
  const view = (path: string): ParamView => {
    const e = store.get(path)!;
    return {
      path,
      value: e.value,
      spec: registry.get(path)!,
      source: e.source,
      stamp: { t: e.stamp.t, c: e.stamp.c },
    };
  };
  return {
    params: () => ({ params: registry.paths.map(view) }),
    get(params) {
      const { pattern } = GetParams.parse(params);
      const r = registry.resolve(pattern);
      if (!r.ok)
        throw controlError('bad-pattern', `${pattern} is not a valid OSC address pattern: ${r.reason}`);
      if (r.paths.length === 0)
        throw controlError('unknown-address', `no declared parameter matches ${pattern}`);
      return { params: r.paths.map(view) };
    },
    set(params) {
      const { path, words } = SetParams.parse(params);
      const spec = registry.get(path);
      if (!spec)
        throw controlError('unknown-address', `${path} is not a declared parameter (see \`hana params\`)`);
      const c = coerceText(spec, words);
      if (!c.ok) throw controlError(c.code, `${path}: ${c.message}`);
      if (c.noop) return { params: [view(path)], clamped: false };
      store.apply([{ path, value: c.value }], writer);
      return { params: [view(path)], clamped: c.clamped };
    },
  };
}
