// What happens to a plugin that misbehaves. A faulty frame (overrun, exception, invalid output)
// only loses that frame, unless faults keep coming: `faultsToRestart` faulty frames among its last
// `faultWindowFrames` frames, or at once when the isolate is gone (memory limit, watchdog),
// restart the plugin in a fresh isolate after an exponential backoff. The window is sliding, not
// "in a row": a plugin at its time limit 4 frames in 5 ran 136 frames with 109 overruns and was
// never restarted while one good frame in five reset a run counter. More than `maxRestarts`
// restarts within `windowMs` quarantines it: it stays stopped until the operator re-enables it.
// Pure: time comes from `now`.

export type FaultPolicy = {
  /** Faulty frames among the last `faultWindowFrames` frames that restart the plugin. */
  readonly faultsToRestart: number;
  readonly faultWindowFrames: number;
  readonly maxRestarts: number;
  readonly windowMs: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
};

export const DEFAULT_POLICY: FaultPolicy = {
  faultsToRestart: 5,
  faultWindowFrames: 10,
  maxRestarts: 3,
  windowMs: 60_000,
  backoffMs: 500,
  maxBackoffMs: 30_000,
};

export type Verdict =
  | { action: 'continue' }
  | { action: 'restart'; delayMs: number; attempt: number; faults: number }
  | { action: 'quarantine'; restarts: number };

export type FaultTracker = {
  /** A good frame: it takes its place in the window. */
  ok(): void;
  /** A fault; `fatal` when the isolate is gone (or never loaded) and cannot run another frame. */
  fault(fatal: boolean): Verdict;
  /** The operator re-enabled the plugin: a clean slate. */
  reset(): void;
};

export function createFaultTracker(policy: FaultPolicy, now: () => number): FaultTracker {
  const size = Math.max(1, policy.faultWindowFrames);
  // The last `size` frames as a ring: true for a faulty one.
  const ring: boolean[] = new Array(size).fill(false);
  let at = 0;
  let faults = 0;
  let restarts: number[] = [];

  const push = (faulty: boolean): void => {
    if (ring[at]) faults--;
    ring[at] = faulty;
    if (faulty) faults++;
    at = (at + 1) % size;
  };
  const clearWindow = (): void => {
    ring.fill(false);
    faults = 0;
  };

  return {
    ok() {
      push(false);
    },
    fault(fatal) {
      push(true);
      if (!fatal && faults < policy.faultsToRestart) return { action: 'continue' };
      const seen = faults;
      clearWindow();
      const t = now();
      restarts = restarts.filter((r) => t - r < policy.windowMs);
      if (restarts.length >= policy.maxRestarts) return { action: 'quarantine', restarts: restarts.length };
      restarts.push(t);
      const attempt = restarts.length;
      const delayMs = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (attempt - 1));
      return { action: 'restart', delayMs, attempt, faults: seen };
    },
    reset() {
      clearWindow();
      restarts = [];
    },
  };
}
