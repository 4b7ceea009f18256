import { monitorEventLoopDelay } from 'node:perf_hooks';

// What a long show's leak looks like from outside: handles and timers that pile up, a heap that
// grows, an event loop that stalls. `hana status` reports them under `runtime` so the soak
// (test/soak/) samples them over the control socket instead of guessing from outside.

export type RuntimeStatus = {
  /** process.getActiveResourcesInfo() by kind (Timeout, UDPWRAP, TCPSocketWrap, FSReqCallback…). */
  activeResources: Record<string, number>;
  activeResourcesTotal: number;
  /** Timeout and Immediate entries among them: a leaked timer shows here. */
  timers: number;
  heapUsedBytes: number;
  rssBytes: number;
  /** Event-loop delay since the previous status call (the histogram is reset on each read). */
  eventLoopDelayMs: { mean: number; p99: number; max: number };
};

export type RuntimeStats = { status(): RuntimeStatus; close(): void };

const ms = (ns: number) => (Number.isFinite(ns) ? Math.round(ns / 1e4) / 100 : 0);

export function startRuntimeStats(): RuntimeStats {
  // 20 ms resolution: finer costs a timer wake-up per sample for no show-relevant gain.
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  return {
    status() {
      const activeResources: Record<string, number> = {};
      for (const kind of process.getActiveResourcesInfo())
        activeResources[kind] = (activeResources[kind] ?? 0) + 1;
      const total = Object.values(activeResources).reduce((a, b) => a + b, 0);
      const mem = process.memoryUsage();
      const eventLoopDelayMs = { mean: ms(delay.mean), p99: ms(delay.percentile(99)), max: ms(delay.max) };
      delay.reset();
      return {
        activeResources,
        activeResourcesTotal: total,
        timers: (activeResources.Timeout ?? 0) + (activeResources.Immediate ?? 0),
        heapUsedBytes: mem.heapUsed,
        rssBytes: mem.rss,
        eventLoopDelayMs,
      };
    },
    close: () => delay.disable(),
  };
}
