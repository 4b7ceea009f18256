// Clock offset to one peer, measured the way Ableton Link and NTP do: ping with our send time
// t1, the peer stamps arrival t2 and departure t3, we stamp arrival t4. Each exchange gives
//   offset = ((t2 − t1) + (t3 − t4)) / 2      (peer clock − our clock)
//   delay  = (t4 − t1) − (t3 − t2)            (the round trip minus the peer's turnaround)
// The estimate is the middle of where the last KEEP exchanges' intervals overlap
// (protocols/clock/overlap.ts), older ones widened by DRIFT_PPM.
//
// Why not the median of the faster half (as before): on a loaded laptop most exchanges lean the
// same way (a busy event loop reads every pong late). Replayed on the exchanges of 16 links from
// loaded runs of the Link mesh interop test (three spinners on two cores), that median was up
// to 2.5 ms off in a link's first seconds, the overlap at most 1.1 ms and never outside its own
// bound. The overlap is never wider than the best single exchange allows, and errorMs says how
// wide it is with no guess in it.

import { DRIFT_PPM, type Exchange, exchangeOf, overlapOf } from '../../protocols/clock/overlap.ts';

const KEEP = 32;
/** Samples needed before the offset is used for the session clock. */
export const MIN_SAMPLES = 4;
export { DRIFT_PPM };

export type OffsetEstimate = {
  /** Peer clock minus ours, in ms. */
  offsetMs: number;
  /** Bound on the estimate's error: half the width of the overlap of the exchanges used. */
  errorMs: number;
  /** Exchanges the estimate rests on: the newest ones that agree within their bounds. */
  samples: number;
};

export type OffsetEstimator = {
  add(t1: number, t2: number, t3: number, t4: number): void;
  estimate(): OffsetEstimate | undefined;
};

export function createOffsetEstimator(): OffsetEstimator {
  const samples: Exchange[] = [];
  let current: OffsetEstimate | undefined;
  return {
    add(t1, t2, t3, t4) {
      const x = exchangeOf((t2 - t1 + (t3 - t4)) / 2, t4 - t1 - (t3 - t2), t4);
      if (!x) return;
      samples.push(x);
      if (samples.length > KEEP) samples.shift();
      const o = overlapOf(samples, DRIFT_PPM / 1e6);
      current = o && { offsetMs: o.offset, errorMs: o.error, samples: o.used };
    },
    estimate: () => current,
  };
}
