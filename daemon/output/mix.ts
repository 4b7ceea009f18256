import type { Store } from '../state/store.ts';

// The layer mixer: each plugin's layer has an opacity, a blend mode and a deck (A or B), and the
// crossfader /master/crossfade mixes deck A into deck B. Like the master, the mix is read from the
// store by the daemon and sent beside every frame, never taken from a plugin's display list, so a
// plugin cannot fade itself in over a performer's fader. The page composites by it
// (daemon/output/page/renderer.js); what each value does is in docs/output.md.

export const CROSSFADE = '/master/crossfade';
export const BLENDS = ['normal', 'add', 'multiply', 'screen'] as const;
export type Blend = (typeof BLENDS)[number];
export type Deck = 'a' | 'b';

export type LayerMix = { readonly opacity: number; readonly blend: Blend; readonly deck: Deck };
export type Mix = {
  readonly crossfade: number;
  /** By plugin id; a plugin with no mixer channel (no "layer" in its manifest) is absent. */
  readonly layers: Readonly<Record<string, LayerMix>>;
  /** ISF input values by plugin id, one record per shader (daemon/output/shaders.ts). */
  readonly inputs?: Readonly<Record<string, readonly Record<string, unknown>[]>>;
};

/** Plugin id → its mixer channel N (the /layer/N/… parameters), from the manifests. */
export type LayerPlan = ReadonlyMap<string, number>;

const unit = (v: unknown, fallback: number) =>
  typeof v === 'number' && Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : fallback;

/** A layer's default deck when /layer/N/deck is undeclared: 1 and 2 on A, the rest on B. */
export const defaultDeck = (n: number): Deck => (n <= 2 ? 'a' : 'b');

/**
 * The store's mix for the planned layers. An undeclared or odd value falls back to what draws
 * the layer as a plain plugin layer: opacity 1, normal, its default deck; crossfade 0 (deck A).
 */
export function readMix(store: Pick<Store, 'get'>, plan: LayerPlan): Mix {
  const layers: Record<string, LayerMix> = {};
  for (const [id, n] of plan) {
    const blend = store.get(`/layer/${n}/blend`)?.value;
    const deck = store.get(`/layer/${n}/deck`)?.value;
    layers[id] = {
      opacity: unit(store.get(`/layer/${n}/opacity`)?.value, 1),
      blend:
        typeof blend === 'string' && (BLENDS as readonly string[]).includes(blend)
          ? (blend as Blend)
          : 'normal',
      deck: deck === 'a' || deck === 'b' ? deck : defaultDeck(n),
    };
  }
  return { crossfade: unit(store.get(CROSSFADE)?.value, 0), layers };
}

// Every store change is asked whether it moves the mix (at 20k OSC messages a second a regex per
// change was about 3 % of the daemon's profile), so each plan's paths are listed once. A plan is
// replaced, never mutated, when the plugins change, so the plan itself keys the list.
const pathsOf = new WeakMap<LayerPlan, ReadonlySet<string>>();

/** The paths whose writes can change the mix of `plan`: its layers' opacity, blend and deck, and the crossfader. */
export function mixPaths(plan: LayerPlan): ReadonlySet<string> {
  let paths = pathsOf.get(plan);
  if (!paths) {
    const set = new Set<string>([CROSSFADE]);
    for (const n of plan.values()) for (const p of ['opacity', 'blend', 'deck']) set.add(`/layer/${n}/${p}`);
    paths = set;
    pathsOf.set(plan, paths);
  }
  return paths;
}

/** Whether a write to `path` can change the mix of `plan`. */
export function touchesMix(path: string, plan: LayerPlan): boolean {
  return mixPaths(plan).has(path);
}

/** Whether any of these changes can change the mix; a loop, as it runs for every write batch. */
export function changesTouchMix(changes: readonly { readonly path: string }[], plan: LayerPlan): boolean {
  const paths = mixPaths(plan);
  for (const c of changes) if (paths.has(c.path)) return true;
  return false;
}

/** The mix as the JSON the page reads (`"mix":…` is added beside the master, see master.ts). */
export function mixJson(m: Mix): string {
  return JSON.stringify({ crossfade: m.crossfade, layers: m.layers, ...(m.inputs && { inputs: m.inputs }) });
}
