import { withGetters } from '../fast-object.ts';
// Hybrid logical clock (Kulkarni et al. 2014): stamps that follow wall time but never go
// backwards and always order causally related writes, so last-writer-wins is well defined
// between daemons whose clocks disagree by a little.

/** `t`: wall-clock milliseconds; `c`: logical counter within the same `t`; `node`: writer's device ID. */
export type Stamp = { readonly t: number; readonly c: number; readonly node: string };

/** The stamp of a declared default: loses to any real write. */
export const ZERO_STAMP: Stamp = Object.freeze({ t: 0, c: 0, node: '' });

/**
 * How far ahead of our wall clock a remote stamp may be (`sync.maxDriftMs` takes its default
 * from here). Small on purpose: every ms accepted is a ms a wrong clock can push this daemon's
 * own later stamps, and anything derived from them, into the future.
 */
export const DEFAULT_MAX_DRIFT_MS = 2000;

/** Total order: time, then counter, then device ID as the deterministic tie-break. */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  if (a.c !== b.c) return a.c < b.c ? -1 : 1;
  if (a.node === b.node) return 0;
  return a.node < b.node ? -1 : 1;
}

/**
 * A lease on stamp times that outlives the process (daemon/state/clock-mark.ts keeps it in a
 * file). Every stamp an earlier run issued had `t` below `floor`; the clock starts there, so a
 * restart (a stepped-back wall clock, `storage.persist: false`) never issues a stamp again.
 */
export type HlcMark = {
  readonly floor: number;
  /** Makes a new lease above `t` durable before returning it; called before `t` reaches the current one. */
  extend(t: number): number;
  /**
   * Told the time of every stamp below the lease: it may make the next lease durable in the
   * background, so `extend` finds it done instead of writing while a stamp waits. O(1).
   */
  ahead?(t: number): void;
};

export type HlcInit = {
  /** This daemon's device ID; a function when it can change (an identity rotation). */
  node: string | (() => string);
  /** Wall clock in ms; injected so tests are deterministic. */
  now?: () => number;
  /** A remote stamp further ahead of our wall clock than this is refused, so one bad clock cannot drag everyone into the future. */
  maxDriftMs?: number;
  /** Without one, stamps restart from wall time (tests, tools that never replicate). */
  mark?: HlcMark;
};

export type Hlc = {
  readonly node: string;
  readonly maxDriftMs: number;
  /** Stamp a local event. */
  tick(): Stamp;
  /**
   * Whether `observe` would accept this stamp: a time and counter a clock can hold, at most
   * maxDriftMs ahead of our wall clock. Pure: the sync layer asks before anything observes.
   */
  admits(remote: Stamp): boolean;
  /** How far the stamp is ahead of our wall clock in ms (negative: behind). */
  driftOf(remote: Stamp): number;
  /** Merge a remote stamp into the clock; false (clock untouched) if `admits` says no. */
  observe(remote: Stamp): boolean;
  peek(): Stamp;
};

export function createHlc(init: HlcInit): Hlc {
  const now = init.now ?? Date.now;
  const maxDrift = init.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS;
  const nodeOf = typeof init.node === 'function' ? init.node : () => init.node as string;
  const mark = init.mark;
  // Starting at the floor with c = 0 means the first stamp is (floor, 1) or later: above
  // every earlier stamp, all of which had t < floor.
  let t = mark?.floor ?? 0;
  let c = 0;
  let lease = mark?.floor ?? Number.POSITIVE_INFINITY;

  /** Keeps the persisted lease above t; runs before a stamp with this t can leave. */
  const hold = () => {
    if (t < lease) {
      mark?.ahead?.(t);
      return;
    }
    const next = mark!.extend(t);
    if (!(next > t)) throw new Error(`clock mark extended to ${next}, not above ${t}`);
    lease = next;
  };

  const admits = (remote: Stamp, pt: number) =>
    // A NaN time would compare false everywhere and stick in `t` for good: every later stamp would be NaN.
    Number.isFinite(remote.t) && Number.isSafeInteger(remote.c) && remote.c >= 0 && remote.t <= pt + maxDrift;

  return withGetters(
    {
      maxDriftMs: maxDrift,
      tick() {
        const pt = now();
        if (pt > t) {
          t = pt;
          c = 0;
        } else {
          c++;
        }
        hold();
        return { t, c, node: nodeOf() };
      },
      admits: (remote) => admits(remote, now()),
      driftOf: (remote) => remote.t - now(),
      observe(remote) {
        const pt = now();
        if (!admits(remote, pt)) return false;
        const nt = Math.max(t, remote.t, pt);
        if (nt === t && nt === remote.t) c = Math.max(c, remote.c) + 1;
        else if (nt === t) c++;
        else if (nt === remote.t) c = remote.c + 1;
        else c = 0;
        t = nt;
        hold();
        return true;
      },
      peek() {
        return { t, c, node: nodeOf() };
      },
    } satisfies Omit<Hlc, 'node'>,
    { node: nodeOf },
  );
}
