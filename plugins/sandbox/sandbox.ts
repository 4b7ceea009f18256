import ivm from 'isolated-vm';
import type { FrameInfo } from '../api/hana-plugin.d.ts';
import type { PluginManifest } from '../manifest.ts';
import { classifyFailure } from './classify.ts';
import { type CpuMark, cpuMark, cpuSinceNs, otherThreadsCpuNs } from './cpu-clock.ts';
import { readControlAnswer, readFrameAnswer } from './output.ts';
import { compilePermissions, type Permissions } from './permissions.ts';
import { PRELUDE } from './prelude.ts';
import { type CpuWatchdog, createCpuWatchdog } from './watchdog.ts';

export type { PluginWrite, WriteValue } from './output.ts';

import type { Answer } from './output.ts';

// One plugin, one isolate. The host talks to it through a single dispatch function built inside
// the isolate (prelude.ts): a frame is ONE async `apply` with a JSON string in and a string out
// (copied out by structured clone: see `ask`), so no host object, Reference or Callback ever
// enters the isolate. Calls are async (they run on isolated-vm's thread pool) so an isolate that
// never yields can stall only itself; `timeout` bounds each call, the CPU watchdog (watchdog.ts)
// catches work that runs outside calls, and `memoryLimit` disposes an isolate that allocates too
// much. Measured here: one async apply costs ≈ 80 µs against ≈ 17 µs for applySync, a price
// paid for never blocking the frame loop.

// The frame as the plugin sees it is the contract in plugins/api/hana-plugin.d.ts; one source.
export type { ParamValue } from '../api/hana-plugin.d.ts';
export type FrameInput = FrameInfo;

/** Stable codes (docs/plugins.md, "Fault codes"). `starved` is an outcome, not a fault: see classify.ts. */
export type FaultCode =
  | 'overrun'
  | 'starved'
  | 'hung'
  | 'exception'
  | 'invalid-output'
  | 'memory'
  | 'escape'
  | 'disposed';

export type FrameOutcome =
  // The checked answer as output.ts reads it, plus the CPU the call took: one shape, not a copy.
  | (Omit<Extract<Answer, { kind: 'ok' }>, 'kind'> & { ok: true; cpuMs: number })
  | {
      ok: false;
      code: FaultCode;
      /** The isolate is gone: the plugin must be restarted to run again. */
      fatal: boolean;
      error: string;
      /** For invalid output: which check failed (display-list codes, "bad-writes"…). */
      detail?: string;
      logs: string[];
      cpuMs: number;
    };

export type LoadCode = 'too-large' | 'compile' | 'exception' | 'overrun' | 'starved' | 'memory' | 'no-frame';
export type LoadResult = { ok: true; sandbox: Sandbox } | { ok: false; code: LoadCode; error: string };

export type Sandbox = {
  readonly id: string;
  readonly permissions: Permissions;
  /** Logged by setup(), to hand to the daemon's log. */
  readonly setupLogs: readonly string[];
  frame(input: FrameInput): Promise<FrameOutcome>;
  readonly disposed: boolean;
  dispose(): void;
};

export type SandboxInit = {
  manifest: PluginManifest;
  entrySource: string;
  width: number;
  height: number;
  /** Wall-clock cap of one frame call (ms); default max(4 × cpuMsPerFrame, 25). */
  timeoutMs?: number;
  /**
   * The first frames may go over the CPU budget (not over the timeout): they pay for V8 compiling
   * and optimizing the plugin. Measured here: the example plugins average 0.02–0.2 ms a frame but
   * spent 4–8 ms in one of their first ~60 frames. Default 60.
   */
  warmupFrames?: number;
  /**
   * Wall-clock cap of running the bundle and of setup() (ms); default 2000. Stopped there having
   * used less than a quarter of it in CPU, the load is `starved` (the machine is loaded), not
   * `overrun`.
   */
  loadTimeoutMs?: number;
  /** Shared by the sandboxes of one runtime; default one per sandbox. */
  watchdog?: CpuWatchdog;
  /** isolated-vm says V8 lost control of the isolate: the process must end (see child.ts). */
  onCatastrophicError?: (message: string) => void;
};

export const MAX_ENTRY_BYTES = 8 * 1024 * 1024;

/**
 * After a call stopped by its wall-clock limit without having used its CPU (`starved`), the next
 * call's limit is doubled, up to this many times the base: a plugin that really loops is judged
 * by the CPU it burns, however loaded the machine is.
 */
