// Preloaded into a test daemon (NODE_OPTIONS=--import=<this file>) to play a laptop whose wall
// clock is off by HANA_TEST_CLOCK_SKEW_MS: namespaces share the host's clock, so without it
// every daemon's offset to the session leader is ~0 and a test could not tell whether a daemon
// applies it. Both clocks the daemon reads are moved: performance.timeOrigin (the session clock,
// daemon/sync/service.ts) and Date.now (the HLC's stamps), as a laptop's system clock would
// move both. CLOCK_MONOTONIC (process.hrtime) is left alone, as on a real laptop.

export const SKEW_ENV = 'HANA_TEST_CLOCK_SKEW_MS';
export const SKEWED_CLOCK_PRELOAD = import.meta.filename;

/** The environment that starts a daemon `skewMs` off the host's wall clock. */
export function skewedClockEnv(skewMs: number): NodeJS.ProcessEnv {
  return {
    [SKEW_ENV]: String(skewMs),
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${SKEWED_CLOCK_PRELOAD}`.trim(),
  };
}

const skew = Number(process.env[SKEW_ENV] ?? 0);
if (Number.isFinite(skew) && skew !== 0) {
  const origin = performance.timeOrigin + skew;
  Object.defineProperty(performance, 'timeOrigin', { get: () => origin, configurable: true });
  const now = Date.now;
  Date.now = () => now() + skew;
}
