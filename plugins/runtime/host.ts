import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type Logger, securityLogger } from '../../daemon/log.ts';
import type { ParamValue, PluginWrite } from '../sandbox/sandbox.ts';
import { monotonicNs, type SessionClock } from './clock.ts';
import type { EncodedFrame, PluginSpec, PluginStats } from './engine.ts';
import type { FaultPolicy } from './policy.ts';
import {
  CATASTROPHIC_MARKER,
  type ClockMessage,
  FromChild,
  type HostEvent,
  isFrameMessage,
  type ToChild,
} from './protocol.ts';

// The daemon's side of the plugin host: forks child.ts, feeds it plugins, parameters and clock
// samples, hands its frames, writes and events to the daemon, and brings it back when it dies
// (a catastrophic isolate error aborts it by design; SIGKILL, OOM or a hang end it too) with
// exponential backoff. A plugin named in a catastrophic error is quarantined after repeated
// crashes, so one plugin cannot keep taking the others down. Nothing here runs plugin code:
// the daemon's event loop only moves small messages.

export const CHILD_PATH = join(import.meta.dirname, 'child.ts');

export type HostInit = {
  plugins: readonly PluginSpec[];
  frameRate: number;
  width: number;
  height: number;
  clock: SessionClock;
  policy?: Partial<FaultPolicy>;
  onFrame(frame: EncodedFrame): void;
  onWrites(plugin: string, writes: PluginWrite[]): void;
  onEvent(event: HostEvent): void;
  log: Logger;
  /** Initial parameter values (paths some plugin reads). */
  params?: Readonly<Record<string, ParamValue>>;
  /** How often a clock sample goes to the child, ms (default 100). */
  clockIntervalMs?: number;
  /** Parameter changes are batched for this long, ms (default half a frame). */
  paramsFlushMs?: number;
  /** Host restarts: first delay, cap, and how long a host must live for the count to reset. */
  restart?: { backoffMs?: number; maxBackoffMs?: number; stableMs?: number };
  /** A plugin named in this many catastrophic crashes within `restart.stableMs` is quarantined (default 2). */
  crashesToQuarantine?: number;
  /** A child silent for this long (ms) is killed and restarted (default 5000; it reports every 250 ms). */
  unresponsiveMs?: number;
  /** Lets tests trigger the crash and hang paths (see child.ts). */
  testHooks?: boolean;
};

export type HostState = 'starting' | 'running' | 'backoff' | 'closed';

export type HostStats = {
  host: {
    pid: number | null;
    state: HostState;
    restarts: number;
    frames: number;
    droppedFrames: number;
    trimmedFrames: number;
  };
  plugins: PluginStats[];
};

export type PluginHost = {
  setPlugins(plugins: readonly PluginSpec[]): void;
  updateParams(changes: Iterable<{ readonly path: string; readonly value: ParamValue }>): void;
  /** Re-enables a quarantined plugin; false when no plugin by that id is quarantined. */
  enable(id: string): boolean;
  stats(): HostStats;
  /** Resolves when the current child has loaded its plugin list. */
  ready(): Promise<void>;
  /** With `testHooks`: makes the child take its catastrophic-error path, or hang. Ignored otherwise. */
  testHook(hook: { kind: 'catastrophic'; plugin: string } | { kind: 'hang' }): void;
  close(): Promise<void>;
};

const COUNTERS = ['frames', 'overruns', 'restarts', 'refusedWrites'] as const;

