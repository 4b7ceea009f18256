import type { TriggerEvent } from '../api/hana-plugin.d.ts';
import { compilePermissions, type Permissions } from '../sandbox/permissions.ts';
import type { ParamValue, Sandbox } from '../sandbox/sandbox.ts';
import type { FaultTracker } from './policy.ts';
import type { SharedPlugin } from './shares.ts';
import { type PluginSpec, type PluginState, type PluginStats, zeroCounters } from './types.ts';

// What the frame engine (engine.ts) keeps of one plugin: its sandbox and state, its fault
// record, what it is owed of frames, its latest layer and its counters.

export type Slot = SharedPlugin & {
  spec: PluginSpec;
  key: string;
  permissions: Permissions;
  tracker: FaultTracker;
  state: PluginState;
  /** Bumped whenever the sandbox is replaced or dropped: answers from an older one are ignored. */
  generation: number;
  sandbox: Sandbox | undefined;
  retry: unknown;
  inFlight: boolean;
  /** Fractional frames owed at this plugin's fps (runs when ≥ 1). */
  credit: number;
  /** Due last tick but given no lane before this one (engine.ts): first in line now. */
  late: boolean;
  index: number;
  lastTime: number | undefined;
  params: Record<string, ParamValue>;
  /** Triggers fired since its last frame call (engine.ts takes them into the next one). */
  events: TriggerEvent[];
  layer: string | undefined;
  /** Running average of the CPU its frames take, ms (its isolate's own clock). */
  cpuAvgMs: number;
  /** Frames drawn when `at` (ms) was taken, and the rate since the one before. */
  fpsMark: { at: number; frames: number; fps: number };
  /** Wall-clock limit for its next load: doubled after a load starved by a loaded machine. */
  loadTimeoutMs: number | undefined;
  stats: PluginStats;
};

/** A plugin is the same one (and keeps running) while its manifest and code are. */
export const keyOf = (s: PluginSpec) => `${JSON.stringify(s.manifest)}\0${s.entrySource}`;

export function createSlot(
  spec: PluginSpec,
  opts: {
    quarantined: boolean;
    frameRate: number;
    tracker: FaultTracker;
    /** Current parameter values; the slot keeps those its manifest reads. */
    params: ReadonlyMap<string, ParamValue>;
  },
): Slot {
  const m = spec.manifest;
  const slot: Slot = {
    spec,
    key: keyOf(spec),
    id: m.id,
    fps: Math.min(m.limits.fps, opts.frameRate),
    permissions: compilePermissions(m),
    tracker: opts.tracker,
    state: opts.quarantined ? 'quarantined' : 'starting',
    generation: 0,
    sandbox: undefined,
    retry: undefined,
    inFlight: false,
    credit: 1,
    late: false,
    index: 0,
    lastTime: undefined,
    params: {},
    events: [],
    layer: undefined,
    cpuAvgMs: 0,
    throttled: false,
    leftOut: false,
    loadTimeoutMs: undefined,
    fpsMark: { at: 0, frames: 0, fps: 0 },
    stats: {
      id: m.id,
      version: m.version,
      state: 'starting',
      ...zeroCounters(),
      lastError: opts.quarantined ? 'quarantined before the plugin host restarted' : null,
    },
  };
  for (const [path, value] of opts.params) if (slot.permissions.canRead(path)) slot.params[path] = value;
  return slot;
}
