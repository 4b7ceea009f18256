import type { Logger } from '../../daemon/log.ts';
import type { TriggerEvent } from '../api/hana-plugin.d.ts';
import type { ParamValue, PluginWrite } from '../sandbox/sandbox.ts';
import type { SessionClock } from './clock.ts';
import type { FaultPolicy } from './policy.ts';
import type { HostEvent } from './protocol.ts';
import type { EncodedFrame, PluginSpec, PluginStats } from './types.ts';

// The plugin host's contract with the daemon (host.ts runs it): its options, its status, and
// what the daemon may ask of it.

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
  /** How often a clock sample goes to the child while it ticks, ms (default 100). */
  clockIntervalMs?: number;
  /**
   * The same, and the daemon's check of the child (hang, RSS), while nothing ticks: no page and
   * no audience for the writes (default 1000). A fresh sample goes out whenever it ticks again.
   */
  idleIntervalMs?: number;
  /** Parameter changes are batched for this long, ms (default half a frame). */
  paramsFlushMs?: number;
  /** Host restarts: first delay, cap, and how long a host must live for the count to reset. */
  restart?: { backoffMs?: number; maxBackoffMs?: number; stableMs?: number };
  /** A plugin named in this many catastrophic crashes within `restart.stableMs` is quarantined (default 2). */
  crashesToQuarantine?: number;
  /** A child silent for this long (ms) is killed and restarted (default 5000; it reports every 250 ms, every 1000 while idle). */
  unresponsiveMs?: number;
  /**
   * A child that has not said `ready` this long after it was forked is killed (ms, default
   * 15000). Doubled after each such kill in a row (up to 8×): on a loaded machine a child may
   * just be slow to start, and the host must still get one up.
   */
  readyTimeoutMs?: number;
  /** The child's resident memory ceiling, MiB; default from the plugins' memoryMb (child-rss.ts). */
  maxRssMb?: number;
  /**
   * A child at least `minAgeMs` old (default 10 min) whose resident memory passes `rssMb`
   * (default 60 % of the ceiling) is replaced by a fresh one, handed over once the new one has
   * loaded its plugins: no crash, no bisection (child-rss.ts says why).
   */
  renewal?: { rssMb?: number; minAgeMs?: number };
  /** A bisection step that stays up this long (ms) clears the plugins it runs (default 10000). */
  probationMs?: number;
  /** CPU all plugins together may use per second, ms (engine.ts; default every core but one). */
  cpuMsPerSecond?: number;
  /** Whether an output page watches at start (default true); see setWatched. */
  watched?: boolean;
  /** Ticks per second for writing plugins while no page watches (engine.ts; default 10, 0 pauses). */
  idleFps?: number;
  /** Whether something outside the picture takes the plugins' writes at start (default true); see setWritesNeeded. */
  writesNeeded?: boolean;
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
    /** Children killed for never saying `ready`. */
    notReady: number;
    /** Children killed for passing the RSS ceiling. */
    rssKills: number;
    /** Planned handovers to a fresh child (HostInit.renewal), and where they happen, MiB. */
    renewals: number;
    renewRssMb: number;
    /** The child's resident memory at the last sample, MiB (null before the first). */
    rssMb: number | null;
    maxRssMb: number;
    /** The bisection under way, if any. */
    bisect: { step: number; suspects: string[]; held: string[] } | null;
    /** False while no output page watches: plugins that only draw are paused (engine.ts). */
    watched: boolean;
    /** False while nothing outside the picture takes the plugins' writes: without a page, writers pause too. */
    writesNeeded: boolean;
    /** IPC messages to the plugin host and from it, since the daemon started (all children). */
    messages: { sent: number; received: number };
  };
  plugins: PluginStats[];
};

export type TestHook =
  | { kind: 'catastrophic'; plugin: string }
  | { kind: 'hang' }
  /** The next child forked hangs before it says `ready`. */
  | { kind: 'stall-next-start' }
  /** The next child forked fails to load this plugin (its entry throws at load). */
  | { kind: 'fail-load-next-start'; plugin: string }
  /** The next child forked dies of a catastrophic error naming this plugin, just after `ready`. */
  | { kind: 'catastrophic-next-start'; plugin: string };

export type PluginHost = {
  setPlugins(plugins: readonly PluginSpec[]): void;
  updateParams(changes: Iterable<{ readonly path: string; readonly value: ParamValue }>): void;
  /** Fired triggers, for the plugins that read them; lost if the child is restarting. */
  pushEvents(events: readonly TriggerEvent[]): void;
  /** Re-enables a quarantined plugin; false when no plugin by that id is quarantined. */
  enable(id: string): boolean;
  /** Whether an output page watches; kept across host restarts. */
  setWatched(watched: boolean): void;
  /** Whether a peer, a feedback target, a listener or a console takes the writes; kept across restarts. */
  setWritesNeeded(needed: boolean): void;
  stats(): HostStats;
  /** Resolves when the current child has loaded its plugin list. */
  ready(): Promise<void>;
  /** With `testHooks`: makes the child take its catastrophic-error path, or hang. Ignored otherwise. */
  testHook(hook: TestHook): void;
  close(): Promise<void>;
};
