// Clock offset to one peer, measured the way Ableton Link and NTP do: ping with our send time
// t1, the peer stamps arrival t2 and departure t3, we stamp arrival t4. Each exchange gives
//   offset = ((t2 − t1) + (t3 − t4)) / 2      (peer clock − our clock)
//   delay  = (t4 − t1) − (t3 − t2)            (the round trip minus the peer's turnaround)
// Neither leg of a round trip can take less than nothing, so the true offset lies within
// delay/2 of that exchange's offset, however lopsided the path was: every exchange is an
// interval that holds the truth. The estimate is the middle of where the recent intervals
// overlap, each widened by how far the clocks may have drifted since it was taken.
//
// Why not the median of the faster half (as before): on a loaded laptop most exchanges lean the
// same way (a busy event loop reads every pong late). Replayed on the exchanges of 16 links from
// loaded runs of the Link mesh interop test (three spinners on two cores), that median was up
// to 2.5 ms off in a link's first seconds, the overlap at most 1.1 ms and never outside its own
// bound. The overlap is never wider than the best single exchange allows, and errorMs says how
// wide it is with no guess in it.

const KEEP = 32;
/** Samples needed before the offset is used for the session clock. */
export const MIN_SAMPLES = 4;
/**
 * Assumed worst-case rate difference between two laptops' clocks: quartz laptop clocks hold
 * about ±50 ppm each, so 100 ppm apart. Widens older exchanges here, and an estimate no longer
 * renewed in the session clock.
 */
export const DRIFT_PPM = 100;

/** One exchange: its offset, its delay, and our clock when it ended (t4), all in ms. */
type Sample = { offset: number; delay: number; at: number };

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

/**
 * The overlap of the newest exchanges, newest first. An older exchange that cannot hold the
 * same truth as the newer ones (the peer's clock moved more than DRIFT_PPM allows) ends the
 * walk: what the newer ones say wins at once, instead of after the older ones age out.
 */
function overlap(samples: readonly Sample[]): OffsetEstimate | undefined {
  const newest = samples.at(-1);
  if (!newest) return undefined;
  const drift = DRIFT_PPM / 1e6;
  let lo = Number.NEGATIVE_INFINITY;
  let hi = Number.POSITIVE_INFINITY;
  let used = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i]!;
    const half = s.delay / 2 + (newest.at - s.at) * drift;
    const nextLo = Math.max(lo, s.offset - half);
    const nextHi = Math.min(hi, s.offset + half);
    if (nextLo > nextHi) break;
    lo = nextLo;
    hi = nextHi;
    used++;
  }
  return { offsetMs: (lo + hi) / 2, errorMs: (hi - lo) / 2, samples: used };
}

export function createOffsetEstimator(): OffsetEstimator {
  const samples: Sample[] = [];
  let current: OffsetEstimate | undefined;
  return {
    add(t1, t2, t3, t4) {
      const delay = t4 - t1 - (t3 - t2);
      // A negative delay means a clock stepped mid-exchange; such a sample measures nothing.
      if (!(delay >= 0) || !Number.isFinite(t2 + t3) || !Number.isFinite(t4)) return;
      samples.push({ offset: (t2 - t1 + (t3 - t4)) / 2, delay, at: t4 });
      if (samples.length > KEEP) samples.shift();
      current = overlap(samples);
    },
    estimate: () => current,
  };
}
