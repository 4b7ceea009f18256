import type { ParamMap, ParamSpec } from '../config/params-schema.ts';
import { withGetters } from '../fast-object.ts';
import { compilePattern } from './pattern.ts';

// The declared parameters and pattern resolution against them. Patterns arrive from the
// network at fader rates, so compiled patterns are cached (bounded: a sender cycling through
// random patterns costs CPU, never memory).

const CACHE_LIMIT = 512;

export type Resolved = { ok: true; paths: readonly string[] } | { ok: false; reason: string };

export type Registry = {
  readonly paths: readonly string[];
  get(path: string): ParamSpec | undefined;
  /** Declared paths matched by an address or address pattern, in sorted order. */
  resolve(address: string): Resolved;
  /**
   * This registry plus hana's own values (such as /hana/timeline): what the store holds and
   * peers replicate. Every local input (OSC, MIDI, `hana set`, scenes, plugins) is given the
   * registry itself, so it can neither resolve nor write one of hana's own paths.
   */
  readonly stored: Registry;
};

/** Where hana's own values live; no config may declare a parameter under it. */
export const INTERNAL_PREFIX = '/hana/';

/** `internal`: hana's own values, all under /hana/; only the `stored` view declares them. */
export function createRegistry(params: ParamMap, internal: ParamMap = {}): Registry {
  for (const path of Object.keys(internal)) {
    if (!path.startsWith(INTERNAL_PREFIX) || path in params)
      throw new Error(`createRegistry: ${path} is not a free path under ${INTERNAL_PREFIX}`);
  }
  if (Object.keys(internal).length === 0) {
    const only: Registry = view(params, () => only);
    return only;
  }
  const all: Registry = view({ ...params, ...internal }, () => all);
  return view(params, () => all);
}

function view(params: ParamMap, stored: () => Registry): Registry {
  const specs = new Map<string, ParamSpec>(Object.entries(params));
  const paths = [...specs.keys()].sort();
  const cache = new Map<string, Resolved>();
  const single = new Map<string, Resolved>(paths.map((p) => [p, { ok: true, paths: [p] }]));
  const none: Resolved = { ok: true, paths: [] };

  return withGetters(
    {
      paths,
      get: (path: string) => specs.get(path),
      resolve(address: string): Resolved {
        const exact = single.get(address);
        if (exact) return exact;
        const hit = cache.get(address);
        if (hit) return hit;
        const compiled = compilePattern(address);
        let result: Resolved;
        if (!compiled.ok) result = { ok: false, reason: compiled.reason };
        else if (compiled.pattern.literal) result = none;
        else {
          const matched = paths.filter((p) => compiled.pattern.match(p));
          result = matched.length ? { ok: true, paths: matched } : none;
        }
        if (cache.size >= CACHE_LIMIT) cache.clear();
        cache.set(address, result);
        return result;
      },
    },
    { stored },
  );
}
