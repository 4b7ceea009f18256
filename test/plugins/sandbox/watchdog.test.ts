import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ivm from 'isolated-vm';
import {
  createCpuWatchdog,
  IDLE_WATCH_INTERVAL_MS,
  type IntervalTimers,
  WATCH_INTERVAL_MS,
  type Watched,
} from '../../../plugins/sandbox/watchdog.ts';

// The watchdog is the line behind `timeout`: work an isolate does outside any call. The sandbox
// removes the one such door we know of (FinalizationRegistry), so this test opens it on a raw
// isolate to show the watchdog would still catch it.

const manualTimers = (): IntervalTimers & { fns: (() => void)[] } => {
  const fns: (() => void)[] = [];
  return {
    fns,
    every: (_ms, fn) => fns.push(fn),
    cancel: () => {
      fns.length = 0;
    },
  };
};

describe('CPU watchdog', () => {
  it('disposes an isolate that burns CPU between calls (a FinalizationRegistry callback that never returns)', async () => {
    const isolate = new ivm.Isolate({ memoryLimit: 32 });
    const context = await isolate.createContext();
    const run = await context.evalClosure(
      `return function () {
        const registry = new FinalizationRegistry(() => { for (;;) {} });
        for (let i = 0; i < 1000; i++) registry.register({ big: new Array(1000).fill(i) }, i);
        globalThis.keep = registry;
        const junk = [];
        for (let i = 0; i < 2000; i++) junk.push(new Array(1000).fill(i));
        return 'returned normally';
      }`,
      [],
      { result: { reference: true } },
    );
    assert.equal(await run.apply(undefined, [], { timeout: 1000 }), 'returned normally');
    const idleSince = isolate.cpuTime;
    let killedFor: string | undefined;
    const timers = manualTimers();
    const watchdog = createCpuWatchdog({ timers });
    const watched: Watched = {
      cpuNs: () => (isolate.isDisposed ? undefined : isolate.cpuTime),
      idleSinceNs: () => idleSince,
      callSinceNs: () => undefined,
      callElapsedMs: () => undefined,
      idleLimitNs: 20_000_000n,
      hungAfterCpuMs: 1000,
      stuckAfterMs: 60_000,
      kill(reason) {
        killedFor = reason;
        isolate.dispose();
      },
    };
    watchdog.watch(watched);
    assert.equal(timers.fns.length, 1, 'the watchdog samples on an interval');
    try {
      for (let i = 0; i < 200 && killedFor === undefined; i++) {
        await new Promise((r) => setTimeout(r, 25));
        timers.fns[0]!();
      }
      assert.match(killedFor ?? 'never killed', /outside any frame call/);
      assert.equal(isolate.isDisposed, true);
    } finally {
      watchdog.close();
      if (!isolate.isDisposed) isolate.dispose();
    }
  });

  it('leaves an idle isolate alone, and kills a call that burns CPU past its timeout', () => {
    const timers = manualTimers();
    const watchdog = createCpuWatchdog({ timers });
    let cpu = 1_000_000n;
    let busyFor: number | undefined;
    let callSince: bigint | undefined;
    const kills: string[] = [];
    watchdog.watch({
      cpuNs: () => cpu,
      idleSinceNs: () => (busyFor === undefined ? 1_000_000n : undefined),
      callSinceNs: () => callSince,
      callElapsedMs: () => busyFor,
      idleLimitNs: 5_000_000n,
      hungAfterCpuMs: 100,
      stuckAfterMs: 60_000,
      kill: (reason) => kills.push(reason),
    });
    watchdog.check();
    cpu += 4_000_000n; // under the idle limit: GC noise, not an escape
    watchdog.check();
    busyFor = 50;
    callSince = cpu;
    cpu += 40_000_000n; // busy: CPU during a call is the timeout's business
    watchdog.check();
    busyFor = 5_000; // a starved call: long in wall time, little CPU, is not hung
    watchdog.check();
    assert.deepEqual(kills, []);
    cpu += 70_000_000n;
    watchdog.check();
    assert.equal(kills.length, 1);
    assert.match(kills[0]!, /used 110 ms of CPU and did not stop at its timeout/);
    watchdog.check();
    assert.equal(kills.length, 1, 'a killed isolate is no longer watched');
    watchdog.close();
    assert.equal(timers.fns.length, 0);
  });

  it('stops watching an isolate that is gone', () => {
    const timers = manualTimers();
    const watchdog = createCpuWatchdog({ timers });
    const kills: string[] = [];
    let gone = false;
    watchdog.watch({
      cpuNs: () => (gone ? undefined : 10_000_000_000n),
      idleSinceNs: () => 0n,
      callSinceNs: () => undefined,
      callElapsedMs: () => undefined,
      idleLimitNs: 1n,
      hungAfterCpuMs: 1,
      stuckAfterMs: 1,
      kill: (r) => kills.push(r),
    });
    gone = true;
    watchdog.check();
    assert.deepEqual(kills, []);
    watchdog.close();
  });

  it('kills a call blocked past the wall-clock backstop even without CPU', () => {
    const timers = manualTimers();
    const watchdog = createCpuWatchdog({ timers });
    const kills: string[] = [];
    watchdog.watch({
      cpuNs: () => 5_000_000n,
      idleSinceNs: () => undefined,
      callSinceNs: () => 5_000_000n,
      callElapsedMs: () => 61_000,
      idleLimitNs: 1n,
      hungAfterCpuMs: 100,
      stuckAfterMs: 60_000,
      kill: (r) => kills.push(r),
    });
    watchdog.check();
    assert.equal(kills.length, 1);
    assert.match(kills[0]!, /blocked for 61 s/);
    watchdog.close();
  });
  it('samples slowly while the frame loop is stopped, and still catches CPU used since the last call', () => {
    const armed: number[] = [];
    const watchdog = createCpuWatchdog({
      timers: { every: (ms) => armed.push(ms), cancel: () => {} },
    });
    let cpu = 0n;
    let killed: string | undefined;
    watchdog.watch({
      cpuNs: () => cpu,
      idleSinceNs: () => 0n,
      callSinceNs: () => undefined,
      callElapsedMs: () => undefined,
      idleLimitNs: 20_000_000n,
      hungAfterCpuMs: 1000,
      stuckAfterMs: 60_000,
      kill: (reason) => {
        killed = reason;
      },
    });
    assert.deepEqual(armed, [WATCH_INTERVAL_MS]);
    watchdog.setIdle(true);
    watchdog.setIdle(true);
    assert.deepEqual(armed, [WATCH_INTERVAL_MS, IDLE_WATCH_INTERVAL_MS], 're-armed once, at the idle pace');
    assert.equal(watchdog.intervalMs(), IDLE_WATCH_INTERVAL_MS);
    // An escape judged by CPU, not by how often it was looked at: 200 ms used between samples.
    cpu = 200_000_000n;
    watchdog.check();
    assert.match(killed ?? '', /outside any frame call/);
    watchdog.setIdle(false);
    assert.equal(watchdog.intervalMs(), WATCH_INTERVAL_MS);
    watchdog.close();
    assert.equal(watchdog.intervalMs(), undefined);
  });
});
