import {
  closeSync,
  constants,
  fchmodSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  openSync,
  readdirSync,
  unlink,
  unlinkSync,
  write,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { processAlive } from '../../trust-store/stale-temps.ts';
import type { Logger } from '../log.ts';
import {
  CLOCK_MARK_FILE,
  encodeSlot,
  highestMark,
  LEGACY_MARK_FILE,
  openRegular,
  readLegacyMark,
  readMarkFile,
  SLOT_BYTES,
  SLOT_STRIDE,
  SLOTS,
  type SlotContent,
} from './clock-mark-file.ts';
import type { HlcMark } from './hlc.ts';

// The clock's high-water mark, kept as a lease in <home>/clock.mark. Before the HLC issues a
// stamp at or past the persisted mark it makes a new mark (t + lease) durable, synchronously,
// so a daemon that restarts (even with `storage.persist: false`, even after its wall clock
// stepped back) starts above every stamp it ever issued: a reissued stamp with other values
// would be equivocation to every peer. One small fdatasync'd write per half lease, at most
// (the file's layout and why: clock-mark-file.ts).
//
// That write is made ahead, in the background, once stamps pass half the lease: a synchronous
// fsync on the stamp path stalled ingest once a second (1-50 ms on a laptop disk). The
// synchronous write stays as the fallback when the disk is slower than half a lease.
//
// The lease is a quarter of sync.maxDriftMs (at most 1 s): right after a restart this
// daemon's stamps can be up to one lease ahead of its wall clock, and that must leave room
// under the peers' drift bound for the laptops' real clock offsets (hana peers warns at 75 %).

export { CLOCK_MARK_FILE, LEGACY_MARK_FILE } from './clock-mark-file.ts';

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

export type ClockMark = HlcMark & {
  ahead(t: number): void;
  status(): ClockMarkStatus;
  /** After the last stamp: waits for a write ahead under way, then closes the file. */
  close(): Promise<void>;
};

export type ClockMarkInit = {
  home: string;
  maxDriftMs: number;
  log: Logger;
  /** Wall clock, to warn when the mark is far ahead of it; injected in tests. */
  now?: () => number;
  /** The identity was created by this start: no stamp of ours exists, so no file is expected. */
  firstStart?: boolean;
  /**
   * The write ahead's two requests (default node:fs `write` and `fdatasync`): a test holds them
   * back to see which slot a synchronous write takes while one is under way.
   */
  aheadIo?: { write: typeof write; fdatasync: typeof fdatasync };
};

const TEMP = /^clock\.json\.(\d+)(\.ahead)?\.tmp$/;

/**
 * A daemon of the renamed-file days (LEGACY_MARK_FILE) killed while writing its mark left its
 * temp file; the mark itself was whole either way. Removed when its writer is gone.
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
  const legacyPath = join(init.home, LEGACY_MARK_FILE);
  removeDeadTemps(init.home);
  const now = init.now ?? Date.now;
  const lease = leaseFor(init.maxDriftMs);
  const { log } = init;
  const io = init.aheadIo ?? { write, fdatasync };

  // The slots as this process knows them on disk: what it read at open, then what it wrote.
  const slots: (SlotContent | undefined)[] = Array.from({ length: SLOTS }, () => undefined);
  const file = readMarkFile(path);
  const legacy = readLegacyMark(legacyPath);
  const damaged: string[] = [];
  if (file.exists && 'slots' in file)
    file.slots.forEach((s, i) => {
      if (s.ok) slots[i] = s.slot;
      else if (!s.empty) damaged.push(`slot ${i + 1}: ${s.reason}`);
    });
  const fromSlots = highestMark(file) ?? -1;
  // Created at a start that then wrote nothing: no stamp was issued under it.
  const never = file.exists && 'slots' in file && file.slots.every((x) => !x.ok && x.empty);
  const fileTrouble = file.exists && 'error' in file ? file.error : damaged.join('; ') || undefined;
  let loaded: ClockMarkStatus['loaded'] = 'ok';
  let floor = 0;
  let reason: string | undefined;
  let shown = path;
  if (fromSlots >= 0) floor = Math.max(fromSlots, legacy.ok ? legacy.mark : 0);
  else if (legacy.ok) {
    floor = legacy.mark;
    if (fileTrouble)
      log.warn(
        { event: 'clock.mark-unreadable', path, reason: fileTrouble },
        `clock mark ${path} is unreadable (${fileTrouble}): the mark is taken from ${legacyPath}, and ${path} is written again with the next stamp`,
      );
  } else if (file.exists && !never) {
    loaded = 'unreadable';
    reason = fileTrouble;
  } else if (!legacy.missing) {
    loaded = 'unreadable';
    reason = legacy.reason;
    shown = legacyPath;
  } else loaded = 'missing';

  if (loaded !== 'ok') {
    const event = `clock.mark-${loaded}`;
    if (loaded === 'missing' && init.firstStart)
      log.info({ event, path }, `no clock mark yet in ${path}: a new identity`);
    else
      log.warn(
        { event, path: shown, ...(reason !== undefined && { reason }) },
        `${loaded === 'missing' ? `no clock mark in ${path}` : `clock mark ${shown} is unreadable (${reason})`}: stamps start from wall time, and if this laptop's clock stepped back since the last run peers may see stamps reused; the mark is rewritten with the next stamp`,
      );
  } else if (fromSlots >= 0 && damaged.length > 0)
    // A write cut short (a crash, a power cut) spoils its own slot and no other.
    log.warn(
      { event: 'clock.mark-slot-damaged', path, reason: damaged.join('; ') },
      `clock mark ${path} has a damaged copy (${damaged.join('; ')}), as a write cut short leaves; the mark is taken from the whole ones and the damaged copy is rewritten`,
    );
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
  let seq = slots.reduce((m, s) => (s && s.seq >= m ? s.seq + 1 : m), 0);
  let fd: number | undefined;
  /** The slot a write ahead is overwriting, -1 if none; and that write, for close(). */
  let inflight = -1;
  let flight: Promise<void> | undefined;
  // Removed once this file holds a mark above it (any durable write does): until then it is a floor.
  let legacyLeft = !(!legacy.ok && legacy.missing);

  const syncDir = () => {
    const dir = openSync(init.home, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  };

  /**
   * The file, opened at start or, after a failed open, at the next write. Before any write of
   * ours: its data is synced (slots read at open may be a SIGKILLed run's page cache, not yet on
   * disk, and must not be trusted as the durable top before they are) and so is the directory
   * (the file's name, whoever created it). A new file is 0600.
   */
  function fdNow(): number {
    if (fd !== undefined) {
      // Deleted or replaced while we run (by hand, by a restore): an inode no name reaches keeps
      // no mark for the next start. The name is opened again and written; what it holds now is
      // no copy of ours.
      if (fstatSync(fd).nlink > 0) return fd;
      closeSync(fd);
      fd = undefined;
      slots.fill(undefined);
      log.warn(
        { event: 'clock.mark-replaced', path },
        `clock mark ${path} was deleted or replaced while the daemon ran: it is written again now`,
      );
    }
    const f = openRegular(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      fchmodSync(f, 0o600);
      fdatasyncSync(f);
      syncDir();
    } catch (err) {
      closeSync(f);
      throw err;
    }
    fd = f;
    return f;
  }

  /** Never the slot with the highest durable mark, nor one being written: of the rest, the oldest. */
  function pick(): number {
    let top = -1;
    for (let i = 0; i < SLOTS; i++) if (slots[i] && (top < 0 || slots[i]!.mark > slots[top]!.mark)) top = i;
    let best = -1;
    for (let i = 0; i < SLOTS; i++) {
      if (i === top || i === inflight) continue;
      if (best < 0 || (slots[i]?.seq ?? -1) < (slots[best]?.seq ?? -1)) best = i;
    }
    return best;
  }

  const dropLegacy = () => {
    if (!legacyLeft) return;
    legacyLeft = false;
    unlink(legacyPath, () => {});
  };

  function writeNow(target: number): void {
    const f = fdNow();
    const i = pick();
    const s = { seq: seq++, mark: target };
    slots[i] = undefined; // unknown until the write is durable
    const n = writeSync(f, encodeSlot(s), 0, SLOT_BYTES, i * SLOT_STRIDE);
    if (n !== SLOT_BYTES) throw new Error(`short write to ${path}: ${n} of ${SLOT_BYTES} bytes`);
    fdatasyncSync(f);
    slots[i] = s;
    dropLegacy();
  }

  /** writeNow off the event loop: two requests, and `mark` rises only once the data is synced. */
  function writeAhead(target: number): void {
    let f: number;
    try {
      f = fdNow();
    } catch (err) {
      pending = undefined;
      // The synchronous write at the lease retries, and logs if it fails too.
      log.debug({ event: 'clock.mark-ahead-failed', path, err }, 'could not write the clock mark ahead');
      return;
    }
    const i = pick();
    const s = { seq: seq++, mark: target };
    slots[i] = undefined;
    inflight = i;
    flight = new Promise<void>((done) => {
      const finish = (err: Error | null) => {
        inflight = -1;
        pending = undefined;
        flight = undefined;
        if (err)
          log.debug({ event: 'clock.mark-ahead-failed', path, err }, 'could not write the clock mark ahead');
        else {
          slots[i] = s;
          dropLegacy();
          // Overtaken by a synchronous write: on disk, below the top slot, and not counted.
          if (target > mark) {
            mark = target;
            writes++;
            background++;
          }
        }
        done();
      };
      io.write(f, encodeSlot(s), 0, SLOT_BYTES, i * SLOT_STRIDE, (err, n) => {
        if (err) return finish(err);
        if (n !== SLOT_BYTES) return finish(new Error(`short write to ${path}: ${n} of ${SLOT_BYTES} bytes`));
        io.fdatasync(f, (e) => finish(e));
      });
    });
  }

  try {
    fdNow();
  } catch {
    // Said by the first write that needs it (extend), once per failing streak.
  }

  return {
    floor,
    ahead(t) {
      if (pending !== undefined || failing || t < mark - lease / 2) return;
      pending = t + lease;
      writeAhead(pending);
    },
    extend(t) {
      if (mark > t) return mark; // written ahead
      mark = t + lease;
      try {
        writeNow(mark);
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
    async close() {
      await flight;
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
