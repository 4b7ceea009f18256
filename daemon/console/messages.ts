import { z } from 'zod';

// What the console page may say over its WebSocket, and what it is answered. The page calls a
// fixed list of control methods by name; anything else is refused before a handler sees it.

/** The largest message the page ever sends is a scene name or a text value: 64 KiB is plenty. */
export const MAX_CONSOLE_MESSAGE = 64 * 1024;

export const ConsoleRequest = z
  .object({
    id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    method: z.string().min(1).max(64),
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type ConsoleRequest = z.infer<typeof ConsoleRequest>;

/** Reads that change nothing. */
export const READ_METHODS = [
  'status',
  'id',
  'params',
  'get',
  'peers',
  'trust.list',
  'pair.status',
  'plugin.runtime',
  'plugin.installed',
  'scene.list',
  'scene.status',
  'audit.query',
  'output.url',
  'console.reasons',
] as const;

/** Actions: each is audited with writer `ui` (a value change by the store, the rest here). */
export const ACTION_METHODS = [
  'set',
  'trust.allow',
  'trust.block',
  'trust.forget',
  'pair.open',
  'pair.join',
  'plugin.change',
  'scene.save',
  'scene.load',
] as const;

export type ConsoleMethod = (typeof READ_METHODS)[number] | (typeof ACTION_METHODS)[number];

/** Actions whose handler already records who did them (the store's `ui` source, the scene log). */
export const SELF_AUDITED: ReadonlySet<string> = new Set(['set', 'scene.save', 'scene.load']);

export type ConsoleAnswer =
  | { id: number; ok: true; result: unknown }
  | { id: number | null; ok: false; error: { code: string; message: string } };

/** A parameter change pushed to every page: the last value of each path in one frame. */
export type ConsoleChange = { path: string; value: unknown; source: string };
