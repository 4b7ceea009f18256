import { z } from 'zod';

// The local control channel: newline-delimited JSON over a Unix socket in the home (mode 0600).
// One request per line, one response per line, matched by id.

export const MAX_LINE_BYTES = 1024 * 1024;

export const ControlRequest = z.object({
  id: z.number().int(),
  method: z.string().max(64),
  params: z.unknown().optional(),
});
export type ControlRequest = z.infer<typeof ControlRequest>;

export type ControlError = { code: string; message: string };
export type ControlResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: ControlError };

/** A failure the caller should see as-is (bad path, wrong type…), as opposed to a bug. */
export function controlError(code: string, message: string): Error & { controlCode: string } {
  return Object.assign(new Error(message), { controlCode: code });
}
