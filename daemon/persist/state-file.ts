import { z } from 'zod';

// The plaintext inside <home>/state.sealed: every written parameter value with the HLC stamp
// and writer it carried, so a restart merges with peers by the same last-writer-wins rule as a
// live update. JSON, because the file is small and a person debugging may decrypt it.

const Stamp = z
  .object({
    t: z.number(),
    c: z.number().int().min(0),
    node: z.string().max(255),
  })
  .strict();

export const StoredValue = z.union([z.number(), z.boolean(), z.string().max(4096), z.null()]);

export const PersistedEntry = z
  .object({
    path: z.string().min(1).max(256),
    value: StoredValue,
    stamp: Stamp,
    source: z.string().max(512),
    /** A person made it: it ranks ahead of automation (state/write-order.ts). */
    human: z.literal(true).optional(),
  })
  .strict();
export type PersistedEntry = z.infer<typeof PersistedEntry>;

const StateFile = z
  .object({
    format: z.literal('hana-state'),
    version: z.literal(1),
    savedAt: z.string(),
    node: z.string().max(255),
    entries: z.array(PersistedEntry).max(1_000_000),
  })
  .strict();
export type StateFile = z.infer<typeof StateFile>;

export function encodeState(node: string, savedAt: number, entries: readonly PersistedEntry[]): Uint8Array {
  const file: StateFile = {
    format: 'hana-state',
    version: 1,
    savedAt: new Date(savedAt).toISOString(),
    node,
    entries: [...entries],
  };
  return new TextEncoder().encode(JSON.stringify(file));
}

/** The file decrypted, so we wrote it: a malformed body is a bug or a different program's file. */
export function decodeState(bytes: Uint8Array): { ok: true; file: StateFile } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return { ok: false, error: `decrypts but is not JSON (${(err as Error).message})` };
  }
  const parsed = StateFile.safeParse(json);
  if (!parsed.success) {
    return { ok: false, error: `decrypts but is not a hana state file: ${z.prettifyError(parsed.error)}` };
  }
  return { ok: true, file: parsed.data };
}
