// The CPU watchdog: the second line behind each call's `timeout`. `timeout` covers a call and
// the microtasks it queued (measured with isolated-vm 7 on Node 24), but not code V8 runs in the
// isolate on its own later, e.g. a FinalizationRegistry callback after garbage collection
// (measured: an endless one used 100 ms of CPU per 100 ms between calls). So every watched
// isolate's `cpuTime` is sampled from outside: CPU used while no call is running, or a call that
// keeps burning CPU past its timeout, gets the isolate disposed (`dispose()` ends running code;
// the host's calls are async, so the host thread is never the one stuck). A call is judged hung
// by the CPU it used, not by how long it has been running: on a starved machine (measured: a
// plugin thread at priority 19 beside busy cores) stopping a call at its timeout took seconds of
// wall time while the call used a few ms of CPU. A wall-clock bound remains only as a backstop
// for a call blocked without using CPU at all, and it is far beyond any machine's load.
//
// While the frame loop is stopped (no page, no audience for writes) no call runs, so the only
// thing to catch is an escape, and that is judged by CPU used since the last call, whatever the
// sampling: sampling at `idleIntervalMs` then only lets an escaped isolate run longer before it is
// disposed (at most that long, on one of its own threads, never the host's). At 20 samples a
// second it was the largest wake-up left in an idle plugin host (issue 18).
//
// "CPU used" is `cpuSinceNs` (cpu-clock.ts), not `cpuTime` alone: in the isolated-vm build we run,
// `cpuTime` grows with wall time while a call holds the isolate's lock, so a call waiting for a
// core on a loaded laptop would have looked hung, and a lock released late an escape.

import { type CpuMark, cpuSinceNs, otherThreadsCpuNs } from './cpu-clock.ts';

export type Watched = {
  /** The isolate's `cpuTime` so far, in ns; undefined once it is disposed. */
  cpuNs(): bigint | undefined;
  /** When the last call ended (or watching began); undefined while a call runs. */
  idleSince(): CpuMark | undefined;
  /** When the running call began; undefined when idle. */
  callSince(): CpuMark | undefined;
  /** How long the running call has run, in ms of wall time; undefined when idle. */
  callElapsedMs(): number | undefined;
  /** CPU the isolate may use while idle before it counts as an escape, in ns. */
  readonly idleLimitNs: bigint;
  /** A call that has used more CPU than this (ms) failed to stop at its timeout. */
  readonly hungAfterCpuMs: number;
  /** A call still running after this much wall time (ms) is blocked, whatever its CPU. */
  readonly stuckAfterMs: number;
  kill(reason: string): void;
};

export type IntervalTimers = {
  every(ms: number, fn: () => void): unknown;
  cancel(handle: unknown): void;
};

export const realIntervals: IntervalTimers = {
  every: (ms, fn) => {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  },
  cancel: (h) => clearInterval(h as NodeJS.Timeout),
};

export type CpuWatchdog = {
  watch(w: Watched): () => void;
  /** One sampling pass (the timer calls it; tests may too). */
  check(): void;
  /** Idle: no call will run until the frame loop starts again, so sample at the idle interval. */
  setIdle(idle: boolean): void;
  /** The interval sampling runs at now, in ms (undefined while nothing is watched). */
  intervalMs(): number | undefined;
  close(): void;
};

/** Sampling while frames run, and while the frame loop is stopped (ms). */
export const WATCH_INTERVAL_MS = 50;
export const IDLE_WATCH_INTERVAL_MS = 250;

export function createCpuWatchdog(
  init: {
    intervalMs?: number;
    idleIntervalMs?: number;
    timers?: IntervalTimers;
    /** The other threads' CPU clock (cpu-clock.ts); tests may drive it. */
    othersCpuNs?: () => bigint;
  } = {},
): CpuWatchdog {
  const timers = init.timers ?? realIntervals;
  const othersCpuNs = init.othersCpuNs ?? otherThreadsCpuNs;
  const watched = new Set<Watched>();
  let handle: unknown;
  let idle = false;
  const pace = () =>
    idle ? (init.idleIntervalMs ?? IDLE_WATCH_INTERVAL_MS) : (init.intervalMs ?? WATCH_INTERVAL_MS);
  let armedMs: number | undefined;
  const arm = () => {
    if (handle !== undefined) timers.cancel(handle);
    armedMs = pace();
    handle = timers.every(armedMs, check);
  };

  function check(): void {
    if (watched.size === 0) return;
    const others = othersCpuNs();
    for (const w of watched) {
      const cpu = w.cpuNs();
      if (cpu === undefined) {
        watched.delete(w);
        continue;
      }
      const idleSince = w.idleSince();
      if (idleSince !== undefined) {
        const used = cpuSinceNs(idleSince, cpu, others);
        if (used > w.idleLimitNs) {
          watched.delete(w);
          w.kill(
            `used ${(Number(used) / 1e6).toFixed(1)} ms of CPU outside any frame call (an async escape)`,
          );
        }
        continue;
      }
      const since = w.callSince();
      const callCpuMs = since === undefined ? 0 : Number(cpuSinceNs(since, cpu, others)) / 1e6;
      if (callCpuMs > w.hungAfterCpuMs) {
        watched.delete(w);
        w.kill(`a call has used ${Math.round(callCpuMs)} ms of CPU and did not stop at its timeout`);
        continue;
      }
      const elapsed = w.callElapsedMs() ?? 0;
      if (elapsed > w.stuckAfterMs) {
        watched.delete(w);
        w.kill(`a call has been blocked for ${Math.round(elapsed / 1000)} s and did not stop at its timeout`);
      }
    }
  }

  return {
    watch(w) {
      watched.add(w);
      if (handle === undefined) arm();
      return () => {
        watched.delete(w);
      };
    },
    check,
    setIdle(next) {
      if (next === idle) return;
      idle = next;
      if (handle === undefined) return;
      // Leaving idle: a sample now, so a call that starts at once is watched from its start.
      if (!idle) check();
      arm();
    },
    intervalMs: () => (handle === undefined ? undefined : armedMs),
    close() {
      watched.clear();
      if (handle !== undefined) timers.cancel(handle);
      handle = undefined;
      armedMs = undefined;
    },
  };
}
