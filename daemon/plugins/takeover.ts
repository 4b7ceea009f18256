import type { Change } from '../state/store.ts';

// Human input takes over from automation, as touch mode does in DAW automation: after a person
// writes a parameter, plugin writes to it are held off for a while, so an LFO writing 20 times a
// second does not snap a performer's fader back. Who counts as a person is decided by what is
// not automation: plugins, the sync layer's own corrections, defaults, and peers. A peer's write
// is left out because its source does not say whether a person or the peer's own plugin made it
// (the wire carries the origin device only): two linked laptops running the same LFO would
// otherwise hold each other off for good.

export type Takeover = {
  /** Notes the human writes among `changes` (a store subscriber). */
  observe(changes: readonly Change[]): void;
  /** Whether a plugin write to `path` is held off now. */
  held(path: string): boolean;
};

const AUTOMATION = ['plugin:', 'peer:', 'sync:'];

/** A source that is not automation: `osc:…`, `midi:…`, `cli`, `scene:…`, the console. */
export function isHumanSource(source: string): boolean {
  if (source === 'default') return false;
  for (const p of AUTOMATION) if (source.startsWith(p)) return false;
  return true;
}

export function createTakeover(init: { holdMs: number; now: () => number }): Takeover {
  // One entry per declared path at most: the registry bounds it.
  const touched = new Map<string, number>();
  return {
    observe(changes) {
      if (init.holdMs <= 0) return;
      let t: number | undefined;
      for (const c of changes) {
        if (!isHumanSource(c.source)) continue;
        t ??= init.now();
        touched.set(c.path, t);
      }
    },
    held(path) {
      const at = touched.get(path);
      if (at === undefined) return false;
      if (init.now() - at < init.holdMs) return true;
      touched.delete(path);
      return false;
    },
  };
}
