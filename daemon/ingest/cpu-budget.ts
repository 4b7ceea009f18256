// The aggregate budget of the OSC fair queue, in time rather than units: a unit's cost differs
// tenfold between builds and machines (6.5 µs a parameter write measured in the daemon here),
// and what must be protected is time: the event loop must stay free often enough to read the
// OSC socket (libuv reads at most 32 datagrams a turn; what it does not read, the kernel drops
// for every sender alike), answer the control socket and serve peers.
//
// A token bucket of milliseconds refilled at `share` of wall time, charged with the measured
// duration of each piece of work. It may go into debt by one piece (a packet is applied whole);
// nothing more runs until the debt is repaid.

export type CpuBudgetInit = {
  /** Fraction of wall time work may take on average, 0 < share ≤ 1. */
  share: number;
  /** Work that may run back to back after an idle spell. */
  burstMs: number;
  now: () => number;
};

export type CpuBudget = {
  /** Whether work may start at `t` (default now). */
  ready(t?: number): boolean;
  /** Milliseconds until it may (0 if now). */
  msUntilReady(): number;
  /**
   * Charges the work that began at `start` (the caller read the clock just before it) and has
   * just ended; returns when it ended. Two clock reads a piece of work at most, and no closure
   * to wrap it: on the OSC ingest path every read and allocation counts (issue 18).
   */
  charge(start: number): number;
};

export function createCpuBudget(init: CpuBudgetInit): CpuBudget {
  let balance = init.burstMs;
  let at = init.now();
  const refill = (t: number) => {
    if (t <= at) return;
    balance = Math.min(init.burstMs, balance + (t - at) * init.share);
    at = t;
  };
  return {
    ready(t = init.now()) {
      refill(t);
      return balance > 0;
    },
    msUntilReady() {
      refill(init.now());
      return balance > 0 ? 0 : Math.ceil(-balance / init.share + 1e-9);
    },
    charge(start) {
      const end = init.now();
      refill(end);
      balance -= end - start;
      return end;
    },
  };
}
