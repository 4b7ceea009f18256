import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { z } from 'zod';

// The clock mark's file: three copies of the mark ("slots"), each a JSON line with a sequence
// number and a CRC, each in a 4 KiB page of its own. A write overwrites one slot in place and
// fdatasyncs: one system call to the disk a lease, where a temp file, its fsync, a rename and
// the directory's fsync took two fsyncs and eight requests of the event loop (about 0.6 ms of
// the daemon's main thread each, four times a second while stamps advance: issue 18). A write
// never touches the slot holding the highest mark made durable, nor the slot of a write still
// under way, so a write cut short by a crash spoils at most its own slot, and the reader takes
// the highest mark among the whole ones.

export const CLOCK_MARK_FILE = 'clock.mark';
/** What hana wrote before the slots: one JSON mark, replaced by rename. Read as a floor, then removed. */
export const LEGACY_MARK_FILE = 'clock.json';
export const SLOTS = 3;
/** A page each: a torn page write spoils one slot, not two. */
export const SLOT_STRIDE = 4096;
export const SLOT_BYTES = 128;

export type SlotContent = { seq: number; mark: number };

const Safe = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const SlotJson = z
  .object({ v: z.literal(2), seq: Safe, mark: Safe, crc: z.number().int().min(0).max(0xffff_ffff) })
  .strict();
const LegacyJson = z
  .object({ version: z.literal(1), mark: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) })
  .strict();

const check = (s: SlotContent) => crc32(`${s.seq}:${s.mark}`);

export function encodeSlot(s: SlotContent): Buffer {
  const buf = Buffer.alloc(SLOT_BYTES, 0x20);
  buf.write(JSON.stringify({ v: 2, seq: s.seq, mark: s.mark, crc: check(s) }), 0, 'utf8');
  buf[SLOT_BYTES - 1] = 0x0a;
  return buf;
}

export type SlotRead = { ok: true; slot: SlotContent } | { ok: false; empty: boolean; reason: string };

const issues = (e: z.ZodError, whole: string) =>
  e.issues.map((i) => `${i.path.join('.') || whole}: ${i.message}`).join('; ');

/** JSON checked against `schema`, or why not, in one line ("mark: Invalid input: ..."). */
function parseAs<T>(
  text: string,
  schema: z.ZodType<T>,
  whole: string,
): { ok: true; data: T } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON (${(err as Error).message})` };
  }
  const parsed = schema.safeParse(json);
  return parsed.success
    ? { ok: true, data: parsed.data }
    : { ok: false, reason: issues(parsed.error, whole) };
}

export function decodeSlot(bytes: Uint8Array): SlotRead {
  // Never written (a hole of the sparse file, or past its end): no mark, not damage.
  if (bytes.every((b) => b === 0)) return { ok: false, empty: true, reason: 'never written' };
  const text = Buffer.from(bytes)
    .toString('utf8')
    .replace(/[\s\0]+$/, '');
  const parsed = parseAs(text, SlotJson, 'slot');
  if (!parsed.ok) return { ok: false, empty: false, reason: parsed.reason };
  const { seq, mark, crc } = parsed.data;
  if (crc !== check({ seq, mark })) return { ok: false, empty: false, reason: 'checksum mismatch' };
  return { ok: true, slot: { seq, mark } };
}

/**
 * Opens `path` (`flags` from fs.constants) only if it is a regular file: a FIFO in its place
 * would hang the start, a symlink would read and write someone else's file.
 */
export function openRegular(path: string, flags = constants.O_RDONLY, mode?: number): number {
  const fd = openSync(path, flags | constants.O_NONBLOCK | constants.O_NOFOLLOW, mode);
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`${path} is not a regular file`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

export type MarkFileRead =
  | { exists: false }
  | { exists: true; slots: SlotRead[] }
  | { exists: true; error: string };

/** Each slot read on its own, so an unreadable page costs that slot only. */
export function readMarkFile(path: string): MarkFileRead {
  let fd: number;
  try {
    fd = openRegular(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? { exists: false } : { exists: true, error: e.message };
  }
  try {
    const slots: SlotRead[] = [];
    for (let i = 0; i < SLOTS; i++) {
      const buf = Buffer.alloc(SLOT_BYTES);
      try {
        readSync(fd, buf, 0, SLOT_BYTES, i * SLOT_STRIDE);
        slots.push(decodeSlot(buf));
      } catch (err) {
        slots.push({ ok: false, empty: false, reason: (err as Error).message });
      }
    }
    return { exists: true, slots };
  } finally {
    closeSync(fd);
  }
}

/** The highest whole mark in the file, if any: what a restart starts above. */
export function highestMark(read: MarkFileRead): number | undefined {
  if (!read.exists || 'error' in read) return undefined;
  let best: number | undefined;
  for (const s of read.slots) if (s.ok && (best === undefined || s.slot.mark > best)) best = s.slot.mark;
  return best;
}

export type LegacyRead = { ok: true; mark: number } | { ok: false; missing: boolean; reason: string };

export function readLegacyMark(path: string): LegacyRead {
  let text: string;
  try {
    const fd = openRegular(path);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, missing: e.code === 'ENOENT', reason: e.message };
  }
  const parsed = parseAs(text, LegacyJson, 'file');
  return parsed.ok
    ? { ok: true, mark: parsed.data.mark }
    : { ok: false, missing: false, reason: parsed.reason };
}
