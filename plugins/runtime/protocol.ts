import { z } from 'zod';
import type { ParamValue } from '../sandbox/sandbox.ts';
import type { ClockSample } from './clock.ts';
import { MAX_COMPOSED_BYTES } from './compose.ts';
import type { PluginSpec } from './engine.ts';
import type { FaultPolicy } from './policy.ts';

// The IPC between the daemon (host.ts) and the plugin host child (child.ts), JSON over the fork
// channel. Messages stay small: frames arrive already serialized (one string), parameters and
// clock samples are batched, events and writes are collected per frame. The daemon checks what
// the child sends with the schemas below, so even a child whose isolate was escaped can only
// send shapes the daemon already handles (its writes are re-checked against the manifest and
// the registry anyway).

export type ClockMessage = ClockSample & {
  /** monotonic ns when the daemon sampled, as decimal text */ ns: string;
};

export type ToChild =
  | {
      t: 'init';
      frameRate: number;
      width: number;
      height: number;
      policy: Partial<FaultPolicy>;
      plugins: readonly PluginSpec[];
      quarantined: string[];
      params: Record<string, ParamValue>;
      clock: ClockMessage;
    }
  | { t: 'plugins'; plugins: readonly PluginSpec[]; quarantined: string[] }
  | { t: 'params'; values: Record<string, ParamValue> }
  | ({ t: 'clock' } & ClockMessage)
  | { t: 'enable'; id: string }
  // Only honoured when the child runs with HANA_PLUGIN_HOST_TEST_HOOKS=1 (tests of the crash paths).
  | { t: 'test-catastrophic'; id: string }
  | { t: 'test-hang' };

const Text = (max: number) => z.string().max(max);
const PluginId = Text(64);

export const EventKind = z.enum([
  'started',
  'overrun',
  'exception',
  'memory',
  'invalid-output',
  'escape',
  'load-failed',
  'undeclared-write',
  'restart',
  'quarantine',
  'log',
  'host-crash',
  'host-restart',
]);

export const HostEvent = z
  .object({
    kind: EventKind,
    plugin: PluginId.optional(),
    reason: Text(2000),
    code: Text(64).optional(),
    items: z.array(Text(600)).max(64).optional(),
    delayMs: z.number().min(0).optional(),
    attempt: z.number().int().min(0).optional(),
  })
  .strict();
/** An event of the runtime (per plugin) or of the host process itself (host-crash, host-restart). */
export type HostEvent = z.infer<typeof HostEvent>;

const WriteValue = z.union([z.number(), z.boolean(), Text(4096)]);

export const PluginStatsSchema = z
  .object({
    id: PluginId,
    version: Text(64),
    state: z.enum(['starting', 'running', 'backoff', 'quarantined', 'stopped']),
    frames: z.number().int().min(0),
    overruns: z.number().int().min(0),
    restarts: z.number().int().min(0),
    refusedWrites: z.number().int().min(0),
    lastError: Text(2000).nullable(),
  })
  .strict();

export const MAX_EVENTS_PER_MESSAGE = 256;
export const MAX_WRITE_BATCHES = 1024;

export const FromChild = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ready') }).strict(),
  z
    .object({
      t: z.literal('out'),
      writes: z
        .array(
          z
            .object({
              plugin: PluginId,
              writes: z.array(z.object({ path: Text(256), value: WriteValue }).strict()).max(64),
            })
            .strict(),
        )
        .max(MAX_WRITE_BATCHES),
      events: z.array(HostEvent).max(MAX_EVENTS_PER_MESSAGE),
      droppedEvents: z.number().int().min(0),
    })
    .strict(),
  z
    .object({
      t: z.literal('stats'),
      plugins: z.array(PluginStatsSchema).max(1024),
      frames: z.number().int().min(0),
      trimmed: z.number().int().min(0),
      droppedFrames: z.number().int().min(0),
    })
    .strict(),
]);
export type FromChild = z.infer<typeof FromChild>;

/** Frames are checked by hand: they are the hot path and one string. */
export type FrameMessage = { t: 'frame'; index: number; time: number; json: string };

export function isFrameMessage(m: unknown): m is FrameMessage {
  if (m === null || typeof m !== 'object') return false;
  const f = m as Record<string, unknown>;
  return (
    f.t === 'frame' &&
    Number.isSafeInteger(f.index) &&
    typeof f.time === 'number' &&
    Number.isFinite(f.time) &&
    typeof f.json === 'string' &&
    f.json.length <= MAX_COMPOSED_BYTES
  );
}

/** What the child writes on stderr, synchronously, before it aborts on a catastrophic isolate error. */
export const CATASTROPHIC_MARKER = 'hana-plugin-host catastrophic-error ';
