// Session time and beat for plugin frames. The daemon owns the shared clock (aligned between
// linked peers); the frame runtime runs in a child process and follows it from samples sent over
// IPC, extrapolating in between, so the daemon does not have to send one message per frame.

export type ClockSample = {
  /** Shared session time in ms. */
  readonly timeMs: number;
  /** Beats since the session's origin (fractional). */
  readonly beat: number;
  /** Beats per minute. */
  readonly tempo: number;
};

export type SessionClock = () => ClockSample;

/** Monotonic ns; CLOCK_MONOTONIC on Linux, so comparable between the daemon and its child. */
export const monotonicNs = (): bigint => process.hrtime.bigint();

export type ClockFollower = {
  /** A sample the daemon took at monotonic time `takenAtNs`. */
  update(sample: ClockSample, takenAtNs: bigint): void;
  read(): ClockSample;
};

export function createClockFollower(nowNs: () => bigint = monotonicNs): ClockFollower {
  let base: ClockSample = { timeMs: 0, beat: 0, tempo: 120 };
  let at = nowNs();
  return {
    update(sample, takenAtNs) {
      base = sample;
      // A sample stamped in the future (clock skew between processes) is taken as "now".
      const t = nowNs();
      // biome-ignore lint/complexity/useMathMinMax: bigints; Math.min does not take them
      at = takenAtNs > t ? t : takenAtNs;
    },
    read() {
      const elapsedMs = Number(nowNs() - at) / 1e6;
      return {
        timeMs: base.timeMs + elapsedMs,
        beat: base.beat + (elapsedMs * base.tempo) / 60_000,
        tempo: base.tempo,
      };
    },
  };
}

/**
 * A clock for a daemon without a shared one: time since start, beats integrated over tempo
 * changes (so a tempo change bends the beat count instead of making it jump).
 */
export function createLocalClock(tempo: () => number, nowMs: () => number = () => performance.now()) {
  const start = nowMs();
  let last = start;
  let beat = 0;
  let bpm = tempo();
  return (): ClockSample => {
    const t = nowMs();
    beat += ((t - last) * bpm) / 60_000;
    last = t;
    const next = tempo();
    if (Number.isFinite(next) && next > 0) bpm = next;
    return { timeMs: t - start, beat, tempo: bpm };
  };
}
