import { readdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

// Temp files a killed process left behind: writeFileAtomic's (secure-file.ts) and the file
// lock's acquisitions are both named `.<name>.<pid>.<hex>.tmp` beside the file they stand for.

/** Whether a process with this PID exists (possibly another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A temp file older than this is no save in flight, whatever its PID says (PIDs are reused). */
const STALE_TEMP_MS = 10 * 60_000;

/**
 * Temp files a killed writer left beside `path` (`.<name>.<pid>.<hex>.tmp`: writeFileAtomic's, and
 * the file lock's while it is taken). The home lock already keeps a second daemon from getting here
 * while another runs; a temp file is still removed only when no live writer can own it: its
 * writer's PID is gone, or it is far older than any save takes. Anything else is left alone.
 */
export async function removeStaleTemps(path: string, now = Date.now()): Promise<number> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]+\.tmp$/.exec(n.slice(prefix.length));
    if (!m) continue;
    const file = join(dir, n);
    const pid = Number(m[1]);
    const stale =
      !processAlive(pid) ||
      (await stat(file).then(
        (st) => now - st.mtimeMs > STALE_TEMP_MS,
        () => false,
      ));
    if (stale) {
      await unlink(file).then(
        () => removed++,
        () => {},
      );
    }
  }
  return removed;
}
