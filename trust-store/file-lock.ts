import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';

// A lock file beside a file that several processes change (the `hana` CLI and a running daemon
// both edit plugins.json and publishers.json): each change is read-modify-write, and two of them
// interleaved would lose one — a lost revocation re-admits a publisher. The daemon also holds one
// on its whole home for its life, so a second daemon is turned away before it reads or writes
// anything there. The lock is a file created exclusively holding the owner's PID (and, where
// /proc exists, the owner's start time); a lock whose process is gone is stale and taken over, so
// a crashed or SIGKILLed holder never wedges the home.

export type Lock =
  | { ok: true; release: () => Promise<void> }
  /** owner: the PID holding the lock, when it was refused because another process holds it. */
  | { ok: false; error: string; owner?: number };

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

/**
 * The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or
 * undefined where there is no /proc. With the PID it names one process for the machine's uptime:
 * a PID alone is reused (a restarted container's daemon is often PID 1 again).
 */
function startTimeFrom(stat: string): string | undefined {
  // The command name (field 2) is in parentheses and may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return /^\d+$/.test(fields[19] ?? '') ? fields[19] : undefined;
}
const readStartTime = (pid: number) =>
  readFile(`/proc/${pid}/stat`, 'utf8').then(startTimeFrom, () => undefined);
const ownStartTime = (() => {
  try {
    return startTimeFrom(readFileSync('/proc/self/stat', 'utf8'));
  } catch {
    return undefined;
  }
})();

/** Paths this process holds now, each with the token of its holder. */
const heldHere = new Map<string, object>();

type Owner = { pid: number; start?: string; text: string };

async function ownerOf(path: string): Promise<Owner | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const [first, second] = text.split('\n');
  const pid = Number(first?.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const start = second?.trim();
  return { pid, text, ...(start && { start }) };
}

async function isStale(path: string, owner: Owner): Promise<boolean> {
  // Our own PID on a lock this process does not hold: an earlier process that had our PID.
  if (owner.pid === process.pid) return !heldHere.has(path);
  if (!processAlive(owner.pid)) return true;
  if (owner.start === undefined) return false;
  const now = await readStartTime(owner.pid);
  // The PID was reused by a process started later than the holder.
  return now !== undefined && now !== owner.start;
}

/** Takes `path` exclusively, waiting at most tries × intervalMs for another holder. */
export async function acquireLock(
  path: string,
  opts: { tries?: number; intervalMs?: number } = {},
): Promise<Lock> {
  const tries = opts.tries ?? 250;
  const intervalMs = opts.intervalMs ?? 20;
  const content = `${process.pid}\n${ownStartTime ? `${ownStartTime}\n` : ''}`;
  let emptySeen = 0;
  for (let i = 0; i < tries; i++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      // Registered before the PID is written, so a holder in this same process is never judged stale.
      const token = {};
      heldHere.set(path, token);
      try {
        await fh.writeFile(content);
      } finally {
        await fh.close();
      }
      let released = false;
      return {
        ok: true,
        release: async () => {
          if (released) return;
          released = true;
          // Only our own lock: one taken over meanwhile (we were judged stale) is not ours to delete.
          if ((await readFile(path, 'utf8').catch(() => '')) === content) await unlink(path).catch(() => {});
          if (heldHere.get(path) === token) heldHere.delete(path);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        return { ok: false, error: `cannot create lock ${path}: ${(err as Error).message}` };
      }
    }
    const owner = await ownerOf(path);
    // An empty lock is one being written right now, or left by a crash between create and write:
    // give it a few rounds before calling it stale.
    const stale = owner === undefined ? ++emptySeen > 5 : await isStale(path, owner);
    // Re-read just before removing: another process may have taken over the stale lock already.
    // (A takeover racing within that gap can still let two in; only a crash leaves stale locks.)
    if (stale && (await ownerOf(path))?.text === owner?.text) {
      await unlink(path).catch(() => {});
      emptySeen = 0;
      continue;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const owner = (await ownerOf(path))?.pid;
  return {
    ok: false,
    error: `${path} is held by another hana process${owner ? ` (pid ${owner})` : ''}; try again, or delete the lock file if no hana command is running`,
    ...(owner !== undefined && { owner }),
  };
}

/** Runs fn under the lock; a lock that cannot be taken is a typed refusal, fn's own errors propagate. */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  const lock = await acquireLock(path);
  if (!lock.ok) return lock;
  try {
    return { ok: true, value: await fn() };
  } finally {
    await lock.release();
  }
}