export const MAX_TIMEOUT_STRETCH = 8;

/**
 * The CPU reserve (see `frame`): at most this many frames' budget, or RESERVE_FLOOR_MS if more.
 * Sized from what was measured on the loaded 2-core test machine (docs/plugins.md, "What it
 * costs"): the examples' frames take 0.1–0.2 ms at the median, yet 1–3 % of their frames were
 * measured at 2–83 ms of isolate CPU, at any point of a run, a trivial isolate function too. The
 * floor is absolute because that noise is: a 1 ms plugin gets the same room as a 4 ms one.
 */
export const RESERVE_FRAMES = 30;
export const RESERVE_FLOOR_MS = 100;

/** isolated-vm's `cpuTime` settles within a few turns once the call's lock is released. */
const SETTLE_TURNS = 4;

/** The watchdog's wall-clock backstop for a call blocked without using CPU (watchdog.ts). */
const STUCK_AFTER_MS = 60_000;

const MB = 1024 * 1024;
/** Appended to the bundle: its value is the eval's completion value (prelude.ts `run`). */
const PLUGIN_VALUE = `typeof plugin === 'undefined' ? undefined : plugin`;

type Killed = { code: FaultCode; error: string };
type Failure = { code: LoadCode; error: string };

/** This thread's CPU time in ms: what checking an answer costs, whatever else the machine runs. */
const threadMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};

