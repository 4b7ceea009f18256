import { open } from 'node:fs/promises';
import { type Link, type OpenedHeader, openHeader, openRecord, parseRecordLine, tagOf } from './crypto.ts';

// Reading a sealed audit file: its header (the first line, at most a few KiB), its tail (for
// `hana audit` and for where the chain stopped), or all of it (for --verify).

const HEADER_MAX = 4096;

export type Lines = { lines: string[]; torn: boolean; cut: boolean };

/** Up to `max` bytes from the end of a file; undefined if it cannot be read (pruned meanwhile). */
export async function readTail(
  path: string,
  max: number,
): Promise<{ text: string; cut: boolean } | undefined> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'r');
    const { size } = await fh.stat();
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return { text: buf.toString('utf8'), cut: len < size };
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

/** Complete lines of a text; a last line without its newline is torn (a crash mid-write). */
export function splitLines(text: string, cut: boolean): Lines {
  const lines = text.split('\n');
  const last = lines.pop()!;
  if (cut) lines.shift(); // starts mid-line
  return { lines, torn: last !== '', cut };
}

export async function readHeader(path: string, secret: Uint8Array): Promise<OpenedHeader | undefined> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'r');
    const buf = Buffer.alloc(HEADER_MAX);
    const { bytesRead } = await fh.read(buf, 0, HEADER_MAX, 0);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    const nl = text.indexOf('\n');
    return openHeader(secret, nl < 0 ? text : text.slice(0, nl));
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

export type LastRecord = { link: Link; time: string; index: number };

/**
 * The newest record of a file that authenticates, with its place in the chain; undefined when
 * the file has none (or is not this home's). Reads the header and the last 64 KiB.
 */
export async function lastRecord(path: string, secret: Uint8Array): Promise<LastRecord | undefined> {
  const h = await readHeader(path, secret);
  if (!h?.ok) return undefined;
  const tail = await readTail(path, 64 * 1024);
  if (!tail) return undefined;
  const { lines } = splitLines(tail.text, tail.cut);
  for (let i = lines.length - 1; i >= 0; i--) {
    const r = parseRecordLine(lines[i]!);
    const json = r && openRecord(h.keys, r);
    if (!r || json === undefined) continue;
    let time = '';
    try {
      time = String((JSON.parse(json) as { time?: unknown }).time ?? '');
    } catch {}
    return { link: { seq: r.seq, mac: new Uint8Array(tagOf(r)) }, time, index: i };
  }
  return undefined;
}

/** A sealed file's newest record time, for pruning by age. */
export async function lastSealedTime(path: string, secret: Uint8Array): Promise<number | undefined> {
  const r = await lastRecord(path, secret);
  const t = r ? Date.parse(r.time) : Number.NaN;
  return Number.isFinite(t) ? t : undefined;
}
