import { readJsonFile, writeJsonFile } from './json-file.ts';
import { PeersFile } from './peers-schema.ts';

// Reading and writing <home>/peers.json. Losing this file's contents would quietly re-admit
// blocked devices and re-open every pin to a new certificate, so a file that cannot be read
// or understood is an error naming it, never an empty store.

const NOT_RESET =
  'trust was not reset: fix or restore the file, or move it aside to start with no pinned peers';

export async function loadPeersFile(
  path: string,
): Promise<{ ok: true; file: PeersFile } | { ok: false; error: string }> {
  const r = await readJsonFile(path, {
    schema: PeersFile,
    empty: { version: 1, peers: [], held: [] },
    what: 'a valid peers file',
    notReset: NOT_RESET,
  });
  return r.ok ? { ok: true, file: r.value } : r;
}

/** Writes the file atomically (mode 0600); refuses a file the next start would not load. */
export async function savePeersFile(path: string, file: PeersFile): Promise<void> {
  await writeJsonFile(path, PeersFile, file, path);
}
