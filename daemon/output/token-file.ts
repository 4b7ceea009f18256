import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../trust-store/secure-file.ts';
import type { Logger } from '../log.ts';
import { newToken } from './guard.ts';

// The output page's token, kept in the home so the page's address survives a restart: a page
// left open on the projector reconnects to the restarted daemon by itself instead of freezing on
// its last frame. It is a capability (whoever has it may watch the output), so the file is 0600
// and `hana output --new-token` replaces it. A file that is unreadable as a token, or readable by
// others, is replaced with a new token (and said so): a fresh random token is never less safe.

export const TOKEN_FILE = 'output-token';
const TOKEN = /^[A-Za-z0-9_-]{22,128}$/;

/** The home's token, made on first use. The console keeps its own the same way (`file`). */
export async function loadOrCreateToken(home: string, security: Logger, file = TOKEN_FILE): Promise<string> {
  const path = join(home, file);
  // Events name whose token it is: output.token-exposed, console.token-exposed.
  const owner = file === TOKEN_FILE ? 'output' : file.replace(/-token$/, '');
  let text: string | undefined;
  try {
    const s = await stat(path);
    if ((s.mode & 0o077) !== 0) {
      security.warn(
        { event: `${owner}.token-exposed`, file: path, mode: (s.mode & 0o777).toString(8) },
        `${path} was readable by other users: it gets a new token`,
      );
    } else {
      text = (await readFile(path, 'utf8')).trim();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined && TOKEN.test(text)) return text;
  if (text !== undefined)
    security.warn(
      { event: `${owner}.token-invalid`, file: path },
      `${path} does not hold a token: it gets a new one`,
    );
  return rotateToken(home, file);
}

/** A new random token, saved (0600) before it is returned. */
export async function rotateToken(home: string, file = TOKEN_FILE): Promise<string> {
  const token = newToken();
  await writeFileAtomic(join(home, file), `${token}\n`, 0o600);
  return token;
}
