import ivm from 'isolated-vm';
import type { FrameInfo } from '../api/hana-plugin.d.ts';
import type { PluginManifest } from '../manifest.ts';
import { readControlAnswer, readFrameAnswer } from './output.ts';
import { compilePermissions, type Permissions } from './permissions.ts';
import { PRELUDE } from './prelude.ts';
import { type CpuWatchdog, createCpuWatchdog } from './watchdog.ts';

export type { PluginWrite, WriteValue } from './output.ts';

import type { Answer } from './output.ts';

// One plugin, one isolate. The host talks to it through a single dispatch function built inside
// the isolate (prelude.ts): a frame is ONE async `apply` with a JSON string in and a string out,
// so no host object, Reference or Callback ever enters the isolate. Calls are async (they run on
// isolated-vm's thread pool) so an isolate that never yields can stall only itself; `timeout`
// bounds each call, the CPU watchdog (watchdog.ts) catches work that runs outside calls, and
// `memoryLimit` disposes an isolate that allocates too much. Measured here: one async apply
// costs ≈ 80 µs against ≈ 17 µs for applySync, a price paid for never blocking the frame loop.

// The frame as the plugin sees it is the contract in plugins/api/hana-plugin.d.ts; one source.
export type { ParamValue } from '../api/hana-plugin.d.ts';
export type FrameInput = FrameInfo;

export type FaultCode = 'overrun' | 'exception' | 'invalid-output' | 'memory' | 'escape' | 'disposed';

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

export type LoadCode = 'too-large' | 'compile' | 'exception' | 'overrun' | 'memory' | 'no-frame';
export type LoadResult = { ok: true; sandbox: Sandbox } | { ok: false; code: LoadCode; error: string };

export type Sandbox = {
  readonly id: string;
  readonly permissions: Permissions;
  /** Logged by setup(), to hand to the daemon's log. */
  readonly setupLogs: readonly string[];
  frame(input: FrameInput): Promise<FrameOutcome>;
  readonly disposed: boolean;
  /** CPU the isolate has used, in ms. */
  cpuMs(): number;
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
  /** Wall-clock cap of running the bundle and of setup() (ms); default 2000. */
  loadTimeoutMs?: number;
  /** Shared by the sandboxes of one runtime; default one per sandbox. */
  watchdog?: CpuWatchdog;
  /** isolated-vm says V8 lost control of the isolate: the process must end (see child.ts). */
  onCatastrophicError?: (message: string) => void;
};

export const MAX_ENTRY_BYTES = 8 * 1024 * 1024;

type Classified = { code: FaultCode | LoadCode; fatal: boolean; error: string };

function classify(err: unknown, isolate: ivm.Isolate, killed: Classified | undefined): Classified {
  const message = err instanceof Error ? err.message : String(err);
  if (killed) return killed;
  if (/memory limit/i.test(message))
    return { code: 'memory', fatal: true, error: 'exceeded its memory limit' };
  if (/timed out/i.test(message))
    return { code: 'overrun', fatal: false, error: 'ran past its time limit and was stopped' };
  if (isolate.isDisposed) return { code: 'disposed', fatal: true, error: 'its isolate is gone' };
  return { code: 'exception', fatal: false, error: message.slice(0, 500) };
}

