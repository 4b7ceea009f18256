import type { PluginManifest } from '../manifest.ts';

// The frame runtime's vocabulary, shared by the engine (engine.ts), the plugin host process
// (child.ts) and the daemon side (host.ts).

export type PluginSpec = { readonly manifest: PluginManifest; readonly entrySource: string };

/** `held`: kept out of the plugin host while a crash that named no plugin is bisected (host.ts). */
export type PluginState = 'starting' | 'running' | 'backoff' | 'quarantined' | 'stopped' | 'held';

export type PluginStats = {
  id: string;
  version: string;
  state: PluginState;
  /** Frames drawn (valid output within budget). */
  frames: number;
  overruns: number;
  restarts: number;
  refusedWrites: number;
  /** Frames lost to a loaded machine (stopped by the wall clock before using their CPU): not faults. */
  starved: number;
  /** Frames its layer was left out of, being over its fair share of the composed frame. */
  leftOut: number;
  /** Frames it did not run because its fair share of the plugins' CPU held it below its fps. */
  throttled: number;
  /** Frames it was due for but got no lane before the next tick (engine.ts): run a tick later. */
  late: number;
  /** Frames drawn per second, over the last second or so (0 while it does not run). */
  fps: number;
  /** CPU per frame, ms: a running average over about its last 10 frames (isolate clock). */
  cpuMs: number;
  lastError: string | null;
};

/** The counters of a plugin's stats, all at zero. */
export const zeroCounters = () => ({
  frames: 0,
  overruns: 0,
  restarts: 0,
  refusedWrites: 0,
  starved: 0,
  leftOut: 0,
  throttled: 0,
  late: 0,
  fps: 0,
  cpuMs: 0,
});

export type EventKind =
  | 'started'
  | 'overrun'
  | 'starved'
  | 'hung'
  | 'over-share'
  | 'cpu-share'
  | 'exception'
  | 'memory'
  | 'invalid-output'
  | 'escape'
  | 'load-failed'
  | 'undeclared-write'
  | 'restart'
  | 'quarantine'
  | 'log';

export type RuntimeEvent = {
  kind: EventKind;
  plugin: string;
  reason: string;
  /** The finer reason code (display-list code, load code…). */
  code?: string;
  /** undeclared-write: the refused paths; log: the lines. */
  items?: string[];
  delayMs?: number;
  attempt?: number;
};

/** A composed frame, already serialized as a `ComposedFrame` (display-list.ts). */
export type EncodedFrame = { readonly index: number; readonly time: number; readonly json: string };

export { realTimers, type Timers } from '../../daemon/timers.ts';
