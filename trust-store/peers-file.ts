import { lstat } from 'node:fs/promises';
import { z } from 'zod';
import { PeersFile } from './peers-schema.ts';
import { readOwnFile, writeFileAtomic } from './secure-file.ts';

// Reading and writing <home>/peers.json. Losing this file's contents would quietly re-admit
// blocked devices and re-open every pin to a new certificate, so a file that cannot be read
// or understood is an error naming it, never an empty store.

const NOT_RESET =
  'trust was not reset: fix or restore the file, or move it aside to start with no pinned peers';

export async function loadPeersFile(
  path: string,
): Promise<{ ok: true; file: PeersFile } | { ok: false; error: string }> {
  const read = await readOwnFile(path);
  if (!read.ok) {
    if (!read.missing) return { ok: false, error: `${read.error}; ${NOT_RESET}` };
    // A dangling symlink reads as missing; starting empty would quietly replace the link.
    const entry = await lstat(path).catch(() => undefined);
    if (entry === undefined) return { ok: true, file: { version: 1, peers: [], held: [] } };
    return { ok: false, error: `${path} is a link to a file that does not exist; ${NOT_RESET}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(read.text);
  } catch (err) {
    return { ok: false, error: `${path} is not valid JSON (${(err as Error).message}); ${NOT_RESET}` };
  }
  const parsed = PeersFile.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      error: `${path} is not a valid peers file: ${z.prettifyError(parsed.error)}\n${NOT_RESET}`,
    };
  }
  return { ok: true, file: parsed.data };
}

/** Writes the file atomically (mode 0600); refuses a file the next start would not load. */
export async function savePeersFile(path: string, file: PeersFile): Promise<void> {
  const check = PeersFile.safeParse(file);
  if (!check.success)
    throw new Error(`refusing to write an invalid ${path}: ${z.prettifyError(check.error)}`);
  await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
}
