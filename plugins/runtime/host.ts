import type { ChildProcess } from 'node:child_process';
import { securityLogger } from '../../daemon/log.ts';
import type { ParamValue } from '../sandbox/sandbox.ts';
import { type BisectStep, createBisector, describeStep } from './bisect.ts';
import { defaultRssCeilingMb, readRssMb } from './child-rss.ts';
import { monotonicNs } from './clock.ts';
import type { PluginSpec } from './engine.ts';
import { type Catastrophe, type ChildFault, forkPluginHost } from './fork-child.ts';
import { createHostStatsBook, type WarmupCounters } from './host-stats.ts';
import type { HostInit, HostState, PluginHost } from './host-types.ts';
import { type ClockMessage, FromChild, type HostEvent, isFrameMessage, type ToChild } from './protocol.ts';
import {
  defaultRenewMarkMb,
  hasLayers,
  lowMarkWaitMs,
  RENEW_MIN_AGE_MS,
  SUCCESSOR_OWN,
  SWITCH_AFTER_FRAMES,
} from './renewal.ts';

// The daemon's side of the plugin host: forks child.ts, feeds it plugins, parameters and clock
// samples, hands its frames, writes and events to the daemon, and brings it back when it dies
// (a catastrophic isolate error aborts it by design; SIGKILL, OOM or a hang end it too) with
// exponential backoff. A plugin named in a catastrophic error is quarantined after repeated
// crashes, so one plugin cannot keep taking the others down; a crash that names no plugin
// (SIGTRAP from a V8 fatal error, a segfault, the RSS ceiling, a hang) starts a bisection
// (bisect.ts) that finds the plugin and quarantines it. A child that never says `ready` is
// killed, and so is one whose resident memory passes the ceiling. A long-lived child that passes
// the lower renewal mark is replaced on purpose (renewal.ts): a successor is forked beside it,
// loads the plugins, and takes over at its first frame with every layer (the old one draws until
// then). Nothing here runs plugin code: the daemon's event loop only moves small messages.

export type { HostInit, HostState, HostStats, PluginHost, TestHook } from './host-types.ts';

type Kill = { code: 'host-hung' | 'host-not-ready' | 'host-rss'; reason: string };

