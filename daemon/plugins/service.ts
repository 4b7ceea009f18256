import type { SessionClock } from '../../plugins/runtime/clock.ts';
import type { EncodedFrame, PluginSpec, PluginStats } from '../../plugins/runtime/engine.ts';
import {
  type HostInit,
  type HostStats,
  type PluginHost,
  startPluginHost,
} from '../../plugins/runtime/host.ts';
import type { FaultPolicy } from '../../plugins/runtime/policy.ts';
import type { HostEvent } from '../../plugins/runtime/protocol.ts';
import { zeroCounters } from '../../plugins/runtime/types.ts';
import { compilePermissions, type Permissions } from '../../plugins/sandbox/permissions.ts';
import type { Rejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import { isSecurityReason } from '../reasons.ts';
import type { Registry } from '../state/registry.ts';
import type { Change, Store } from '../state/store.ts';
import { createEventLog } from './events.ts';
import { createTakeover, type Takeover } from './takeover.ts';
import { createPluginWriter } from './writes.ts';

// The daemon's plugin service: loads the verified plugin list, runs it in the plugin host child
// process (plugins/runtime/host.ts), feeds it the parameters the plugins declared they read,
// applies their writes through the validated write path, logs and counts what goes wrong, and
// hands composed frames to listeners (the output page). The host process starts only when there
// is at least one plugin, so a daemon without plugins pays nothing.

export type PluginServiceInit = {
  registry: Registry;
  store: Store;
  /** The daemon's rejection counter: plugin writes with bad values are counted there. */
  rejections?: Rejections;
  log: Logger;
  security: Logger;
  clock: SessionClock;
  frameRate: number;
  width: number;
  height: number;
  /** Installed, signature-verified, enabled plugins, in layer order. */
  loadPlugins: () => Promise<PluginSpec[]>;
  onQuarantine?: (id: string, reason: string) => void;
  policy?: Partial<FaultPolicy>;
  /** Host process options (restart backoff, hang detection, test hooks). */
  host?: Pick<
    HostInit,
    | 'restart'
    | 'unresponsiveMs'
    | 'testHooks'
    | 'crashesToQuarantine'
    | 'clockIntervalMs'
    | 'paramsFlushMs'
    | 'readyTimeoutMs'
    | 'maxRssMb'
    | 'renewal'
    | 'probationMs'
    | 'cpuMsPerSecond'
    | 'idleFps'
  >;
  /** Whether an output page watches at start (default true); then setWatched as pages come and go. */
  watched?: boolean;
  /** Whether something outside the picture takes plugin writes at start (default true); then setWritesNeeded. */
  writesNeeded?: boolean;
  /** Repeated fault lines: one per (kind, plugin) per interval (default 10 s). */
  logIntervalMs?: number;
  /** Plugin writes to a parameter a person wrote are held off this long (config plugins.takeoverMs; default 2000). */
  takeoverMs?: number;
  /** The daemon's takeover, shared with sync (a peer's person holds plugins off too); else one of its own. */
  takeover?: Takeover;
  /** Clock for the takeover hold, ms (default Date.now): tests step it. */
  now?: () => number;
};

export type PluginStatus = PluginStats & {
  /** ISF plugins only: faults their shaders had in output pages since the daemon started (visuals.ts). */
  shaderFaults?: number;
};

export type PluginServiceStatus = {
  host: HostStats['host'] | null;
  plugins: PluginStatus[];
  writes: { applied: number; refused: number; held: number };
  events: Record<string, number>;
};

export type FrameListener = (frame: EncodedFrame) => void;

export type PluginService = {
  start(): Promise<void>;
  /** Loads the plugin list again (after an install, removal or upgrade). */
  reload(): Promise<void>;
  status(): PluginServiceStatus;
  onFrame(listener: FrameListener): () => void;
  /** Re-enables a quarantined plugin; false when no loaded plugin by that id is quarantined. */
  enable(id: string): boolean;
  /**
   * Whether an output page watches. Without one, plugins that only draw are paused and those
   * that declare writes run at `host.idleFps` (engine.ts), so an idle daemon costs little.
   */
  setWatched(watched: boolean): void;
  /**
   * Whether anything outside the picture takes what plugins write: a linked peer, an OSC or
   * MIDI feedback target, an OSCQuery listener, a console. With no page and none of these, the
   * writers are paused too and the plugin host does nothing (docs/plugins.md, "idle").
   */
  setWritesNeeded(needed: boolean): void;
  close(): Promise<void>;
};

const READABLE_CACHE_LIMIT = 4096;

export function createPluginService(init: PluginServiceInit): PluginService {
  const { registry, store, log, security } = init;
  const events = createEventLog({ log, security, intervalMs: init.logIntervalMs ?? 10_000 });
  let specs: PluginSpec[] = [];
  let permissions = new Map<string, Permissions>();
  let readable = new Map<string, boolean>();
  let host: PluginHost | undefined;
  let unsubscribe: (() => void) | undefined;
  let closed = false;
  let watched = init.watched ?? true;
  let writesNeeded = init.writesNeeded ?? true;
  const listeners = new Set<FrameListener>();

  const takeover =
    init.takeover ?? createTakeover({ holdMs: init.takeoverMs ?? 2000, now: init.now ?? Date.now });
  const writer = createPluginWriter({
    held: takeover.held,
    registry,
    store,
    rejections: init.rejections,
    permissions: (id) => permissions.get(id),
    // Through the event log, so a plugin refused every frame costs one line per interval.
    onRefused(r) {
      const breach = isSecurityReason('input', r.reason);
      events.record({
        kind: breach ? 'undeclared-write' : 'invalid-output',
        plugin: r.plugin.slice(0, 64),
        reason: r.message,
        code: r.reason,
        items: r.paths.slice(0, 64),
      });
    },
  });

  function isRead(path: string): boolean {
    let yes = readable.get(path);
    if (yes === undefined) {
      yes = [...permissions.values()].some((p) => p.canRead(path));
      if (readable.size >= READABLE_CACHE_LIMIT) readable.clear();
      readable.set(path, yes);
    }
    return yes;
  }

  function readValues(): Record<string, null | number | boolean | string> {
    const out: Record<string, null | number | boolean | string> = {};
    for (const path of registry.paths) if (isRead(path)) out[path] = store.get(path)?.value ?? null;
    return out;
  }

  function onEvent(e: HostEvent): void {
    events.record(e);
    if (e.kind === 'quarantine' && e.plugin) init.onQuarantine?.(e.plugin, e.reason);
  }

  function onFrame(frame: EncodedFrame): void {
    for (const fn of listeners) {
      try {
        fn(frame);
      } catch (err) {
        log.error({ err, event: 'plugin.frame-listener-failed' }, 'a frame listener failed');
      }
    }
  }

  function onChanges(changes: readonly Change[]): void {
    takeover.observe(changes);
    if (!host) return;
    const relevant = changes.filter((c) => isRead(c.path));
    if (relevant.length === 0) return;
    host.updateParams(relevant);
    // A trigger's stored value is always null: without an event a plugin could not see a hit.
    const fired = relevant.filter((c) => registry.get(c.path)?.type === 'trigger');
    if (fired.length > 0) {
      const beat = init.clock().beat;
      host.pushEvents(fired.map((c) => ({ address: c.path, value: c.value, beat })));
    }
  }

  async function apply(list: PluginSpec[]): Promise<void> {
    specs = list;
    permissions = new Map(list.map((s) => [s.manifest.id, compilePermissions(s.manifest)]));
    readable = new Map();
    if (list.length === 0) {
      const h = host;
      host = undefined;
      await h?.close();
      return;
    }
    if (host) {
      host.setPlugins(list);
      host.updateParams(Object.entries(readValues()).map(([path, value]) => ({ path, value })));
      return;
    }
    host = startPluginHost({
      ...init.host,
      plugins: list,
      frameRate: init.frameRate,
      width: init.width,
      height: init.height,
      clock: init.clock,
      policy: init.policy,
      params: readValues(),
      watched,
      writesNeeded,
      log,
      onFrame,
      onWrites: (plugin, writes) => writer.write(plugin, writes),
      onEvent,
    });
  }

  async function load(): Promise<void> {
    let list: PluginSpec[];
    try {
      list = await init.loadPlugins();
    } catch (err) {
      log.error(
        { err, event: 'plugin.list-failed' },
        'could not load the plugin list; plugins keep their state',
      );
      return;
    }
    if (closed) return;
    await apply(list);
    log.info(
      { event: 'plugin.loaded', plugins: list.map((s) => `${s.manifest.id}@${s.manifest.version}`) },
      `${list.length} plugin${list.length === 1 ? '' : 's'} loaded`,
    );
  }

  // Reloads run one at a time: two interleaved ones could leave the older list in place.
  let queue: Promise<void> = Promise.resolve();
  const serially = (): Promise<void> => {
    queue = queue.then(load);
    return queue;
  };

  return {
    async start() {
      if (unsubscribe || closed) return;
      unsubscribe = store.subscribe(onChanges);
      await serially();
    },
    reload: serially,
    status() {
      const s = host?.stats();
      return {
        host: s?.host ?? null,
        plugins:
          s?.plugins ??
          specs.map((p) => ({
            id: p.manifest.id,
            version: p.manifest.version,
            state: 'stopped' as const,
            ...zeroCounters(),
            lastError: null,
          })),
        writes: writer.stats(),
        events: events.counts(),
      };
    },
    onFrame(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    setWatched(w) {
      if (w === watched) return;
      watched = w;
      host?.setWatched(w);
      log.debug(
        { event: w ? 'plugin.watched' : 'plugin.unwatched' },
        w ? 'an output page watches: plugins draw' : 'no output page: plugins that only draw are paused',
      );
    },
    setWritesNeeded(n) {
      if (n === writesNeeded) return;
      writesNeeded = n;
      host?.setWritesNeeded(n);
      log.debug(
        { event: n ? 'plugin.writes-needed' : 'plugin.writes-unneeded' },
        n
          ? 'a peer, feedback target, listener or console takes plugin writes: writers run without a page'
          : 'nothing takes plugin writes: without a page, writers are paused too',
      );
    },
    enable(id) {
      const ok = host?.enable(id) ?? false;
      if (ok) log.info({ event: 'plugin.enabled', plugin: id }, `${id} re-enabled by the operator`);
      return ok;
    },
    async close() {
      closed = true;
      unsubscribe?.();
      listeners.clear();
      const h = host;
      host = undefined;
      await h?.close();
    },
  };
}
