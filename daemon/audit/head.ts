import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { b64, headKey, hmac16, type Link, unb64 } from './crypto.ts';

// <home>/audit/head: the newest link of the chain, rewritten in place after every batch the
// writer appends. Records cut from the end of the newest file leave nothing behind them in the
// chain to notice their absence; the head does: it names a record that is no longer there.
// It is written after the records it names, so a crash between the two leaves it one batch
// behind (harmless), never ahead (which is what truncation looks like).

export const HEAD_FILE = 'head';
/** Written as one fixed-size block at offset 0: one write, no truncate, nothing left over. */
const HEAD_BYTES = 512;

const Head = z
  .object({
    seq: z.number().int().min(0),
    mac: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
    file: z.string().max(255),
    time: z.string().max(64),
  })
  .strict();
export type HeadState = { link: Link; file: string; time: string };

export type ReadHead = { ok: true; head: HeadState | undefined } | { ok: false; error: string };

export async function readHead(dir: string, secret: Uint8Array): Promise<ReadHead> {
  const path = join(dir, HEAD_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, head: undefined };
    return { ok: false, error: `cannot read ${path}: ${(err as Error).message}` };
  }
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})\n/.exec(text);
  const json = m ? Buffer.from(m[1]!, 'base64url').toString('utf8') : '';
  if (!m || b64(hmac16(headKey(secret), json)) !== m[2]) {
    return { ok: false, error: `${path} does not authenticate with this home's audit key` };
  }
  try {
    const h = Head.parse(JSON.parse(json));
    return { ok: true, head: { link: { seq: h.seq, mac: unb64(h.mac) }, file: h.file, time: h.time } };
  } catch {
    return { ok: false, error: `${path} authenticates but is not a hana audit head` };
  }
}

export type HeadWriter = { write(h: HeadState): Promise<void>; close(): Promise<void> };

export async function openHeadWriter(dir: string, secret: Uint8Array): Promise<HeadWriter> {
  const key = headKey(secret);
  const fh = await open(join(dir, HEAD_FILE), 'a+', 0o600).then(async (a) => {
    // 'a+' creates without truncating; positional writes need a handle that is not append-only.
    await a.close();
    return open(join(dir, HEAD_FILE), 'r+');
  });
  const block = Buffer.alloc(HEAD_BYTES, 0x20);
  return {
    async write(h) {
      const json = JSON.stringify({ seq: h.link.seq, mac: b64(h.link.mac), file: h.file, time: h.time });
      const line = `${Buffer.from(json).toString('base64url')}.${b64(hmac16(key, json))}\n`;
      block.fill(0x20);
      block.write(line, 0, 'utf8');
      await fh.write(block, 0, HEAD_BYTES, 0);
    },
    async close() {
      await fh.sync().catch(() => {});
      await fh.close();
    },
  };
}
