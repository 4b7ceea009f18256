import type { Change, Store } from '../state/store.ts';

// The master controls, applied by the output page after every layer is drawn. They travel in
// every message the daemon sends the page, written here from the store and never from a plugin's
// display list, so no plugin can draw over a blackout or brighten past the master opacity.

export const MASTER_OPACITY = '/master/opacity';
export const MASTER_BLACKOUT = '/master/blackout';

export type Master = { readonly opacity: number; readonly blackout: boolean };

/** What the page shows when the operator declared no master parameters: everything. */
export const FULL: Master = { opacity: 1, blackout: false };

/** The store's master values; an undeclared or odd one falls back to showing the picture. */
export function readMaster(store: Pick<Store, 'get'>): Master {
  const o = store.get(MASTER_OPACITY)?.value;
  const b = store.get(MASTER_BLACKOUT)?.value;
  return {
    opacity: typeof o === 'number' && Number.isFinite(o) ? Math.min(1, Math.max(0, o)) : 1,
    blackout: b === true,
  };
}

/** Calls `fn` with the new master whenever a write touches it (a re-send included: it is cheap). */
export function watchMaster(store: Pick<Store, 'get' | 'subscribe'>, fn: (m: Master) => void): () => void {
  // Called only for batches that touch the master (subscribers.ts), not for every OSC write.
  return store.subscribe(
    (changes: readonly Change[]) => {
      for (const c of changes) {
        if (c.path === MASTER_OPACITY || c.path === MASTER_BLACKOUT) {
          fn(readMaster(store));
          return;
        }
      }
    },
    { paths: [MASTER_OPACITY, MASTER_BLACKOUT] },
  );
}

/**
 * The frame's JSON with the master added: the frame's own text is kept as is (it may be 2 MiB of
 * display lists, already checked), so this is one concatenation. The master goes last because
 * JSON.parse keeps the last of duplicate keys: a "master" inside the body cannot win. A body that
 * is not a JSON object is sent unchanged; the page draws nothing from it. `extra` is either ''
 * or `"key":value,` pairs ending in a comma.
 */
export function withMaster(body: string, m: Master, extra = ''): string {
  const text = body.trimEnd();
  if (!text.startsWith('{') || !text.endsWith('}')) return body;
  // `extra` is the daemon's own fields (the mix, the shader inputs), already JSON: they go last
  // too, for the same reason.
  const master = `${extra}"master":{"opacity":${m.opacity},"blackout":${m.blackout}}`;
  const inner = text.slice(1, -1);
  return inner.trim() === '' ? `{${master}}` : `{${inner},${master}}`;
}
