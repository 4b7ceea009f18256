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

const LAYER_PARAM = /^\/layer\/([0-9]+)\/(opacity|blend|deck)$/;

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

/** Whether a write to `path` can change the mix of `plan`. */
export function touchesMix(path: string, plan: LayerPlan): boolean {
  if (path === CROSSFADE) return true;
  const m = LAYER_PARAM.exec(path);
  if (!m) return false;
  const n = Number(m[1]);
  for (const v of plan.values()) if (v === n) return true;
  return false;
}

/** The mix as the JSON the page reads (`"mix":…` is added beside the master, see master.ts). */
export function mixJson(m: Mix): string {
  return JSON.stringify({ crossfade: m.crossfade, layers: m.layers, ...(m.inputs && { inputs: m.inputs }) });
}
