// Hybrid logical clock (Kulkarni et al. 2014): stamps that follow wall time but never go
// backwards and always order causally related writes, so last-writer-wins is well defined
// between daemons whose clocks disagree by a little.

/** `t`: wall-clock milliseconds; `c`: logical counter within the same `t`; `node`: writer's device ID. */
export type Stamp = { readonly t: number; readonly c: number; readonly node: string };

/** The stamp of a declared default: loses to any real write. */
export const ZERO_STAMP: Stamp = Object.freeze({ t: 0, c: 0, node: '' });

/** Total order: time, then counter, then device ID as the deterministic tie-break. */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  if (a.c !== b.c) return a.c < b.c ? -1 : 1;
  if (a.node === b.node) return 0;
  return a.node < b.node ? -1 : 1;
}

export type HlcInit = {
  /** This daemon's device ID; a function when it can change (an identity rotation). */
  node: string | (() => string);
  /** Wall clock in ms; injected so tests are deterministic. */
  now?: () => number;
  /** A remote stamp further ahead of our wall clock than this is refused, so one bad clock cannot drag everyone into the future. */
  maxDriftMs?: number;
};

export type Hlc = {
  readonly node: string;
  /** Stamp a local event. */
  tick(): Stamp;
  /** Merge a remote stamp into the clock; false (clock untouched) if it is implausibly far ahead. */
  observe(remote: Stamp): boolean;
  peek(): Stamp;
};

export function createHlc(init: HlcInit): Hlc {
  const now = init.now ?? Date.now;
  const maxDrift = init.maxDriftMs ?? 60_000;
  const nodeOf = typeof init.node === 'function' ? init.node : () => init.node as string;
  let t = 0;
  let c = 0;
  return {
    get node() {
      return nodeOf();
    },
    tick() {
      const pt = now();
      if (pt > t) {
        t = pt;
        c = 0;
      } else {
        c++;
      }
      return { t, c, node: nodeOf() };
    },
    observe(remote) {
      const pt = now();
      // A NaN time would compare false everywhere and stick in `t` for good: every later stamp would be NaN.
      if (!Number.isFinite(remote.t) || !Number.isSafeInteger(remote.c) || remote.c < 0) return false;
      if (remote.t > pt + maxDrift) return false;
      const nt = Math.max(t, remote.t, pt);
      if (nt === t && nt === remote.t) c = Math.max(c, remote.c) + 1;
      else if (nt === t) c++;
      else if (nt === remote.t) c = remote.c + 1;
      else c = 0;
      t = nt;
      return true;
    },
    peek() {
      return { t, c, node: nodeOf() };
    },
  };
}
