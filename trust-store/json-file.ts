import { lstat } from 'node:fs/promises';
import { z } from 'zod';
import { readOwnFile, writeFileAtomic } from './secure-file.ts';

// The trust files (pinned peers, trusted publishers, installed plugins) share one rule: a file
// that cannot be read or understood is an error naming it, never an empty start, because an
// empty start would quietly re-admit blocked devices or revoked keys. Only a file that does not
// exist at all starts empty.

export type JsonFileSpec<T> = {
  schema: z.ZodType<T>;
  /** What a missing file means (a first run). */
  empty: T;
  /** "a valid peers file", used in the error. */
  what: string;
  /** What was not done and what the operator can do, appended to every error. */
  notReset: string;
};

export type JsonFileRead<T> = { ok: true; value: T } | { ok: false; error: string };

export async function readJsonFile<T>(path: string, spec: JsonFileSpec<T>): Promise<JsonFileRead<T>> {
  const read = await readOwnFile(path);
  if (!read.ok) {
    if (!read.missing) return { ok: false, error: `${read.error}; ${spec.notReset}` };
    // A dangling symlink reads as missing; starting empty would quietly replace the link.
    const entry = await lstat(path).catch(() => undefined);
    if (entry === undefined) return { ok: true, value: spec.empty };
    return { ok: false, error: `${path} is a link to a file that does not exist; ${spec.notReset}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(read.text);
  } catch (err) {
    return { ok: false, error: `${path} is not valid JSON (${(err as Error).message}); ${spec.notReset}` };
  }
  const parsed = spec.schema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      error: `${path} is not ${spec.what}: ${z.prettifyError(parsed.error)}\n${spec.notReset}`,
    };
  }
  return { ok: true, value: parsed.data };
}

/** Writes atomically (mode 0600); refuses a value the next start would not load. */
export async function writeJsonFile<T>(
  path: string,
  schema: z.ZodType<T>,
  value: T,
  what: string,
): Promise<void> {
  const check = schema.safeParse(value);
  if (!check.success)
    throw new Error(`refusing to write an invalid ${what}: ${z.prettifyError(check.error)}`);
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}
