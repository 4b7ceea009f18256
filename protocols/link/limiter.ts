// A token bucket per source address for inbound Link datagrams. Link peers send a few
// datagrams a second each, plus a burst of about fifty pings while one measures us; anything
// past `burst` at once and `perSecond` after that is a flood. Buckets of sources that have been
// quiet long enough to be full again are dropped by `sweep`, so spoofed sources cannot grow it.

export type SourceLimiter = { admit(source: string, nowUs: number): boolean; sweep(nowUs: number): void };

export function createSourceLimiter(perSecond: number, burst: number): SourceLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    admit(source, t) {
      const b = buckets.get(source) ?? { tokens: burst, at: t };
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
  };
}
