import { type ELDHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { type Timers, unrefTimers } from './timers.ts';

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
  /**
   * What V8 holds from the system for its heap (used or not), of which `newSpaceBytes` is the
   * young generation's resident part, and `externalBytes` the memory outside it that JS objects
   * own (Buffers, ArrayBuffers): where the rest of the daemon's anonymous RSS goes, so a soak can
   * tell a heap sized to its load from a leak.
   */
  heapTotalBytes: number;
  newSpaceBytes: number;
  externalBytes: number;
  rssBytes: number;
  /**
   * Event-loop delay since the previous status call (the histogram is reset on each read). It is
   * measured only while status is read at least every LOOP_WATCH_MS: the first read after a
   * longer gap starts it again and shows zeros.
   */
  eventLoopDelayMs: { mean: number; p99: number; max: number };
};

export type RuntimeStats = { status(): RuntimeStatus; close(): void };

/** The histogram of an idle daemon nobody asks about stops after this long without a read. */
export const LOOP_WATCH_MS = 60_000;

const ms = (ns: number) => (Number.isFinite(ns) ? Math.round(ns / 1e4) / 100 : 0);

type Monitor = Pick<ELDHistogram, 'enable' | 'disable' | 'reset' | 'mean' | 'max' | 'percentile'>;

export function startRuntimeStats(
  init: {
    monitor?: () => Monitor;
    timers?: Timers;
    /** Monotonic ms. */
    now?: () => number;
  } = {},
): RuntimeStats {
  const timers = init.timers ?? unrefTimers;
  const now = init.now ?? (() => performance.now());
  // 20 ms resolution: finer costs a timer wake-up per sample for no show-relevant gain. Even
  // so it is 50 wake-ups a second, the most of anything in an idle daemon (issue 18: an idle
  // daemon must be idle), so it runs only while someone reads it (the soak every 10 s).
  const delay = (init.monitor ?? (() => monitorEventLoopDelay({ resolution: 20 })))();
  let on = false;
  let lastRead = 0;
  let stopTimer: unknown;
  const stopWhenUnread = () => {
    const left = lastRead + LOOP_WATCH_MS - now();
    if (left > 0) {
      stopTimer = timers.set(left, stopWhenUnread);
      return;
    }
    stopTimer = undefined;
    on = false;
    delay.disable();
    delay.reset();
  };
  return {
    status() {
      const measured = on;
      lastRead = now();
      if (!on) {
        on = true;
        delay.enable();
        stopTimer = timers.set(LOOP_WATCH_MS, stopWhenUnread);
      }
      const activeResources: Record<string, number> = {};
      for (const kind of process.getActiveResourcesInfo())
        activeResources[kind] = (activeResources[kind] ?? 0) + 1;
      const total = Object.values(activeResources).reduce((a, b) => a + b, 0);
      const mem = process.memoryUsage();
      const eventLoopDelayMs = measured
        ? { mean: ms(delay.mean), p99: ms(delay.percentile(99)), max: ms(delay.max) }
        : { mean: 0, p99: 0, max: 0 };
      delay.reset();
      return {
        activeResources,
        activeResourcesTotal: total,
        timers: (activeResources.Timeout ?? 0) + (activeResources.Immediate ?? 0),
        heapUsedBytes: mem.heapUsed,
        heapTotalBytes: mem.heapTotal,
        newSpaceBytes:
          getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0,
        externalBytes: mem.external,
        rssBytes: mem.rss,
        eventLoopDelayMs,
      };
    },
    close: () => {
      timers.clear(stopTimer);
      delay.disable();
    },
  };
}
