import { z } from 'zod';
import type { TriggerEvent } from '../api/hana-plugin.d.ts';
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
      cpuMsPerSecond?: number;
      watched: boolean;
      idleFps?: number;
      writesNeeded: boolean;
      plugins: readonly PluginSpec[];
      quarantined: string[];
      params: Record<string, ParamValue>;
      clock: ClockMessage;
    }
  | { t: 'plugins'; plugins: readonly PluginSpec[]; quarantined: string[] }
  | { t: 'params'; values: Record<string, ParamValue> }
  // Sent at once, not batched like params: a hit must reach the next frame.
  | { t: 'events'; events: TriggerEvent[] }
  | ({ t: 'clock' } & ClockMessage)
  | { t: 'enable'; id: string }
  // Who takes the host's output: a page (the picture), something outside it (the writes).
  | { t: 'watched'; watched: boolean; writesNeeded: boolean }
  // Only honoured when the child runs with HANA_PLUGIN_HOST_TEST_HOOKS=1 (tests of the crash paths).
  | { t: 'test-catastrophic'; id: string }
  | { t: 'test-hang' };

const Text = (max: number) => z.string().max(max);
const PluginId = Text(64);

export const EventKind = z.enum([
  'started',
  'overrun',
  'starved',
  'hung',
  'over-share',
  'cpu-share',
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
  'bisect',
]);

/** What the daemon accepts of an event's free text; child.ts cuts to it before sending. */
export const EVENT_TEXT = { reason: 2000, item: 600, items: 64, code: 64 } as const;

export const HostEvent = z
  .object({
    kind: EventKind,
    plugin: PluginId.optional(),
    reason: Text(EVENT_TEXT.reason),
    code: Text(EVENT_TEXT.code).optional(),
    items: z.array(Text(EVENT_TEXT.item)).max(EVENT_TEXT.items).optional(),
    delayMs: z.number().min(0).optional(),
    attempt: z.number().int().min(0).optional(),
  })
  .strict();
/** An event of the runtime (per plugin) or of the host process itself (host-crash, host-restart). */
export type HostEvent = z.infer<typeof HostEvent>;

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * An event cut to what the daemon accepts. The sandbox caps what a plugin says already; this is
 * the boundary's own cap, so no string, however it got here, gets a whole batch of events and
 * writes refused (the daemon refuses a message with any field over its cap).
 */
export function capEvent<E extends { reason: string; code?: string; items?: string[] }>(e: E): E {
  const over =
    e.reason.length > EVENT_TEXT.reason ||
    (e.code?.length ?? 0) > EVENT_TEXT.code ||
    (e.items !== undefined &&
      (e.items.length > EVENT_TEXT.items || e.items.some((i) => i.length > EVENT_TEXT.item)));
  if (!over) return e;
  return {
    ...e,
    reason: clip(e.reason, EVENT_TEXT.reason),
    ...(e.code !== undefined ? { code: clip(e.code, EVENT_TEXT.code) } : {}),
    ...(e.items !== undefined
      ? { items: e.items.slice(0, EVENT_TEXT.items).map((i) => clip(i, EVENT_TEXT.item)) }
      : {}),
  };
}

const WriteValue = z.union([z.number(), z.boolean(), Text(4096)]);

export const PluginStatsSchema = z
  .object({
    id: PluginId,
    version: Text(64),
    state: z.enum(['starting', 'running', 'backoff', 'quarantined', 'stopped', 'held']),
    frames: z.number().int().min(0),
    overruns: z.number().int().min(0),
    restarts: z.number().int().min(0),
    refusedWrites: z.number().int().min(0),
    starved: z.number().int().min(0),
    leftOut: z.number().int().min(0),
    throttled: z.number().int().min(0),
    late: z.number().int().min(0),
    fps: z.number().min(0).max(1000),
    cpuMs: z.number().min(0).max(1e6),
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
