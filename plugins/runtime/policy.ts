// What happens to a plugin that misbehaves. A faulty frame (overrun, exception, invalid output)
// only loses that frame, unless it keeps happening: after `consecutiveFaults` in a row, or at once
// when the isolate is gone (memory limit, watchdog), the plugin is restarted in a fresh isolate
// after an exponential backoff. More than `maxRestarts` restarts within `windowMs` quarantines it:
// it stays stopped until the operator re-enables it. Pure: time comes from `now`.

export type FaultPolicy = {
  readonly consecutiveFaults: number;
  readonly maxRestarts: number;
  readonly windowMs: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
};

export const DEFAULT_POLICY: FaultPolicy = {
  consecutiveFaults: 5,
  maxRestarts: 3,
  windowMs: 60_000,
  backoffMs: 500,
  maxBackoffMs: 30_000,
};

export type Verdict =
  | { action: 'continue' }
  | { action: 'restart'; delayMs: number; attempt: number }
  | { action: 'quarantine'; restarts: number };

export type FaultTracker = {
  /** A good frame: the run of faults is broken. */
  ok(): void;
  /** A fault; `fatal` when the isolate is gone (or never loaded) and cannot run another frame. */
  fault(fatal: boolean): Verdict;
  /** The operator re-enabled the plugin: a clean slate. */
  reset(): void;
};

export function createFaultTracker(policy: FaultPolicy, now: () => number): FaultTracker {
  let consecutive = 0;
  let restarts: number[] = [];
  return {
    ok() {
      consecutive = 0;
    },
    fault(fatal) {
      consecutive++;
      if (!fatal && consecutive < policy.consecutiveFaults) return { action: 'continue' };
      consecutive = 0;
      const t = now();
      restarts = restarts.filter((at) => t - at < policy.windowMs);
      if (restarts.length >= policy.maxRestarts) return { action: 'quarantine', restarts: restarts.length };
      restarts.push(t);
      const attempt = restarts.length;
      const delayMs = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (attempt - 1));
      return { action: 'restart', delayMs, attempt };
    },
    reset() {
      consecutive = 0;
      restarts = [];
    },
  };
}
