// Per-source token buckets. Refill is computed lazily from elapsed time, so an idle source
// costs nothing; the table is bounded so a spoofed-source flood cannot grow memory.

export type RateLimiterInit = {
  ratePerSecond: number;
  burst: number;
  maxSources?: number;
  now?: () => number;
};

export type RateLimiter = {
  /** Takes one token for `key`; false when that source is over its rate. */
  take(key: string): boolean;
  readonly size: number;
};

type Bucket = { tokens: number; at: number };

export function createRateLimiter(init: RateLimiterInit): RateLimiter {
  const now = init.now ?? performance.now.bind(performance);
  const maxSources = init.maxSources ?? 4096;
  const perMs = init.ratePerSecond / 1000;
  const buckets = new Map<string, Bucket>();

  return {
    take(key) {
      const t = now();
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= maxSources) {
          // Evict the oldest-inserted source; a Map iterates in insertion order.
          const oldest = buckets.keys().next().value;
          if (oldest !== undefined) buckets.delete(oldest);
        }
        b = { tokens: init.burst, at: t };
        buckets.set(key, b);
      } else {
        b.tokens = Math.min(init.burst, b.tokens + (t - b.at) * perMs);
        b.at = t;
      }
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
    get size() {
      return buckets.size;
    },
  };
}
