import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ivm from 'isolated-vm';
import { type CpuMark, cpuMark } from '../../../plugins/sandbox/cpu-clock.ts';
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

/** A mark where the isolate's clock and the other threads' clock read the same. */
const at = (ns: bigint): CpuMark => ({ isolateNs: ns, othersNs: ns });

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
    const idleSince = cpuMark(isolate.cpuTime);
    let killedFor: string | undefined;
    const timers = manualTimers();
    const watchdog = createCpuWatchdog({ timers });
    const watched: Watched = {
      cpuNs: () => (isolate.isDisposed ? undefined : isolate.cpuTime),
      idleSince: () => idleSince,
      callSince: () => undefined,
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
    let cpu = 1_000_000n;
    const watchdog = createCpuWatchdog({ timers, othersCpuNs: () => cpu });
    let busyFor: number | undefined;
    let callSince: CpuMark | undefined;
    const kills: string[] = [];
    watchdog.watch({
      cpuNs: () => cpu,
      idleSince: () => (busyFor === undefined ? at(1_000_000n) : undefined),
      callSince: () => callSince,
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
    callSince = at(cpu);
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
      idleSince: () => at(0n),
      callSince: () => undefined,
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
      idleSince: () => undefined,
      callSince: () => at(5_000_000n),
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
    let cpu = 0n;
    const watchdog = createCpuWatchdog({
      timers: { every: (ms) => armed.push(ms), cancel: () => {} },
      othersCpuNs: () => cpu,
    });
    let killed: string | undefined;
    watchdog.watch({
      cpuNs: () => cpu,
      idleSince: () => at(0n),
      callSince: () => undefined,
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

  it('judges a call by the CPU it could have used: `cpuTime` growing while no other thread works is waiting, not CPU', () => {
    // In the isolated-vm build we run, `cpuTime` is wall time under the isolate's lock, so a call
    // waiting for a core grows it as fast as one that spins. Only the other threads' CPU tells
    // them apart.
    const timers = manualTimers();
    let others = 0n;
    const watchdog = createCpuWatchdog({ timers, othersCpuNs: () => others });
    let cpu = 0n;
    const kills: string[] = [];
    watchdog.watch({
      cpuNs: () => cpu,
      idleSince: () => undefined,
      callSince: () => at(0n),
      callElapsedMs: () => Number(cpu / 1_000_000n),
      idleLimitNs: 1n,
      hungAfterCpuMs: 100,
      stuckAfterMs: 60_000,
      kill: (reason) => kills.push(reason),
    });
    cpu = 5_000_000_000n; // five seconds under the lock, starved: the other threads used 3 ms
    others = 3_000_000n;
    watchdog.check();
    assert.deepEqual(kills, [], 'a starved call is not hung');
    others = 150_000_000n; // now it (or something beside it) burned 150 ms
    watchdog.check();
    assert.equal(kills.length, 1);
    assert.match(kills[0]!, /used 150 ms of CPU/);
    watchdog.close();
  });

  it('a real isolate blocked without CPU is not called hung, and one that spins is', async () => {
    const isolate = new ivm.Isolate({ memoryLimit: 32 });
    const timers = manualTimers();
    const watchdog = createCpuWatchdog({ timers });
    const context = await isolate.createContext();
    const block = await context.evalClosure(
      `return function (ms) { return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); }`,
      [],
      { result: { reference: true } },
    );
    const spin = await context.evalClosure(`return function () { for (;;) {} }`, [], {
      result: { reference: true },
    });
    let callSince: CpuMark | undefined;
    let callStart = 0;
    const kills: string[] = [];
    watchdog.watch({
      cpuNs: () => (isolate.isDisposed ? undefined : isolate.cpuTime),
      idleSince: () => undefined,
      callSince: () => callSince,
      callElapsedMs: () => performance.now() - callStart,
      idleLimitNs: 1n,
      hungAfterCpuMs: 300,
      stuckAfterMs: 60_000,
      kill(reason) {
        kills.push(reason);
        isolate.dispose();
      },
    });
    const start = (): void => {
      callSince = cpuMark(isolate.cpuTime);
      callStart = performance.now();
    };
    try {
      start();
      const blocked = block.apply(undefined, [1200], { timeout: 10_000 });
      let blockedFor = 0n;
      let done = false;
      void blocked.finally(() => {
        done = true;
      });
      for (let i = 0; i < 100 && !done; i++) {
        await new Promise((r) => setTimeout(r, 50));
        blockedFor = isolate.cpuTime - callSince!.isolateNs;
        timers.fns[0]!();
      }
      assert.equal(await blocked, 'timed-out');
      assert.ok(
        blockedFor > 600_000_000n,
        `cpuTime grew ${blockedFor} ns while it waited: the trap this guards`,
      );
      assert.deepEqual(kills, [], 'blocked 1.2 s without CPU: not hung');

      start();
      const spun = spin.apply(undefined, []).then(
        () => 'returned',
        (err: unknown) => String(err),
      );
      for (let i = 0; i < 600 && kills.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        if (kills.length === 0) timers.fns[0]?.();
      }
      assert.equal(kills.length, 1, 'a call spinning with no timeout is killed once its CPU passes the mark');
      assert.match(kills[0]!, /ms of CPU and did not stop at its timeout/);
      assert.match(await spun, /disposed/i);
    } finally {
      watchdog.close();
      if (!isolate.isDisposed) isolate.dispose();
    }
  });
});
