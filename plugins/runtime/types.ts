import type { PluginManifest } from '../manifest.ts';

// The frame runtime's vocabulary, shared by the engine (engine.ts), the plugin host process
// (child.ts) and the daemon side (host.ts).

export type PluginSpec = { readonly manifest: PluginManifest; readonly entrySource: string };

export type PluginState = 'starting' | 'running' | 'backoff' | 'quarantined' | 'stopped';

export type PluginStats = {
  id: string;
  version: string;
  state: PluginState;
  /** Frames drawn (valid output within budget). */
  frames: number;
  overruns: number;
  restarts: number;
  refusedWrites: number;
  lastError: string | null;
};

export type EventKind =
  | 'started'
  | 'overrun'
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
