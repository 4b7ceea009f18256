import type ivm from 'isolated-vm';

// Why a call into an isolate failed, judged by its cause and never by wall time alone.
// isolated-vm stops a call at a wall-clock `timeout`; the memory limit is enforced only when a
// garbage collection finds the heap over it, and near the limit the collector runs again and
// again. Measured here: a memory bomb under `memoryMb: 8` needed 65-450 ms of its own CPU to be
// disposed on an idle machine and 530-2,100 ms with every core busy, so its 200 ms timeout
// stopped it first, holding 3.8-8.6 MB with 6.4-9.6 MB of heap committed, and it was called an
// overrun. So a timeout is read as:
//   - the heap in use (plus ArrayBuffers) is over the plugin's memoryMb, or the heap committed
//     is at 3/4 of it or more (the collector was fighting the limit: that is where the CPU
//     went) → `memory`;
//   - the call used more CPU (cpu-clock.ts: never the wall time `cpuTime` gives in this build)
//     than it was allowed →
//     `overrun`;
//   - otherwise the machine did not give it the CPU to finish → `starved`, which is not the
//     plugin's fault: the frame is lost, nothing is counted against it, and the next call gets
//     a longer wall-clock limit (see sandbox.ts).

export type Classified = {
  code: 'memory' | 'overrun' | 'starved' | 'disposed' | 'exception';
  /** The isolate is gone (or must go): the plugin has to be restarted to run again. */
  fatal: boolean;
  error: string;
};

export type CallFacts = {
  /** CPU the isolate used during the call, ms. */
  cpuMs: number;
  /** CPU the call was allowed before a stop counts as an overrun, ms. */
  cpuAllowedMs: number;
  /** The manifest's memoryMb, in bytes. */
  memoryLimitBytes: number;
};

/** Heap in use and committed, each plus ArrayBuffer memory; undefined once the isolate is gone. */
export function heapBytes(isolate: ivm.Isolate): { used: number; committed: number } | undefined {
  if (isolate.isDisposed) return undefined;
  try {
    // ≈ 13 µs: read only when a call was stopped, never on the frame path.
    const h = isolate.getHeapStatisticsSync();
    return {
      used: h.used_heap_size + h.externally_allocated_size,
      committed: h.total_heap_size + h.externally_allocated_size,
    };
  } catch {
    return undefined; // disposed between the check and the call
  }
}

/** Committed heap at this share of the limit: the collector is fighting the limit. */
const NEAR_LIMIT = 0.75;

const MB = 1024 * 1024;
const ERROR_LENGTH = 500;

export function classifyFailure(err: unknown, isolate: ivm.Isolate, facts: CallFacts): Classified {
  const message = err instanceof Error ? err.message : String(err);
  if (/memory limit/i.test(message))
    return { code: 'memory', fatal: true, error: 'exceeded its memory limit' };
  if (isolate.isDisposed) return { code: 'disposed', fatal: true, error: 'its isolate is gone' };
  if (/timed out/i.test(message)) {
    const heap = heapBytes(isolate);
    const limit = facts.memoryLimitBytes;
    if (heap !== undefined && (heap.used >= limit || heap.committed >= NEAR_LIMIT * limit)) {
      return {
        code: 'memory',
        fatal: true,
        error: `was stopped at its memory limit (${(heap.used / MB).toFixed(1)} MB in use, ${(heap.committed / MB).toFixed(1)} MB committed, its limit is ${limit / MB} MB)`,
      };
    }
    if (facts.cpuMs > facts.cpuAllowedMs) {
      return {
        code: 'overrun',
        fatal: false,
        error: `used ${facts.cpuMs.toFixed(1)} ms of CPU, more than its ${facts.cpuAllowedMs} ms, and was stopped`,
      };
    }
    return {
      code: 'starved',
      fatal: false,
      error: `got only ${facts.cpuMs.toFixed(1)} ms of CPU before its wall-clock limit (the machine is loaded); not counted against it`,
    };
  }
  return { code: 'exception', fatal: false, error: message.slice(0, ERROR_LENGTH) };
}
