import {
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { processAlive } from '../../trust-store/stale-temps.ts';
import type { Logger } from '../log.ts';
import type { HlcMark } from './hlc.ts';

// The clock's high-water mark, kept as a lease in <home>/clock.json. Before the HLC issues a
// stamp at or past the persisted mark it makes a new mark (t + lease) durable, synchronously,
// so a daemon that restarts (even with `storage.persist: false`, even after its wall clock
// stepped back) starts above every stamp it ever issued: a reissued stamp with other values
// would be equivocation to every peer. One small fsync'd write per lease, at most.
//
// That write is made ahead, in the background, once stamps pass half the lease: a synchronous
// fsync on the stamp path stalled ingest once a second (1-50 ms on a laptop disk). The
// synchronous write stays as the fallback when the disk is slower than half a lease.
//
// The lease is a quarter of sync.maxDriftMs (at most 1 s): right after a restart this
// daemon's stamps can be up to one lease ahead of its wall clock, and that must leave room
// under the peers' drift bound for the laptops' real clock offsets (hana peers warns at 75 %).

export const CLOCK_MARK_FILE = 'clock.json';

const MarkFile = z
  .object({ version: z.literal(1), mark: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) })
  .strict();

export function leaseFor(maxDriftMs: number): number {
  return Math.max(1, Math.min(1000, Math.floor(maxDriftMs / 4)));
}

export type ClockMarkStatus = {
  /** Where the clock started: the mark the previous run left, 0 if none was usable. */
  floor: number;
  /** The mark on disk now (or in memory only, when `failures` says the last write failed). */
  mark: number;
  /** `missing`/`unreadable`: stamps started from wall time. */
  loaded: 'ok' | 'missing' | 'unreadable';
  writes: number;
  /** Of `writes`, those made ahead in the background (no stamp waited for them). */
  background: number;
  failures: number;
  /** The lease being written in the background, if any. */
  pending: number | null;
};

export type ClockMark = HlcMark & { ahead(t: number): void; status(): ClockMarkStatus };

export type ClockMarkInit = {
  home: string;
  maxDriftMs: number;
  log: Logger;
  /** Wall clock, to warn when the mark is far ahead of it; injected in tests. */
  now?: () => number;
  /** The identity was created by this start: no stamp of ours exists, so no file is expected. */
  firstStart?: boolean;
};

type Loaded = { ok: true; mark: number } | { ok: false; missing: boolean; reason: string };

function load(path: string): Loaded {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, missing: e.code === 'ENOENT', reason: e.message };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, missing: false, reason: `not JSON (${(err as Error).message})` };
  }
  const parsed = MarkFile.safeParse(json);
  if (!parsed.success) {
    // One line for the log sentence: "mark: Invalid input: expected int, received number".
    const reason = parsed.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ');
    return { ok: false, missing: false, reason };
  }
  return { ok: true, mark: parsed.data.mark };
}

const markText = (mark: number) => `${JSON.stringify({ version: 1, mark })}\n`;

/** Temp file, fsync, rename over, fsync the directory: a crash leaves the old mark or the new one. */
function writeMark(path: string, mark: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, markText(mark));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw err;
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

const TEMP = /^clock\.json\.(\d+)(\.ahead)?\.tmp$/;

/**
 * A daemon killed while writing its mark (ahead, that is most of the time under OSC load)
 * leaves its temp file; the mark itself is whole either way. Removed when its writer is gone.
 */
function removeDeadTemps(home: string): void {
  let names: string[];
  try {
    names = readdirSync(home);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(TEMP.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    try {
      unlinkSync(join(home, name));
    } catch {}
  }
}

export function openClockMark(init: ClockMarkInit): ClockMark {
  const path = join(init.home, CLOCK_MARK_FILE);
  removeDeadTemps(init.home);
  const now = init.now ?? Date.now;
  const lease = leaseFor(init.maxDriftMs);
  const { log } = init;
  const read = load(path);
  let loaded: ClockMarkStatus['loaded'] = 'ok';
  if (!read.ok) {
    loaded = read.missing ? 'missing' : 'unreadable';
    const event = `clock.mark-${loaded}`;
    if (read.missing && init.firstStart)
      log.info({ event, path }, `no clock mark yet in ${path}: a new identity`);
    else
      log.warn(
        { event, path, ...(!read.missing && { reason: read.reason }) },
        `${read.missing ? `no clock mark in ${path}` : `clock mark ${path} is unreadable (${read.reason})`}: stamps start from wall time, and if this laptop's clock stepped back since the last run peers may see stamps reused; the mark is rewritten with the next stamp`,
      );
  }
  const floor = read.ok ? read.mark : 0;
  const ahead = floor - now();
  if (ahead > init.maxDriftMs)
    log.warn(
      { event: 'clock.behind-mark', aheadMs: ahead, path },
      `this laptop's clock is ${(ahead / 1000).toFixed(1)} s behind the last stamp it issued (did the clock step back?): stamps continue from there, and peers may refuse them as too far ahead until the wall clock catches up; check NTP`,
    );
  let mark = floor;
  let writes = 0;
  let background = 0;
  let failures = 0;
  let failing = false;
  let pending: number | undefined;

  /**
   * writeMark's steps off the event loop, except the rename: that one is synchronous, right
   * after checking that no synchronous write got further meanwhile, so an older mark can never
   * be renamed over a newer one. `mark` rises only once the directory is synced.
   */
  async function writeAhead(target: number): Promise<void> {
    const tmp = `${path}.${process.pid}.ahead.tmp`;
    let renamed = false;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(markText(target));
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (mark >= target) return; // a synchronous write overtook this one
      renameSync(tmp, path);
      renamed = true;
      const dir = await open(dirname(path), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      if (target > mark) mark = target;
      writes++;
      background++;
    } catch (err) {
      // The synchronous write at the lease retries, and logs if it fails too.
      log.debug({ event: 'clock.mark-ahead-failed', path, err }, 'could not write the clock mark ahead');
    } finally {
      pending = undefined;
      if (!renamed) await unlink(tmp).catch(() => {});
    }
  }

  return {
    floor,
    ahead(t) {
      if (pending !== undefined || failing || t < mark - lease / 2) return;
      pending = t + lease;
      void writeAhead(pending);
    },
    extend(t) {
      if (mark > t) return mark; // written ahead
      mark = t + lease;
      try {
        writeMark(path, mark);
        writes++;
        if (failing) log.info({ event: 'clock.mark-written', path }, `clock mark ${path} is written again`);
        failing = false;
      } catch (err) {
        // Stopping the clock would stop the show; the mark stays ahead in memory, the next
        // lease retries, and a restart before that may reuse stamps issued since the last write.
        failures++;
        if (!failing)
          log.error(
            { event: 'clock.mark-write-failed', path, err },
            `cannot write the clock mark ${path} (${(err as Error).message}): after a restart this daemon could reuse stamps; free the disk or fix the home's permissions`,
          );
        failing = true;
      }
      return mark;
    },
    status: () => ({ floor, mark, loaded, writes, background, failures, pending: pending ?? null }),
  };
}