export async function createSandbox(init: SandboxInit): Promise<LoadResult> {
  const { manifest } = init;
  const id = manifest.id;
  if (init.entrySource.length > MAX_ENTRY_BYTES) {
    return { ok: false, code: 'too-large', error: `the bundle is larger than ${MAX_ENTRY_BYTES} bytes` };
  }
  const budgetMs = manifest.limits.cpuMsPerFrame;
  const memoryLimitBytes = manifest.limits.memoryMb * MB;
  const timeoutMs = init.timeoutMs ?? Math.max(4 * budgetMs, 25);
  const loadTimeoutMs = init.loadTimeoutMs ?? 2000;
  const warmupFrames = init.warmupFrames ?? 60;
  let calls = 0;
  let stretch = 1;
  const reserveCapMs = Math.max(RESERVE_FRAMES * budgetMs, RESERVE_FLOOR_MS);
  let reserveMs = reserveCapMs;
  const permissions = compilePermissions(manifest);
  const isolate = new ivm.Isolate({
    memoryLimit: manifest.limits.memoryMb,
    onCatastrophicError: (message) => init.onCatastrophicError?.(message),
  });
  const loadMark = cpuMark(0n);
  let killed: Killed | undefined;
  const cpuNs = (): bigint | undefined => {
    if (isolate.isDisposed) return undefined;
    try {
      return isolate.cpuTime;
    } catch {
      return undefined;
    }
  };
  // While a task holds the isolate's lock, isolated-vm adds that task's *wall* time since it
  // began to `cpuTime` (on Linux it cannot read another thread's CPU clock), and the lock of a
  // call is released only after its promise resolves here. Read at that moment on a loaded
  // machine, a frame of 0.1 ms of CPU was charged the tens of ms its pool thread waited for a
  // core (a quarter of such reads were unsettled at load 14). Two equal reads mean no lock is
  // held; wait a few turns for that, then take what there is. (Even settled, `cpuTime` is wall
  // time under the lock in the build we run, so costs are read through cpu-clock.ts.)
  const settledCpuNs = async (): Promise<bigint | undefined> => {
    let last = cpuNs();
    for (let i = 0; i < SETTLE_TURNS && last !== undefined; i++) {
      const again = cpuNs();
      if (again === last) return last;
      await new Promise<void>((r) => setImmediate(r));
      last = cpuNs();
    }
    return last;
  };
  const fail = (c: Failure): LoadResult => {
    if (!isolate.isDisposed) isolate.dispose();
    return { ok: false, code: c.code, error: c.error };
  };

  // isolated-vm refuses to eval a string longer than an eighth of the memory limit.
  if (init.entrySource.length > memoryLimitBytes / 8) {
    return fail({
      code: 'too-large',
      error: `the bundle is ${init.entrySource.length} bytes; with memoryMb ${manifest.limits.memoryMb} it may be at most ${memoryLimitBytes / 8} (raise memoryMb to 8 × the bundle's size)`,
    });
  }
  const filename = `plugin:${id}/${manifest.entry}`;
  let dispatch: ivm.Reference<(kind: string, arg?: string) => [string]>;
  // isolated-vm hands a string result of 1 KiB or more to the host as an external string, whose
  // bytes are freed only when a major GC finalizes it; the host heap holds just its small header,
  // so nothing prompts that GC. Measured: the example plugins' ~2 KB answers at 180 calls/s grew
  // the plugin host's `external` memory and its RSS by 0.32 MiB/s until a major GC, and 60,000
  // such answers in a loop reached 345 MB before one ran; RSS stayed at that peak afterwards.
  // Copied by structured clone instead, the answer arrives as an ordinary heap string that the
  // GC sees and sizes: both stayed flat. (prelude.ts wraps it in a one-element array for this.)
  const ask = async (args: [kind: string, arg?: string], timeout: number): Promise<unknown> => {
    const r: unknown = await dispatch.apply(undefined, args, { timeout, result: { copy: true } });
    return Array.isArray(r) && r.length === 1 ? r[0] : undefined;
  };
  let setupLogs: string[] = [];
  try {
    const context = await isolate.createContext();
    dispatch = await context.evalClosure(PRELUDE, [], {
      result: { reference: true },
      timeout: loadTimeoutMs,
    });
    try {
      // Compiled here only for its syntax check: a compile error is V8's, not the plugin's, text.
      const script = await isolate.compileScript(init.entrySource, { filename });
      script.release();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      return fail({
        code: 'compile',
        error: `the bundle does not compile (${msg.slice(0, 300)}); build it with esbuild --bundle --format=iife --global-name=plugin`,
      });
    }
    // Run inside the isolate (prelude.ts `run`), so what its top level throws is caught and
    // clipped there instead of being copied out whole.
    const ran = readControlAnswer(
      await ask(['run', `${init.entrySource}\n;${PLUGIN_VALUE}\n//# sourceURL=${filename}`], loadTimeoutMs),
    );
    if (ran.error) return fail({ code: 'exception', error: `its top level threw ${ran.error}` });
    const bound = readControlAnswer(await ask(['bind'], loadTimeoutMs));
    if (bound.error) return fail({ code: 'no-frame', error: bound.error });
    if (bound.setup) {
      const info = JSON.stringify({ id, width: init.width, height: init.height });
      const r = readControlAnswer(await ask(['setup', info], loadTimeoutMs));
      setupLogs = r.logs;
      if (r.error) return fail({ code: 'exception', error: `setup() threw ${r.error}` });
    }
  } catch (err) {
    const c = classifyFailure(err, isolate, {
      cpuMs: Number(cpuSinceNs(loadMark, cpuNs() ?? 0n, otherThreadsCpuNs())) / 1e6,
      cpuAllowedMs: loadTimeoutMs / 4,
      memoryLimitBytes,
    });
    return fail({ code: c.code === 'disposed' ? 'exception' : c.code, error: `while loading: ${c.error}` });
  }

  const watchdog = init.watchdog ?? createCpuWatchdog();
  const ownWatchdog = init.watchdog === undefined;
  let busySince: number | undefined;
  let busyMark: CpuMark | undefined;
  const startNs = cpuNs();
  let idleMark: CpuMark | undefined = startNs === undefined ? undefined : cpuMark(startNs);
  let unwatch = (): void => {};

  function dispose(): void {
    unwatch();
    if (ownWatchdog) watchdog.close();
    if (!isolate.isDisposed) {
      try {
        isolate.dispose();
      } catch {
        // already disposed by the memory limit between the check and the call
      }
    }
  }

  unwatch = watchdog.watch({
    cpuNs,
    idleSince: () => (busySince === undefined ? idleMark : undefined),
    callSince: () => busyMark,
    callElapsedMs: () => (busySince === undefined ? undefined : performance.now() - busySince),
    idleLimitNs: BigInt(Math.round((2 * budgetMs + 10) * 1e6)),
    // Follows the stretched limit; judged on CPU, so a starved call is not a hung one.
    get hungAfterCpuMs() {
      return timeoutMs * stretch + 2000;
    },
    stuckAfterMs: STUCK_AFTER_MS,
    kill(reason) {
      killed = { code: busySince === undefined ? 'escape' : 'hung', error: reason };
      dispose();
    },
  });

  const failed = (
    code: FaultCode,
    fatal: boolean,
    error: string,
    cpuMs: number,
    logs: string[] = [],
    detail?: string,
  ): FrameOutcome => ({ ok: false, code, fatal, error, logs, cpuMs, ...(detail ? { detail } : {}) });

  return {
    ok: true,
    sandbox: {
      id,
      permissions,
      setupLogs,
      get disposed() {
        return isolate.isDisposed;
      },
      dispose,
      async frame(input) {
        if (killed) return failed(killed.code, true, killed.error, 0);
        const beforeNs = await settledCpuNs();
        if (beforeNs === undefined) return failed('disposed', true, 'its isolate is gone', 0);
        const before = cpuMark(beforeNs);
        busySince = performance.now();
        busyMark = before;
        calls++;
        let answer: unknown;
        let thrown: unknown;
        try {
          answer = await ask(['frame', JSON.stringify(input)], Math.round(timeoutMs * stretch));
        } catch (err) {
          thrown = err;
        }
        const afterNs = await settledCpuNs();
        const after = afterNs === undefined ? undefined : cpuMark(afterNs);
        busySince = undefined;
        busyMark = undefined;
        idleMark = after;
        const cpuMs =
          after === undefined ? 0 : Number(cpuSinceNs(before, after.isolateNs, after.othersNs)) / 1e6;
        if (thrown !== undefined) {
          // The watchdog may have killed it meanwhile (TypeScript cannot see the closure write).
          const k = killed as Killed | undefined;
          if (k) return failed(k.code, true, k.error, cpuMs);
          const c = classifyFailure(thrown, isolate, {
            cpuMs,
            // A call that burned half its wall-clock limit on CPU was running, not waiting; after
            // the warm-up, more than its budget is an overrun anyway.
            cpuAllowedMs:
              calls > warmupFrames ? Math.min(budgetMs + reserveMs, timeoutMs / 2) : timeoutMs / 2,
            memoryLimitBytes,
          });
          stretch = c.code === 'starved' ? Math.min(MAX_TIMEOUT_STRETCH, stretch * 2) : 1;
          if (c.code === 'overrun') reserveMs = 0;
          if (c.fatal) dispose();
          return failed(c.code, c.fatal, c.error, cpuMs);
        }
        stretch = 1;
        // Checking the answer runs on the runtime's own thread: its cost is the plugin's too, so a
        // plugin cannot slow its neighbours down with output that is big but within the caps. It
        // is measured on this thread's CPU clock, so a loaded machine does not inflate it.
        const readStart = threadMs();
        const read = readFrameAnswer(answer, permissions);
        const readMs = threadMs() - readStart;
        // The cause first: output over the caps is invalid whatever it cost to build.
        if (read.kind === 'invalid-output') {
          return failed('invalid-output', false, read.error, cpuMs, read.logs, read.code);
        }
        if (read.kind === 'exception') return failed('exception', false, read.error, cpuMs, read.logs);
        // The budget is a rate: each frame earns `budgetMs` into a reserve of at most
        // `reserveCapMs` and pays what it used. A plugin over its budget on average empties the
        // reserve (at twice its budget, within reserveCapMs / budgetMs frames) and then overruns every
        // frame, as before; a single frame that the machine, a GC or V8 tiering up made dear
        // is paid from the reserve instead of being lost. One frame is still bounded by the
        // call's time limit. Starved calls and the warm-up are not charged.
        if (calls > warmupFrames) {
          const costMs = cpuMs + readMs;
          const left = Math.min(reserveCapMs, reserveMs + budgetMs) - costMs;
          if (left < 0) {
            // The frame is lost whatever it drew: its time was not its to take. Its debt is
            // not carried over: the next frame starts from an empty reserve.
            reserveMs = 0;
            return failed(
              'overrun',
              false,
              `used ${costMs.toFixed(1)} ms of CPU (${readMs.toFixed(1)} ms of it checking its output) having ${(left + costMs - budgetMs).toFixed(1)} ms in its reserve; its budget is ${budgetMs} ms a frame`,
              cpuMs,
              read.logs,
            );
          }
          reserveMs = left;
        }
        return {
          ok: true,
          commands: read.commands,
          json: read.json,
          writes: read.writes,
          refused: read.refused,
          logs: read.logs,
          droppedLogs: read.droppedLogs,
          droppedWrites: read.droppedWrites,
          cpuMs,
        };
      },
    },
  };
}
