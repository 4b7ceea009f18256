import { open, readFile, unlink } from 'node:fs/promises';

// A lock file beside a file that several processes change (the `hana` CLI and a running daemon
// both edit plugins.json and publishers.json): each change is read-modify-write, and two of them
// interleaved would lose one — a lost revocation re-admits a publisher. The lock is a file
// created exclusively holding the owner's PID; a lock whose process is gone is stale and taken
// over, so a crashed command never wedges the home.

export type Lock = { ok: true; release: () => Promise<void> } | { ok: false; error: string };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownerOf(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Takes `path` exclusively, waiting at most tries × intervalMs for another holder. */
export async function acquireLock(
  path: string,
  opts: { tries?: number; intervalMs?: number } = {},
): Promise<Lock> {
  const tries = opts.tries ?? 250;
  const intervalMs = opts.intervalMs ?? 20;
  let emptySeen = 0;
  for (let i = 0; i < tries; i++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
      return { ok: true, release: () => unlink(path).catch(() => {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        return { ok: false, error: `cannot create lock ${path}: ${(err as Error).message}` };
      }
    }
    const owner = await ownerOf(path);
    // An empty lock is one being written right now, or left by a crash between create and write:
    // give it a few rounds before calling it stale.
    const stale = owner === undefined ? ++emptySeen > 5 : !alive(owner);
    // Re-read just before removing: another process may have taken over the stale lock already.
    // (A takeover racing within that gap can still let two in; only a crash leaves stale locks.)
    if (stale && (await ownerOf(path)) === owner) {
      await unlink(path).catch(() => {});
      emptySeen = 0;
      continue;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const owner = await ownerOf(path);
  return {
    ok: false,
    error: `${path} is held by another hana process${owner ? ` (pid ${owner})` : ''}; try again, or delete the lock file if no hana command is running`,
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