export async function createSandbox(init: SandboxInit): Promise<LoadResult> {
  const { manifest } = init;
  const id = manifest.id;
  if (init.entrySource.length > MAX_ENTRY_BYTES) {
    return { ok: false, code: 'too-large', error: `the bundle is larger than ${MAX_ENTRY_BYTES} bytes` };
  }
  const budgetMs = manifest.limits.cpuMsPerFrame;
  const timeoutMs = init.timeoutMs ?? Math.max(4 * budgetMs, 25);
  const loadTimeoutMs = init.loadTimeoutMs ?? 2000;
  const warmupFrames = init.warmupFrames ?? 60;
  let calls = 0;
  const permissions = compilePermissions(manifest);
  const isolate = new ivm.Isolate({
    memoryLimit: manifest.limits.memoryMb,
    onCatastrophicError: (message) => init.onCatastrophicError?.(message),
  });
  let killed: Classified | undefined;
  const fail = (c: Classified): LoadResult => {
    if (!isolate.isDisposed) isolate.dispose();
    return { ok: false, code: c.code as LoadCode, error: c.error };
  };

  let dispatch: ivm.Reference<(kind: string, arg?: string) => string>;
  let setupLogs: string[] = [];
  try {
    const context = await isolate.createContext();
    dispatch = await context.evalClosure(PRELUDE, [], {
      result: { reference: true },
      timeout: loadTimeoutMs,
    });
    let script: ivm.Script;
    try {
      script = await isolate.compileScript(init.entrySource, { filename: `plugin:${id}/${manifest.entry}` });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      return fail({
        code: 'compile',
        fatal: true,
        error: `the bundle does not compile (${msg.slice(0, 300)}); build it with esbuild --bundle --format=iife --global-name=plugin`,
      });
    }
    await script.run(context, { timeout: loadTimeoutMs, release: true });
    const bound = readControlAnswer(await dispatch.apply(undefined, ['bind'], { timeout: loadTimeoutMs }));
    if (bound.error) return fail({ code: 'no-frame', fatal: true, error: bound.error });
    if (bound.setup) {
      const info = JSON.stringify({ id, width: init.width, height: init.height });
      const r = readControlAnswer(
        await dispatch.apply(undefined, ['setup', info], { timeout: loadTimeoutMs }),
      );
      setupLogs = r.logs;
      if (r.error) return fail({ code: 'exception', fatal: true, error: `setup() threw ${r.error}` });
    }
  } catch (err) {
    const c = classify(err, isolate, undefined);
    return fail({ ...c, error: `while loading: ${c.error}` });
  }

  const watchdog = init.watchdog ?? createCpuWatchdog();
  const ownWatchdog = init.watchdog === undefined;
  let busySince: number | undefined;
  let idleBase: bigint | undefined;
  const cpuNs = (): bigint | undefined => {
    if (isolate.isDisposed) return undefined;
    try {
      return isolate.cpuTime;
    } catch {
      return undefined;
    }
  };
  idleBase = cpuNs();
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
    idleSinceNs: () => (busySince === undefined ? idleBase : undefined),
    callElapsedMs: () => (busySince === undefined ? undefined : performance.now() - busySince),
    idleLimitNs: BigInt(Math.round((2 * budgetMs + 10) * 1e6)),
    hungAfterMs: timeoutMs + 2000,
    kill(reason) {
      killed = { code: busySince === undefined ? 'escape' : 'overrun', fatal: true, error: reason };
      dispose();
    },
  });

  return {
    ok: true,
    sandbox: {
      id,
      permissions,
      setupLogs,
      get disposed() {
        return isolate.isDisposed;
      },
      cpuMs: () => Number(cpuNs() ?? 0n) / 1e6,
      dispose,
      async frame(input) {
        if (killed) {
          return {
            ok: false,
            code: killed.code as FaultCode,
            fatal: true,
            error: killed.error,
            logs: [],
            cpuMs: 0,
          };
        }
        const before = cpuNs();
        if (before === undefined) {
          return {
            ok: false,
            code: 'disposed',
            fatal: true,
            error: 'its isolate is gone',
            logs: [],
            cpuMs: 0,
          };
        }
        busySince = performance.now();
        calls++;
        let answer: unknown;
        let thrown: unknown;
        try {
          answer = await dispatch.apply(undefined, ['frame', JSON.stringify(input)], { timeout: timeoutMs });
        } catch (err) {
          thrown = err;
        }
        const after = cpuNs();
        busySince = undefined;
        idleBase = after;
        const cpuMs = after === undefined ? 0 : Number(after - before) / 1e6;
        if (thrown !== undefined) {
          const c = classify(thrown, isolate, killed);
          if (c.fatal) dispose();
          return { ok: false, code: c.code as FaultCode, fatal: c.fatal, error: c.error, logs: [], cpuMs };
        }
        // Checking the answer runs on the runtime's own thread: its cost is the plugin's too, so a
        // plugin cannot slow its neighbours down with output that is big but within the caps.
        const readStart = performance.now();
        const read = readFrameAnswer(answer, permissions);
        const readMs = performance.now() - readStart;
        if (cpuMs + readMs > budgetMs && calls > warmupFrames) {
          // The frame is lost whatever it drew: its time was not its to take.
          return {
            ok: false,
            code: 'overrun',
            fatal: false,
            error: `used ${(cpuMs + readMs).toFixed(1)} ms of CPU (${readMs.toFixed(1)} ms of it checking its output), its budget is ${budgetMs} ms`,
            logs: read.logs,
            cpuMs,
          };
        }
        if (read.kind === 'exception') {
          return { ok: false, code: 'exception', fatal: false, error: read.error, logs: read.logs, cpuMs };
        }
        if (read.kind === 'invalid-output') {
          return {
            ok: false,
            code: 'invalid-output',
            fatal: false,
            error: read.error,
            detail: read.code,
            logs: read.logs,
            cpuMs,
          };
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
