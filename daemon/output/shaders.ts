import type { IsfHeader, IsfShader } from '../../plugins/isf/header.ts';
import type { ShaderRef } from '../../plugins/isf/manifest-schema.ts';
import type { Change, Store } from '../state/store.ts';

// The ISF shaders of the running plugins, as the output page needs them: the table of sources
// (sent once per page and when the plugins change) and, beside every frame, each input's value
// read from the store. Only the daemon writes either: a plugin's code cannot set a uniform.

export type ShaderPlan = ReadonlyMap<
  string,
  readonly { readonly ref: ShaderRef; readonly shader: IsfShader }[]
>;

/** What the page compiles: per plugin id, its shaders in manifest order. */
export function shaderTableJson(plan: ShaderPlan): string {
  const table: Record<string, unknown[]> = {};
  for (const [id, list] of plan) {
    table[id] = list.map(({ shader }) => ({
      source: shader.source,
      inputs: shader.header.INPUTS.map((i) => ({ name: i.NAME, type: i.TYPE, default: defaultOf(i) })),
      passes: shader.header.PASSES.map((p) => ({
        target: p.TARGET ?? null,
        persistent: p.PERSISTENT ?? false,
        float: p.FLOAT ?? false,
      })),
    }));
  }
  return JSON.stringify({ shaders: table });
}

type Input = IsfHeader['INPUTS'][number];

function defaultOf(i: Input): unknown {
  switch (i.TYPE) {
    case 'float':
      return i.DEFAULT ?? i.MIN ?? 0;
    case 'long':
      return i.DEFAULT ?? i.VALUES?.[0] ?? i.MIN ?? 0;
    case 'bool':
      return i.DEFAULT ?? false;
    case 'event':
      return 0;
    case 'color':
      return i.DEFAULT ?? [0, 0, 0, 1];
    case 'point2D':
      return i.DEFAULT ?? [0, 0];
  }
}

/** "#rrggbbaa" → [r, g, b, a] in 0–1. */
function rgba(v: string): number[] | undefined {
  if (!/^#[0-9a-fA-F]{8}$/.test(v)) return undefined;
  return [1, 3, 5, 7].map((i) => Math.round((Number.parseInt(v.slice(i, i + 2), 16) / 255) * 1e4) / 1e4);
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export type ShaderInputs = {
  /** Replaces the plan (after plugins are loaded again). */
  setPlan(plan: ShaderPlan): void;
  /** Counts trigger fires for event inputs; true when a change touches some input. */
  observe(changes: readonly Change[]): boolean;
  /** The paths the plan's inputs read: only their changes need observing. */
  paths(): ReadonlySet<string>;
  /** Per plugin id, per shader, input name → value; an event's value counts its fires. */
  values(): Record<string, Record<string, unknown>[]>;
};

/**
 * Input values from the store. An event input is sent as the number of times its trigger fired
 * since the daemon started: a page fires the event on the frame where that number changes, so
 * a hit is not lost when the page skips the message it arrived in.
 */
export function createShaderInputs(store: Pick<Store, 'get'>): ShaderInputs {
  let plan: ShaderPlan = new Map();
  let watched = new Set<string>();
  const fired = new Map<string, number>();
  return {
    setPlan(p) {
      plan = p;
      watched = new Set(
        [...p.values()].flatMap((list) => list.flatMap(({ ref }) => Object.values(ref.inputs).flat())),
      );
    },
    observe(changes) {
      let touched = false;
      for (const c of changes) {
        if (!watched.has(c.path)) continue;
        touched = true;
        if (c.changed && c.value === null) fired.set(c.path, (fired.get(c.path) ?? 0) + 1);
      }
      return touched;
    },
    paths: () => watched,
    values() {
      const out: Record<string, Record<string, unknown>[]> = {};
      for (const [id, list] of plan) {
        out[id] = list.map(({ ref, shader }) => {
          const v: Record<string, unknown> = {};
          for (const input of shader.header.INPUTS) {
            const target = ref.inputs[input.NAME];
            if (target === undefined) continue;
            const paths = typeof target === 'string' ? [target] : target;
            const got = paths.map((p) => store.get(p)?.value);
            if (input.TYPE === 'event') v[input.NAME] = fired.get(paths[0]!) ?? 0;
            else if (input.TYPE === 'bool') v[input.NAME] = got[0] === true;
            else if (input.TYPE === 'color')
              v[input.NAME] = typeof got[0] === 'string' ? rgba(got[0]) : undefined;
            else if (input.TYPE === 'point2D') v[input.NAME] = got.map((x) => num(x) ?? 0);
            else v[input.NAME] = num(got[0]);
          }
          return v;
        });
      }
      return out;
    },
  };
}
