// Clock offset to one peer, measured the way Ableton Link and NTP do: ping with our send time
// t1, the peer stamps arrival t2 and departure t3, we stamp arrival t4. Each exchange gives
//   offset = ((t2 − t1) + (t3 − t4)) / 2      (peer clock − our clock)
//   delay  = (t4 − t1) − (t3 − t2)            (the round trip minus the peer's turnaround)
// One sample is as wrong as the path was asymmetric, at most delay/2. Keeping the last samples
// and taking the median offset of the faster half throws out the exchanges a busy event loop or
// a queued datagram stretched, which is what makes the estimate stable on a stage LAN.

const KEEP = 32;
/** Samples needed before the offset is used for the session clock. */
export const MIN_SAMPLES = 4;

type Sample = { offset: number; delay: number };

export type OffsetEstimate = {
  /** Peer clock minus ours, in ms. */
  offsetMs: number;
  /** Bound on the estimate's error: its distance from the fastest exchange plus half that exchange's round trip. */
  errorMs: number;
  samples: number;
};

export type OffsetEstimator = {
  add(t1: number, t2: number, t3: number, t4: number): void;
  estimate(): OffsetEstimate | undefined;
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function createOffsetEstimator(): OffsetEstimator {
  const samples: Sample[] = [];
  return {
    add(t1, t2, t3, t4) {
      const delay = t4 - t1 - (t3 - t2);
      // A negative delay means a clock stepped mid-exchange; such a sample measures nothing.
      if (!(delay >= 0) || !Number.isFinite(t2 + t3)) return;
      samples.push({ offset: (t2 - t1 + (t3 - t4)) / 2, delay });
      if (samples.length > KEEP) samples.shift();
    },
    estimate() {
      if (samples.length === 0) return undefined;
      const fast = [...samples].sort((a, b) => a.delay - b.delay).slice(0, Math.max(1, samples.length >> 1));
      const offsets = fast.map((s) => s.offset);
      const offsetMs = median(offsets);
      // The fastest exchange is within half its round trip of the truth, so this bounds the error.
      const best = fast[0]!;
      return {
        offsetMs,
        errorMs: Math.abs(offsetMs - best.offset) + best.delay / 2,
        samples: samples.length,
      };
    },
  };
}