export function startPluginHost(init: HostInit): PluginHost {
  const { log } = init;
  const backoffMs = init.restart?.backoffMs ?? 250;
  const maxBackoffMs = init.restart?.maxBackoffMs ?? 10_000;
  const stableMs = init.restart?.stableMs ?? 60_000;
  const crashesToQuarantine = init.crashesToQuarantine ?? 2;
  const unresponsiveMs = init.unresponsiveMs ?? 5000;
  let plugins = init.plugins;
  const params = new Map<string, ParamValue>(Object.entries(init.params ?? {}));
  let pendingParams = new Map<string, ParamValue>();
  let paramsTimer: NodeJS.Timeout | undefined;
  const quarantined = new Set<string>();
  const pluginCrashes = new Map<string, number[]>();
  let crashes: number[] = [];
  let child: ChildProcess | undefined;
  let state: HostState = 'starting';
  let restarts = 0;
  let lastHeard = 0;
  let catastrophe: { plugin: string; message: string } | undefined;
  let killedFor: string | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  let current: PluginStats[] = [];
  const base = new Map<string, Pick<PluginStats, (typeof COUNTERS)[number]>>();
  let totals = { frames: 0, droppedFrames: 0, trimmedFrames: 0 };
  let totalsBase = { frames: 0, droppedFrames: 0, trimmedFrames: 0 };
  let readyWaiters: (() => void)[] = [];
  let badMessageLogged = false;
  const security = securityLogger(log);
  let isReady = false;

  const clockMessage = (): ClockMessage => {
    const ns = monotonicNs();
    const c = init.clock();
    return { timeMs: c.timeMs, beat: c.beat, tempo: c.tempo, ns: ns.toString() };
  };

  function post(msg: ToChild): void {
    if (!child?.connected) return;
    try {
      child.send(msg);
    } catch (err) {
      log.debug({ err, event: 'plugin.host-send-failed' }, 'could not message the plugin host');
    }
  }

  /** A failing handler is the daemon's bug; it is logged and must not take the IPC channel down. */
  function guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      log.error({ err, event: 'plugin.handler-failed', handler: what }, `the plugin ${what} handler failed`);
    }
  }

  const emit = (event: HostEvent): void => guard('event', () => init.onEvent(event));

  function onMessage(raw: unknown): void {
    lastHeard = performance.now();
    if (isFrameMessage(raw)) {
      totals.frames++;
      guard('frame', () => init.onFrame({ index: raw.index, time: raw.time, json: raw.json }));
      return;
    }
    const parsed = FromChild.safeParse(raw);
    if (!parsed.success) {
      // Once per child: a child sending junk is broken or subverted, and will not stop.
      if (!badMessageLogged) {
        badMessageLogged = true;
        security.warn(
          { event: 'plugin.host-bad-message', pid: child?.pid },
          'the plugin host sent a message of unknown shape',
        );
      }
      return;
    }
    const msg = parsed.data;
    if (msg.t === 'ready') {
      state = 'running';
      isReady = true;
      for (const w of readyWaiters.splice(0)) w();
      if (restarts > 0)
        emit({ kind: 'host-restart', reason: `plugin host running again (pid ${child?.pid})` });
      return;
    }
    if (msg.t === 'stats') {
      current = msg.plugins;
      totals = {
        frames: totals.frames,
        droppedFrames: msg.droppedFrames,
        trimmedFrames: msg.trimmed,
      };
      return;
    }
    for (const w of msg.writes) guard('writes', () => init.onWrites(w.plugin, w.writes));
    for (const e of msg.events) {
      if (e.kind === 'quarantine' && e.plugin) quarantined.add(e.plugin);
      follow(e);
      emit(e);
    }
    if (msg.droppedEvents > 0) {
      log.warn(
        { event: 'plugin.events-dropped', count: msg.droppedEvents },
        `the plugin host dropped ${msg.droppedEvents} events (too many at once)`,
      );
    }
  }

  /** Keeps the cached stats in step with state changes between the child's periodic reports. */
  function follow(e: HostEvent): void {
    const s = current.find((c) => c.id === e.plugin);
    if (!s) return;
    if (e.kind === 'started') s.state = 'running';
    else if (e.kind === 'restart') s.state = 'backoff';
    else if (e.kind === 'quarantine') {
      s.state = 'quarantined';
      s.lastError = `quarantined: ${e.reason}`;
    }
  }

  function spawnChild(): void {
    state = 'starting';
    badMessageLogged = false;
    isReady = false;
    catastrophe = undefined;
    killedFor = undefined;
    const proc = fork(CHILD_PATH, [], {
      execArgv: ['--no-node-snapshot'],
      serialization: 'json',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, HANA_PLUGIN_HOST_TEST_HOOKS: init.testHooks ? '1' : '0' },
    });
    child = proc;
    lastHeard = performance.now();
    proc.on('message', onMessage);
    proc.on('error', (err) => log.warn({ err, event: 'plugin.host-error' }, 'plugin host process error'));
    let stderrLines = 0;
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      if (line.startsWith(CATASTROPHIC_MARKER)) {
        try {
          const c = JSON.parse(line.slice(CATASTROPHIC_MARKER.length)) as {
            plugin: unknown;
            message: unknown;
          };
          if (typeof c.plugin === 'string' && typeof c.message === 'string') {
            catastrophe = { plugin: c.plugin.slice(0, 64), message: c.message.slice(0, 500) };
          }
        } catch {}
        return;
      }
      // Node's own warnings and crash reports; bounded, so a chatty child cannot flood the log.
      if (++stderrLines <= 50)
        log.warn({ event: 'plugin.host-stderr', line: line.slice(0, 500) }, 'plugin host');
    });
    proc.on('exit', (code, signal) => onExit(proc, code, signal));
    post({
      t: 'init',
      frameRate: init.frameRate,
      width: init.width,
      height: init.height,
      policy: init.policy ?? {},
      plugins,
      quarantined: [...quarantined],
      params: Object.fromEntries(params),
      clock: clockMessage(),
    });
  }

  function onExit(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (proc !== child) return;
    child = undefined;
    if (closing || state === 'closed') return;
    // Counters survive the crash: what the old child counted is kept as a base.
    for (const s of current) {
      const b = base.get(s.id) ?? { frames: 0, overruns: 0, restarts: 0, refusedWrites: 0 };
      for (const k of COUNTERS) b[k] += s[k];
      base.set(s.id, b);
    }
    current = current.map((s) => ({ ...s, frames: 0, overruns: 0, restarts: 0, refusedWrites: 0 }));
    totalsBase = {
      frames: 0,
      droppedFrames: totalsBase.droppedFrames + totals.droppedFrames,
      trimmedFrames: totalsBase.trimmedFrames + totals.trimmedFrames,
    };
    totals = { frames: totals.frames, droppedFrames: 0, trimmedFrames: 0 };
    const t = performance.now();
    crashes = [...crashes.filter((at) => t - at < stableMs), t];
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    const why = killedFor ?? (catastrophe ? `catastrophic isolate error: ${catastrophe.message}` : how);
    emit({
      kind: 'host-crash',
      plugin: catastrophe?.plugin,
      reason: `plugin host ended (${how}): ${why}`,
    });
    if (catastrophe) {
      const id = catastrophe.plugin;
      const list = [...(pluginCrashes.get(id) ?? []).filter((at) => t - at < stableMs), t];
      pluginCrashes.set(id, list);
      if (list.length >= crashesToQuarantine && !quarantined.has(id)) {
        quarantined.add(id);
        emit({
          kind: 'quarantine',
          plugin: id,
          reason: `crashed the plugin host ${list.length} times within ${stableMs / 1000} s`,
        });
      }
    }
    const delay = Math.min(maxBackoffMs, backoffMs * 2 ** (crashes.length - 1));
    state = 'backoff';
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (closing) return;
      restarts++;
      spawnChild();
    }, delay);
  }

  const clockTimer = setInterval(() => post({ t: 'clock', ...clockMessage() }), init.clockIntervalMs ?? 100);
  const watchTimer = setInterval(() => {
    if (state === 'running' && child && performance.now() - lastHeard > unresponsiveMs) {
      killedFor = `no message for ${unresponsiveMs} ms (hung)`;
      log.warn({ event: 'plugin.host-unresponsive', pid: child.pid }, 'the plugin host stopped answering');
      child.kill('SIGKILL');
    }
  }, 500);

  function flushParams(): void {
    paramsTimer = undefined;
    if (pendingParams.size === 0) return;
    post({ t: 'params', values: Object.fromEntries(pendingParams) });
    pendingParams = new Map();
  }

  spawnChild();

  return {
    setPlugins(list) {
      plugins = list;
      const ids = new Set(list.map((p) => p.manifest.id));
      for (const id of quarantined) if (!ids.has(id)) quarantined.delete(id);
      post({ t: 'plugins', plugins, quarantined: [...quarantined] });
    },
    updateParams(changes) {
      for (const { path, value } of changes) {
        params.set(path, value);
        pendingParams.set(path, value);
      }
      if (pendingParams.size > 0)
        paramsTimer ??= setTimeout(flushParams, init.paramsFlushMs ?? 500 / init.frameRate);
    },
    enable(id) {
      const known = current.find((s) => s.id === id);
      if (!quarantined.has(id) && known?.state !== 'quarantined') return false;
      quarantined.delete(id);
      pluginCrashes.delete(id);
      if (known) {
        known.state = 'starting';
        known.lastError = null;
      }
      post({ t: 'enable', id });
      return true;
    },
    stats() {
      return {
        host: {
          pid: child?.pid ?? null,
          state,
          restarts,
          frames: totals.frames,
          droppedFrames: totalsBase.droppedFrames + totals.droppedFrames,
          trimmedFrames: totalsBase.trimmedFrames + totals.trimmedFrames,
        },
        plugins: plugins.map((p) => {
          const id = p.manifest.id;
          const s = current.find((c) => c.id === id) ?? {
            id,
            version: p.manifest.version,
            state: quarantined.has(id) ? ('quarantined' as const) : ('starting' as const),
            frames: 0,
            overruns: 0,
            restarts: 0,
            refusedWrites: 0,
            lastError: null,
          };
          const b = base.get(id);
          if (!b) return { ...s };
          return {
            ...s,
            frames: s.frames + b.frames,
            overruns: s.overruns + b.overruns,
            restarts: s.restarts + b.restarts,
            refusedWrites: s.refusedWrites + b.refusedWrites,
          };
        }),
      };
    },
    testHook(hook) {
      if (!init.testHooks) return;
      post(hook.kind === 'hang' ? { t: 'test-hang' } : { t: 'test-catastrophic', id: hook.plugin });
    },
    ready() {
      if (isReady) return Promise.resolve();
      return new Promise((r) => readyWaiters.push(r));
    },
    close() {
      closing ??= (async () => {
        clearInterval(clockTimer);
        clearInterval(watchTimer);
        if (paramsTimer) clearTimeout(paramsTimer);
        if (restartTimer) clearTimeout(restartTimer);
        const proc = child;
        state = 'closed';
        if (proc && proc.exitCode === null && proc.signalCode === null) {
          const exited = new Promise<void>((r) => proc.once('exit', () => r()));
          // Closing the channel asks the child to stop (it exits on 'disconnect'); SIGKILL if it does not.
          if (proc.connected) proc.disconnect();
          const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(timer);
        }
        child = undefined;
        readyWaiters = [];
      })();
      return closing;
    },
  };
}
