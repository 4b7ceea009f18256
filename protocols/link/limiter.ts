// A token bucket per source address for inbound Link datagrams. Link peers send a few
// datagrams a second each, plus a burst of about fifty pings while one measures us; anything
// past `burst` at once and `perSecond` after that is a flood. Buckets of sources that have been
// quiet long enough to be full again are dropped by `sweep`; between sweeps at most
// `maxSources` are tracked and a new source beyond them is refused, so forged source addresses
// can neither grow the table nor each bring a fresh burst.

export type SourceLimiter = {
  admit(source: string, nowUs: number): boolean;
  sweep(nowUs: number): void;
  size(): number;
};

export function createSourceLimiter(perSecond: number, burst: number, maxSources = 1024): SourceLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    admit(source, t) {
      const known = buckets.get(source);
      if (!known && buckets.size >= maxSources) return false;
      const b = known ?? { tokens: burst, at: t };
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1e6) * perSecond);
      b.at = t;
      buckets.set(source, b);
      if (b.tokens < 1) return false;
      b.tokens--;
      return true;
    },
    sweep(t) {
      for (const [s, b] of buckets) if (b.tokens + ((t - b.at) / 1e6) * perSecond >= burst) buckets.delete(s);
    },
    size: () => buckets.size,
  };
}
