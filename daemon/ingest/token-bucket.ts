import { withGetters } from '../fast-object.ts';
// Token buckets counted in work units. Refill is computed lazily from elapsed time, so an idle
// source costs nothing; the per-source table is bounded so a spoofed-source flood cannot grow
// memory.

export type BucketInit = {
  ratePerSecond: number;
  burst: number;
  now?: () => number;
};

export type Bucket = {
  /** Takes `cost` tokens; false (taking nothing) when fewer are left. */
  take(cost: number): boolean;
  /** Milliseconds until `cost` tokens will be there (0 if they are now). */
  msUntil(cost: number): number;
};

export function createBucket(init: BucketInit): Bucket {
  const now = init.now ?? performance.now.bind(performance);
  const perMs = init.ratePerSecond / 1000;
  let tokens = init.burst;
  let at = now();
  const refill = () => {
    const t = now();
    tokens = Math.min(init.burst, tokens + (t - at) * perMs);
    at = t;
  };
  return {
    take(cost) {
      refill();
      if (tokens < cost) return false;
      tokens -= cost;
      return true;
    },
    msUntil(cost) {
      refill();
      return tokens >= cost ? 0 : Math.ceil((cost - tokens) / perMs);
    },
  };
}

export type RateLimiterInit = BucketInit & { maxSources?: number };

export type RateLimiter = {
  /**
   * Takes `cost` tokens (default 1) from `key`'s bucket; false, taking nothing, when it has fewer.
   * `t`: now on the limiter's clock, when the caller has just read it (one read a packet on the
   * OSC path instead of one per check: issue 18).
   */
  take(key: string, cost?: number, t?: number): boolean;
  /** The bucket size: a cost above it can never be paid. */
  readonly burst: number;
  readonly size: number;
};

type Entry = { tokens: number; at: number };

export function createRateLimiter(init: RateLimiterInit): RateLimiter {
  const now = init.now ?? performance.now.bind(performance);
  const maxSources = init.maxSources ?? 4096;
  const perMs = init.ratePerSecond / 1000;
  const buckets = new Map<string, Entry>();

  return withGetters(
    {
      take(key: string, cost = 1, t = now()): boolean {
        let b = buckets.get(key);
        if (!b) {
          if (buckets.size >= maxSources) {
            // Evict the oldest-inserted source; a Map iterates in insertion order.
            const oldest = buckets.keys().next().value;
            if (oldest !== undefined) buckets.delete(oldest);
          }
          b = { tokens: init.burst, at: t };
          buckets.set(key, b);
        } else if (t > b.at) {
          // Only forward: a reading older than the last one (handed over by a caller) earns nothing.
          b.tokens = Math.min(init.burst, b.tokens + (t - b.at) * perMs);
          b.at = t;
        }
        if (b.tokens < cost) return false;
        b.tokens -= cost;
        return true;
      },
      burst: init.burst,
    },
    { size: () => buckets.size },
  );
}
