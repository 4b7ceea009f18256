import { isHumanSource } from '../state/human-source.ts';
import type { Change } from '../state/store.ts';

// Human input takes over from automation, as touch mode does in DAW automation: after a person
// writes a parameter, plugin writes to it are held off for a while, so an LFO writing 20 times a
// second does not snap a performer's fader back. Who counts as a person is decided by what is
// not automation: plugins, the sync layer's own corrections, defaults, and peers. A peer's write
// arrives as `peer:<id>` whoever made it, so the store subscriber leaves it out (two linked
// laptops running the same LFO would otherwise hold each other off for good); its origin marks
// each entry a person made inside the signed batch (sync/v2 entries.ts, HUMAN), and the sync
// gate reports those with `touch`, so a performer's fader on one laptop holds off the plugins
// on every laptop.

export type Takeover = {
  /** Notes the human writes among `changes` (a store subscriber). */
  observe(changes: readonly Change[]): void;
  /** Notes a person's write that did not come through the store's sources: a linked peer's. */
  touch(path: string): void;
  /** Whether a plugin write to `path` is held off now. */
  held(path: string): boolean;
};

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
    touch(path) {
      if (init.holdMs > 0) touched.set(path, init.now());
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