export function startPluginHost(init: HostInit): PluginHost {
  const { log } = init;
  const backoffMs = init.restart?.backoffMs ?? 250;
  const maxBackoffMs = init.restart?.maxBackoffMs ?? 10_000;
  const stableMs = init.restart?.stableMs ?? 60_000;
  const crashesToQuarantine = init.crashesToQuarantine ?? 2;
  const unresponsiveMs = init.unresponsiveMs ?? 5000;
  const readyTimeoutMs = init.readyTimeoutMs ?? 15_000;
  const probationMs = init.probationMs ?? 10_000;
  let plugins = init.plugins;
  const params = new Map<string, ParamValue>(Object.entries(init.params ?? {}));
  let pendingParams = new Map<string, ParamValue>();
  let paramsTimer: NodeJS.Timeout | undefined;
  const quarantined = new Set<string>();
  const pluginCrashes = new Map<string, number[]>();
  const bisector = createBisector();
  const book = createHostStatsBook();
  let crashes: number[] = [];
  let child: ChildProcess | undefined;
  let state: HostState = 'starting';
  let restarts = 0;
  let notReady = 0;
  /** Children killed for not getting ready since the last one that did. */
  let notReadyInARow = 0;
  let rssKills = 0;
  let renewals = 0;
  const renewMinAgeMs = init.renewal?.minAgeMs ?? RENEW_MIN_AGE_MS;
  /** A child being warmed up to replace `child`. */
  let successor:
    | {
        proc: ChildProcess;
        at: number;
        ready: boolean;
        /** The plugins drawing in `child` when it was forked: each must start in the successor. */
        expect: ReadonlySet<string>;
        waiting: Set<string>;
        /** Frames it sent since all its plugins started. */
        frames: number;
        /** Its last counters: what it counted while warming up is not the show's. */
        warmup: WarmupCounters | undefined;
        catastrophe: Catastrophe | undefined;
      }
    | undefined;
  /** Renewals in a row whose fresh child was already over the mark at its first reading. */
  let lowMark = 0;
  /** The next RSS reading is the first of a child that took over (whether the mark is too low). */
  let firstReading = false;
  let rssMb: number | null = null;
  let rssReading = false;
  let lastHeard = 0;
  let spawnedAt = 0;
  /** No renewal before this (performance.now()): the child's age, or a retry after a failed one. */
  let renewAfter = 0;
  /** Ids of the plugins the current child was given (what a crash of it implicates). */
  let running: string[] = [];
  let catastrophe: Catastrophe | undefined;
  let killedFor: Kill | undefined;
  /** With testHooks: the fault the next child forked is made to have. */
  let nextFault: ChildFault | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let probationTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  let readyWaiters: (() => void)[] = [];
  let badMessageLogged = false;
  const security = securityLogger(log);
  let isReady = false;
  let watched = init.watched ?? true;
  let writesNeeded = init.writesNeeded ?? true;
  /** IPC messages to and from the children, since start: what an idle host still costs. */
  let sent = 0;
  let received = 0;
  const clockMs = init.clockIntervalMs ?? 100;
  const idleMs = init.idleIntervalMs ?? 1000;
  /** How often the child's liveness and RSS are checked while it ticks. */
  const watchMs = 250;
  /** Whether the child's frame loop ticks (engine.ts): a page, or writers whose writes are taken. */
  const active = () => watched || (writesNeeded && plugins.some((p) => p.manifest.writes.length > 0));

  const maxRssMb = (): number =>
    init.maxRssMb ?? defaultRssCeilingMb(plugins.map((p) => p.manifest.limits.memoryMb));
  const renewRssMb = (): number => init.renewal?.rssMb ?? defaultRenewMarkMb(maxRssMb());

  const clockMessage = (): ClockMessage => {
    const ns = monotonicNs();
    const c = init.clock();
    return { timeMs: c.timeMs, beat: c.beat, tempo: c.tempo, ns: ns.toString() };
  };

  /** To the child, and to a successor warming up, so it takes over with what the child has. */
  function postBoth(msg: ToChild): void {
    post(msg);
    if (successor) post(msg, successor.proc);
  }

  function post(msg: ToChild, to: ChildProcess | undefined = child): void {
    if (!to?.connected) return;
    try {
      to.send(msg);
      sent++;
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

  /** The plugins the child runs now: all but those the bisection holds out, in layer order. */
  function runList(): PluginSpec[] {
    const held = bisector.held();
    return held.size === 0 ? [...plugins] : plugins.filter((p) => !held.has(p.manifest.id));
  }

  function postPlugins(): void {
    const list = runList();
    running = list.map((p) => p.manifest.id);
    post({ t: 'plugins', plugins: list, quarantined: [...quarantined] });
  }

  function onMessage(raw: unknown): void {
    lastHeard = performance.now();
    received++;
    if (isFrameMessage(raw)) {
      book.frame();
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
      if (isReady) return;
      state = 'running';
      isReady = true;
      notReadyInARow = 0;
      for (const w of readyWaiters.splice(0)) w();
      if (restarts > 0)
        emit({ kind: 'host-restart', reason: `plugin host running again (pid ${child?.pid})` });
      if (bisector.active) startProbation();
      return;
    }
    if (msg.t === 'stats') {
      book.report(msg.plugins, msg.droppedFrames, msg.trimmed);
      return;
    }
    for (const w of msg.writes) guard('writes', () => init.onWrites(w.plugin, w.writes));
    for (const e of msg.events) {
      if (e.kind === 'quarantine' && e.plugin) {
        quarantined.add(e.plugin);
        // A successor was forked with the list before this: it would run the plugin again.
        abandonRenewal(`${e.plugin} was quarantined`);
      }
      book.follow(e);
      emit(e);
    }
    if (msg.droppedEvents > 0) {
      log.warn(
        { event: 'plugin.events-dropped', count: msg.droppedEvents },
        `the plugin host dropped ${msg.droppedEvents} events (too many at once)`,
      );
    }
  }

  /** A child with the current plugins, params and clock; its messages count only while it is `child`. */
  function forkChild(list: PluginSpec[], fault: ChildFault | undefined): ChildProcess {
    const proc = forkPluginHost({
      log,
      testHooks: init.testHooks === true,
      fault,
      onCatastrophe: (c) => {
        if (proc === child) catastrophe = c;
        else if (proc === successor?.proc) successor.catastrophe = c;
      },
    });
    proc.on('message', (raw) => {
      if (proc === child) onMessage(raw);
      else if (proc === successor?.proc) onSuccessorMessage(raw);
    });
    proc.on('exit', (code, signal) => onExit(proc, code, signal));
    post(
      {
        t: 'init',
        frameRate: init.frameRate,
        width: init.width,
        height: init.height,
        policy: init.policy ?? {},
        ...(init.cpuMsPerSecond !== undefined ? { cpuMsPerSecond: init.cpuMsPerSecond } : {}),
        watched,
        writesNeeded,
        ...(init.idleFps !== undefined ? { idleFps: init.idleFps } : {}),
        plugins: list,
        quarantined: [...quarantined],
        params: Object.fromEntries(params),
        clock: clockMessage(),
      },
      proc,
    );
    return proc;
  }

  function spawnChild(): void {
    state = 'starting';
    badMessageLogged = false;
    isReady = false;
    catastrophe = undefined;
    killedFor = undefined;
    rssMb = null;
    const fault = nextFault;
    nextFault = undefined;
    const list = runList();
    running = list.map((p) => p.manifest.id);
    lastHeard = performance.now();
    spawnedAt = lastHeard;
    renewAfter = spawnedAt + renewMinAgeMs;
    firstReading = false;
    child = forkChild(list, fault);
  }

  /**
   * A plugin of the running child has not started yet (as its last stats said). A successor forked
   * now would expect only the plugins drawing already: one still starting that the successor cannot
   * load would go unnoticed and be lost at the takeover. Renewal waits until they have settled.
   */
  function pluginsStarting(): boolean {
    return book.plugins(runList(), quarantined, bisector.held()).some((p) => p.state === 'starting');
  }

  /** Forks the successor of a child that has grown past the renewal mark (rssMb, MiB). */
  function renew(mb: number): void {
    const list = runList();
    const fault = nextFault;
    nextFault = undefined;
    const proc = forkChild(list, fault);
    const drawing = book.plugins(list, quarantined, bisector.held()).filter((p) => p.state === 'running');
    const expect = new Set(drawing.map((p) => p.id));
    successor = {
      proc,
      at: performance.now(),
      ready: false,
      expect,
      waiting: new Set(expect),
      frames: 0,
      warmup: undefined,
      catastrophe: undefined,
    };
    log.info(
      {
        event: 'plugin.host-renewing',
        pid: child?.pid,
        successorPid: proc.pid,
        rssMb: Math.round(mb),
        renewRssMb: renewRssMb(),
      },
      `the plugin host holds ${Math.round(mb)} MiB (renewal at ${renewRssMb()} MiB): starting a fresh one to take over`,
    );
  }

  /**
   * Until it takes over, a successor's frames and writes go nowhere: the old child is the show.
   * Its faults are the plugins' own and are passed on; its plugins' lifecycle (started, restart,
   * quarantine, load-failed) is its own, and a plugin drawing now that it cannot start ends the
   * renewal rather than lose a layer. A plugin that has started has not drawn yet, so while a page
   * watches, the successor takes over on its first frame with every expected layer in it (that
   * frame is the page's next), or after SWITCH_AFTER_FRAMES frames if none has them all (a layer
   * left out for its share).
   */
  function onSuccessorMessage(raw: unknown): void {
    const s = successor!;
    if (isFrameMessage(raw)) {
      if (!s.ready || s.waiting.size > 0) return;
      if (++s.frames < SWITCH_AFTER_FRAMES && !hasLayers(raw.json, s.expect)) return;
      handOver();
      onMessage(raw); // now the child's
      return;
    }
    const parsed = FromChild.safeParse(raw);
    if (!parsed.success) return;
    const msg = parsed.data;
    if (msg.t === 'ready') s.ready = true;
    else if (msg.t === 'stats')
      s.warmup = { plugins: msg.plugins, droppedFrames: msg.droppedFrames, trimmedFrames: msg.trimmed };
    else if (msg.t === 'out') {
      for (const e of msg.events) {
        if (!e.plugin || !s.expect.has(e.plugin)) continue;
        if (e.kind === 'started') s.waiting.delete(e.plugin);
        else if (e.kind === 'load-failed' || e.kind === 'quarantine') {
          abandonRenewal(`the fresh host could not run ${e.plugin} (${e.kind}: ${e.reason.slice(0, 200)})`);
          return;
        } else if (!SUCCESSOR_OWN.has(e.kind)) emit(e);
      }
    }
    // With no page nobody sees a frame (none come): started is enough.
    if (s.ready && s.waiting.size === 0 && !watched) handOver();
  }

  function handOver(): void {
    const s = successor!;
    const next = s.proc;
    const old = child;
    successor = undefined;
    book.childEnded(true, s.warmup);
    child = next;
    renewals++;
    badMessageLogged = false;
    catastrophe = s.catastrophe;
    killedFor = undefined;
    rssMb = null;
    lastHeard = performance.now();
    renewAfter = lastHeard + renewMinAgeMs;
    firstReading = true;
    // Nothing to send: params, clock, triggers and the watched state went to it all along (postBoth).
    log.info(
      { event: 'plugin.host-renewed', pid: next.pid, oldPid: old?.pid, renewals },
      `a fresh plugin host (pid ${next.pid}) took over from pid ${old?.pid}`,
    );
    if (old) void retire(old);
  }

  /** Ends a child that is no longer `child`: its channel closed (it exits on that), SIGKILL if it lingers. */
  function retire(proc: ChildProcess): Promise<void> {
    if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    void exited.then(() => clearTimeout(timer));
    if (proc.connected) proc.disconnect();
    return exited;
  }

  /** Drops a successor still warming up (the plugin list changed, the child crashed, it is slow). */
  function abandonRenewal(why: string): void {
    if (!successor) return;
    const { proc } = successor;
    successor = undefined;
    log.info(
      { event: 'plugin.host-renewal-abandoned', successorPid: proc.pid },
      `plugin host renewal abandoned: ${why}`,
    );
    void retire(proc);
    // Tried again once the child has lived another renewMinAgeMs.
    renewAfter = performance.now() + renewMinAgeMs;
  }

  function kill(proc: ChildProcess, k: Kill, fields: Record<string, unknown>): void {
    killedFor = k;
    log.warn({ event: `plugin.${k.code}`, code: k.code, pid: proc.pid, ...fields }, k.reason);
    proc.kill('SIGKILL');
  }

  /** A crash with a plugin named in it: that plugin is quarantined after repeated ones. */
  function namedCrash(id: string, t: number): void {
    const list = [...(pluginCrashes.get(id) ?? []).filter((at) => t - at < stableMs), t];
    pluginCrashes.set(id, list);
    if (list.length >= crashesToQuarantine && !quarantined.has(id)) {
      quarantined.add(id);
      emit({
        kind: 'quarantine',
        plugin: id,
        code: 'host-catastrophic',
        reason: `crashed the plugin host ${list.length} times within ${stableMs / 1000} s`,
      });
    }
  }

  function logStep(s: BisectStep, how: string): void {
    const d = describeStep(s, how, plugins.length);
    log[s.kind === 'found' ? 'warn' : 'info']({ event: 'plugin.bisect', code: d.code, ...s }, d.reason);
    emit({ kind: 'bisect', code: d.code, reason: d.reason, ...(d.plugin ? { plugin: d.plugin } : {}) });
    if (s.kind === 'found') {
      quarantined.add(s.culprit);
      emit({ kind: 'quarantine', plugin: s.culprit, code: 'bisect-found', reason: d.reason });
    }
  }

  function startProbation(): void {
    if (probationTimer) clearTimeout(probationTimer);
    const proc = child;
    probationTimer = setTimeout(() => {
      probationTimer = undefined;
      if (closing || !bisector.active || child !== proc || !isReady) return;
      const s = bisector.survived();
      logStep(s, `${probationMs / 1000} s without a crash`);
      // Plugins come back into the running child: no restart, the show goes on.
      postPlugins();
      if (s.kind === 'step') startProbation();
    }, probationMs);
  }

  function onExit(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (proc === successor?.proc) {
      // Its catastrophe is its own: the running child, and its plugins' crash counts, are not
      // touched. The next renewal, a child-age later, tries again with a fresh process.
      const own = successor.catastrophe;
      successor = undefined;
      const why = own ? `: catastrophic isolate error in ${own.plugin}: ${own.message}` : '';
      log.warn(
        {
          event: 'plugin.host-renewal-abandoned',
          successorPid: proc.pid,
          code,
          signal,
          ...(own && { plugin: own.plugin }),
        },
        `plugin host renewal abandoned: the fresh host ended (${signal ? `signal ${signal}` : `exit code ${code}`}${why}) before it took over`,
      );
      renewAfter = performance.now() + renewMinAgeMs;
      return;
    }
    if (proc !== child) return;
    child = undefined;
    abandonRenewal('the running plugin host ended');
    if (probationTimer) clearTimeout(probationTimer);
    probationTimer = undefined;
    if (closing || state === 'closed') return;
    book.childEnded();
    const t = performance.now();
    crashes = [...crashes.filter((at) => t - at < stableMs), t];
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    const why =
      killedFor?.reason ?? (catastrophe ? `catastrophic isolate error: ${catastrophe.message}` : how);
    const crashCode =
      killedFor?.code ?? (catastrophe ? 'host-catastrophic' : signal ? 'host-signal' : 'host-exit');
    emit({
      kind: 'host-crash',
      plugin: catastrophe?.plugin,
      code: crashCode,
      reason: `plugin host ended (${how}): ${why}`,
    });
    if (catastrophe) namedCrash(catastrophe.plugin, t);
    else if (killedFor?.code !== 'host-not-ready') {
      // Nothing names a plugin: find it. A child that never got ready ran no plugin code.
      const everyone = plugins.map((p) => p.manifest.id).filter((id) => !quarantined.has(id));
      const s = bisector.crashed(
        everyone,
        running.filter((id) => !quarantined.has(id)),
      );
      if (s) logStep(s, crashCode === 'host-signal' || crashCode === 'host-exit' ? how : crashCode);
    }
    const delay = bisector.active ? backoffMs : Math.min(maxBackoffMs, backoffMs * 2 ** (crashes.length - 1));
    state = 'backoff';
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (closing) return;
      restarts++;
      spawnChild();
    }, delay);
  }

  /**
   * A child that took over and already holds more than the mark would be renewed at every
   * renewMinAgeMs, its plugins' state lost each time, for nothing: the mark is below what a fresh
   * host holds. Then each renewal waits twice as long as the one before, and the operator is told.
   */
  function judgeMark(mb: number): void {
    const mark = renewRssMb();
    if (mb <= mark) {
      lowMark = 0;
      return;
    }
    lowMark++;
    const waitMs = lowMarkWaitMs(renewMinAgeMs, lowMark);
    renewAfter = performance.now() + waitMs;
    log.warn(
      { event: 'plugin.host-renewal-mark-low', rssMb: Math.round(mb), renewRssMb: mark, waitMs },
      `a fresh plugin host already holds ${Math.round(mb)} MiB, over the renewal mark (${mark} MiB): the next renewal waits ${Math.round(waitMs / 1000)} s; raise plugins.renewal.atMb`,
    );
  }

  function checkRss(proc: ChildProcess): void {
    if (rssReading || proc.pid === undefined) return;
    rssReading = true;
    void readRssMb(proc.pid).then((mb) => {
      rssReading = false;
      if (mb === undefined || proc !== child || killedFor) return;
      rssMb = Math.round(mb);
      const ceiling = maxRssMb();
      if (firstReading) {
        firstReading = false;
        judgeMark(mb);
      }
      if (
        mb <= ceiling &&
        mb > renewRssMb() &&
        !successor &&
        !bisector.active &&
        state === 'running' &&
        performance.now() >= renewAfter &&
        !pluginsStarting()
      ) {
        renew(mb);
        return;
      }
      if (mb > ceiling) {
        rssKills++;
        kill(
          proc,
          {
            code: 'host-rss',
            reason: `the plugin host holds ${Math.round(mb)} MiB of memory, over its ${ceiling} MiB ceiling: killed`,
          },
          { rssMb: Math.round(mb), maxRssMb: ceiling },
        );
      }
    });
  }

  // Both loops slow down while the child has nothing to tick: an idle daemon should not wake 14
  // times a second to keep a clock fresh that nothing reads (issue 18).
  let clockTimer: NodeJS.Timeout | undefined;
  const clockLoop = () => {
    if (closing) return;
    postBoth({ t: 'clock', ...clockMessage() });
    clockTimer = setTimeout(clockLoop, active() ? clockMs : idleMs);
  };
  clockTimer = setTimeout(clockLoop, active() ? clockMs : idleMs);
  let watchTimer: NodeJS.Timeout | undefined;
  const watchLoop = () => {
    if (closing) return;
    watchChild();
    watchTimer = setTimeout(watchLoop, active() ? watchMs : idleMs);
  };
  watchTimer = setTimeout(watchLoop, active() ? watchMs : idleMs);
  /** After the child starts ticking again: a fresh clock sample now, and the fast loops. */
  function wake(): void {
    if (closing) return;
    clearTimeout(clockTimer);
    clearTimeout(watchTimer);
    clockLoop();
    watchTimer = setTimeout(watchLoop, watchMs);
  }
  function postWatched(): void {
    postBoth({ t: 'watched', watched, writesNeeded });
  }

  function watchChild(): void {
    const proc = child;
    if (!proc || killedFor) return;
    const t = performance.now();
    if (successor && t - successor.at > readyTimeoutMs) {
      abandonRenewal(`the fresh host did not start its plugins within ${readyTimeoutMs} ms`);
    }
    const readyWithinMs = readyTimeoutMs * 2 ** Math.min(3, notReadyInARow);
    if (state === 'starting' && t - spawnedAt > readyWithinMs) {
      notReady++;
      notReadyInARow++;
      kill(
        proc,
        {
          code: 'host-not-ready',
          reason: `the plugin host did not get ready within ${readyWithinMs} ms: killed`,
        },
        {},
      );
      return;
    }
    if (state === 'running' && t - lastHeard > unresponsiveMs) {
      kill(proc, { code: 'host-hung', reason: `no message for ${unresponsiveMs} ms (hung)` }, {});
      return;
    }
    checkRss(proc);
  }

  function flushParams(): void {
    paramsTimer = undefined;
    if (pendingParams.size === 0) return;
    postBoth({ t: 'params', values: Object.fromEntries(pendingParams) });
    pendingParams = new Map();
  }

  spawnChild();

  return {
    setPlugins(list) {
      abandonRenewal('the plugin list changed');
      const was = active();
      plugins = list;
      if (!was && active()) wake();
      const ids = new Set(list.map((p) => p.manifest.id));
      for (const id of quarantined) if (!ids.has(id)) quarantined.delete(id);
      if (bisector.active) {
        bisector.abandon();
        if (probationTimer) clearTimeout(probationTimer);
        probationTimer = undefined;
        log.info(
          { event: 'plugin.bisect', code: 'bisect-abandoned' },
          'bisection abandoned: the plugin list changed; every plugin runs again',
        );
      }
      postPlugins();
    },
    updateParams(changes) {
      for (const { path, value } of changes) {
        params.set(path, value);
        pendingParams.set(path, value);
      }
      if (pendingParams.size > 0)
        paramsTimer ??= setTimeout(flushParams, init.paramsFlushMs ?? 500 / init.frameRate);
    },
    pushEvents(events) {
      if (events.length > 0) postBoth({ t: 'events', events: [...events] });
    },
    enable(id) {
      if (!quarantined.has(id) && !book.isQuarantinedNow(id)) return false;
      abandonRenewal('a plugin was re-enabled');
      quarantined.delete(id);
      pluginCrashes.delete(id);
      book.enabling(id);
      post({ t: 'enable', id });
      return true;
    },
    setWatched(w) {
      if (w === watched) return;
      const was = active();
      watched = w;
      if (!was && active()) wake();
      postWatched();
    },
    setWritesNeeded(n) {
      if (n === writesNeeded) return;
      const was = active();
      writesNeeded = n;
      if (!was && active()) wake();
      postWatched();
    },
    stats() {
      const s = bisector.active ? bisector.current() : undefined;
      return {
        host: {
          pid: child?.pid ?? null,
          state,
          restarts,
          ...book.totals(),
          notReady,
          rssKills,
          renewals,
          renewRssMb: renewRssMb(),
          rssMb,
          maxRssMb: maxRssMb(),
          bisect: s ? { step: s.step, suspects: s.suspects, held: [...bisector.held()] } : null,
          watched,
          writesNeeded,
          messages: { sent, received },
        },
        plugins: book.plugins(plugins, quarantined, bisector.held()),
      };
    },
    testHook(hook) {
      if (!init.testHooks) return;
      if (hook.kind === 'stall-next-start') nextFault = { kind: 'stall' };
      else if (hook.kind === 'fail-load-next-start') nextFault = { kind: 'fail-load', plugin: hook.plugin };
      else if (hook.kind === 'catastrophic-next-start')
        nextFault = { kind: 'catastrophic', plugin: hook.plugin };
      else post(hook.kind === 'hang' ? { t: 'test-hang' } : { t: 'test-catastrophic', id: hook.plugin });
    },
    ready() {
      if (isReady) return Promise.resolve();
      return new Promise((r) => readyWaiters.push(r));
    },
    close() {
      closing ??= (async () => {
        clearTimeout(clockTimer);
        clearTimeout(watchTimer);
        if (paramsTimer) clearTimeout(paramsTimer);
        if (restartTimer) clearTimeout(restartTimer);
        if (probationTimer) clearTimeout(probationTimer);
        const proc = child;
        state = 'closed';
        const warming = successor?.proc;
        successor = undefined;
        // Closing the channel asks a child to stop (it exits on 'disconnect'); SIGKILL if it does not.
        await Promise.all([proc && retire(proc), warming && retire(warming)]);
        child = undefined;
        readyWaiters = [];
      })();
      return closing;
    },
  };
}
