import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { processAlive, removeStaleTemps } from './stale-temps.ts';

// A lock file beside a file that several processes change (the `hana` CLI and a running daemon
// both edit plugins.json and publishers.json): each change is read-modify-write, and two of them
// interleaved would lose one — a lost revocation re-admits a publisher. The daemon also holds one
// on its whole home for its life, so a second daemon is turned away before it reads or writes
// anything there. The lock is a file created exclusively holding the owner's PID, the owner's
// start time where /proc exists ("-" where not) and a token unique to the acquisition; a lock
// whose process is gone is stale and taken over, so a crashed or SIGKILLed holder never wedges
// the home.

export type Lock =
  | { ok: true; release: () => Promise<void> }
  /** owner: the PID holding the lock, when it was refused because another process holds it. */
  | { ok: false; error: string; owner?: number };

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

/**
 * Lock texts this process holds, or is about to create, per path. The text carries a token unique
 * to the acquisition, so a waiter in this process can tell a released holder's lock from the next
 * holder's: with the PID alone they read the same, and a waiter that judged the first stale could
 * delete the second (one of twelve concurrent `trust`s was lost that way under load).
 */
const heldHere = new Map<string, Set<string>>();
const holdHere = (path: string, text: string) => {
  const set = heldHere.get(path) ?? new Set<string>();
  set.add(text);
  heldHere.set(path, set);
};
const dropHere = (path: string, text: string) => {
  const set = heldHere.get(path);
  set?.delete(text);
  if (set?.size === 0) heldHere.delete(path);
};

type Owner = { pid: number; start?: string; text: string; ino: number };
/** missing: the lock vanished (released) between our refusal and the read: just try again. */
type Read = Owner | 'missing' | { junk: string; ino: number };

async function ownerOf(path: string): Promise<Read> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'r');
    const { ino } = await fh.stat();
    const text = await fh.readFile('utf8');
    const [first, second] = text.split('\n');
    const pid = Number(first?.trim());
    if (!Number.isSafeInteger(pid) || pid <= 0) return { junk: text, ino };
    const start = second?.trim();
    return { pid, text, ino, ...(start && start !== '-' && { start }) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  } finally {
    await fh?.close();
  }
}

async function isStale(path: string, owner: Owner): Promise<boolean> {
  // Our own PID on a lock no acquisition here holds: an earlier process that had our PID.
  if (owner.pid === process.pid) return !heldHere.get(path)?.has(owner.text);
  if (!processAlive(owner.pid)) return true;
  if (owner.start === undefined) return false;
  const now = await readStartTime(owner.pid);
  // The PID was reused by a process started later than the holder.
  return now !== undefined && now !== owner.start;
}

const sameFile = (a: Read, b: Read) =>
  a !== 'missing' &&
  b !== 'missing' &&
  a.ino === b.ino &&
  ('text' in a ? a.text : a.junk) === ('text' in b ? b.text : b.junk);

/**
 * Takes `path` exclusively, waiting at most tries × intervalMs for another holder. The lock is
 * written whole to a private temp file and then hard-linked into place, which fails if the path
 * exists: so a lock is never seen empty or half-written (a waiter once took a holder's lock caught
 * between create and write for a crash's leftover, and two callers changed publishers.json at
 * once). An empty or unparsable lock can only be junk (a crash of an older hana, a hand-made
 * file); it is taken over once it has stayed the same file with the same bytes for six looks.
 */
export async function acquireLock(
  path: string,
  opts: { tries?: number; intervalMs?: number } = {},
): Promise<Lock> {
  const tries = opts.tries ?? 250;
  const intervalMs = opts.intervalMs ?? 20;
  const content = `${process.pid}\n${ownStartTime ?? '-'}\n${randomBytes(8).toString('hex')}\n`;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let tmpWritten = false;
  try {
    let junkSeen = 0;
    let lastJunk: Read = 'missing';
    // A try ends in a wait; rounds that lost a race for a free lock go again at once, bounded too.
    for (let i = 0, rounds = 0; i < tries && rounds < tries * 4; rounds++) {
      // Look before creating anything: a refused second daemon leaves the home untouched, not
      // even a temp file's trace on the directory.
      const seen = await ownerOf(path);
      if (seen === 'missing') {
        if (!tmpWritten) {
          await writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
          tmpWritten = true;
        }
        // Registered before the link, so a waiter here never judges our fresh lock stale.
        holdHere(path, content);
        try {
          await place(tmp, path, content);
          await removeStaleTemps(path);
          return { ok: true, release: releaser(path, content) };
        } catch (err) {
          dropHere(path, content);
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        continue;
      }
      let stale: boolean;
      if ('junk' in seen) {
        junkSeen = sameFile(seen, lastJunk) ? junkSeen + 1 : 1;
        lastJunk = seen;
        stale = junkSeen > 5;
      } else {
        junkSeen = 0;
        stale = await isStale(path, seen);
      }
      // Re-read just before removing: another process may have taken over the stale lock already.
      // (A takeover racing within that gap can still let two in; only a crash leaves stale locks.)
      if (stale && sameFile(await ownerOf(path), seen)) {
        await unlink(path).catch(() => {});
        junkSeen = 0;
        continue;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
      i++;
    }
    const owner = await ownerOf(path).catch(() => 'missing' as const);
    const pid = owner !== 'missing' && 'pid' in owner ? owner.pid : undefined;
    return {
      ok: false,
      error: `${path} is held by another hana process${pid ? ` (pid ${pid})` : ''}; try again, or delete the lock file if no hana command is running`,
      ...(pid !== undefined && { owner: pid }),
    };
  } catch (err) {
    return { ok: false, error: `cannot create lock ${path}: ${(err as Error).message}` };
  } finally {
    if (tmpWritten) await unlink(tmp).catch(() => {});
  }
}

/** Some file systems (FAT, exFAT on a stick) have no hard links: there, create and write, as before. */
async function place(tmp: string, path: string, content: string): Promise<void> {
  try {
    await link(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    await writeFile(path, content, { mode: 0o600, flag: 'wx' });
  }
}

function releaser(path: string, content: string): () => Promise<void> {
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    // Only our own lock: one taken over meanwhile (we were judged stale) is not ours to delete.
    if ((await readFile(path, 'utf8').catch(() => '')) === content) await unlink(path).catch(() => {});
    dropHere(path, content);
  };
}

/**
 * Callers in this process queue here, so they take turns instead of polling the file together.
 * A turn waits for the one before it at most QUEUE_WAIT_MS, then tries the file anyway: a change
 * that hangs (a stuck disk) costs the callers behind it a bounded wait and a "busy", never forever.
 */
const queues = new Map<string, Promise<unknown>>();
export const QUEUE_WAIT_MS = 5000;

function bounded(before: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => {
    timer = setTimeout(r, ms);
  });
  return Promise.race([before, late]).finally(() => clearTimeout(timer));
}

/** Runs fn under the lock; a lock that cannot be taken is a typed refusal, fn's own errors propagate. */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
  opts: { queueWaitMs?: number; tries?: number; intervalMs?: number } = {},
): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  const before = queues.get(path);
  const waited = before ? bounded(before, opts.queueWaitMs ?? QUEUE_WAIT_MS) : Promise.resolve();
  const turn = waited.then(async () => {
    const lock = await acquireLock(path, opts);
    if (!lock.ok) return lock;
    try {
      return { ok: true as const, value: await fn() };
    } finally {
      await lock.release();
    }
  });
  const settled = turn.catch(() => {});
  queues.set(path, settled);
  void settled.then(() => {
    if (queues.get(path) === settled) queues.delete(path);
  });
  return turn;
}
