import { z } from 'zod';
import { StoredValue } from '../persist/state-file.ts';

// Scene names and the plaintext of a scene file (<home>/scenes/<name>.scene, sealed).
//
// Names: 1–64 characters of a–z, 0–9, '.', '_' and '-', starting with a letter or digit (so no
// separators, no "." or "..", no hidden files). They are case-insensitive and stored in lower
// case, so "Intro" and "intro" are one scene on every file system.

export const MAX_NAME = 64;
const NAME = /^[a-z0-9][a-z0-9._-]*$/;

export type NameCheck = { ok: true; name: string } | { ok: false; error: string };

export function sceneName(input: string): NameCheck {
  const name = input.toLowerCase();
  if (name.length === 0 || name.length > MAX_NAME || !NAME.test(name)) {
    return {
      ok: false,
      error: `"${input.slice(0, 80)}" is not a scene name: use 1–${MAX_NAME} letters, digits, ".", "_" or "-", starting with a letter or digit`,
    };
  }
  return { ok: true, name };
}

export const SceneValue = z
  .object({
    path: z.string().min(1).max(256),
    /** The declared type when saved, to explain a value the current config no longer takes. */
    type: z.string().max(16),
    value: StoredValue,
  })
  .strict();
export type SceneValue = z.infer<typeof SceneValue>;

export const SceneFile = z
  .object({
    format: z.literal('hana-scene'),
    version: z.literal(1),
    name: z.string().max(MAX_NAME),
    savedAt: z.string(),
    node: z.string().max(255),
    only: z.string().max(256).optional(),
    values: z.array(SceneValue).max(1_000_000),
  })
  .strict();
export type SceneFile = z.infer<typeof SceneFile>;

export function encodeScene(scene: SceneFile): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(scene));
}

export function decodeScene(
  bytes: Uint8Array,
): { ok: true; scene: SceneFile } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return { ok: false, error: `decrypts but is not JSON (${(err as Error).message})` };
  }
  const parsed = SceneFile.safeParse(json);
  if (!parsed.success) {
    return { ok: false, error: `decrypts but is not a hana scene: ${z.prettifyError(parsed.error)}` };
  }
  return { ok: true, scene: parsed.data };
}
