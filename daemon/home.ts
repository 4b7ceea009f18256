import { mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

// Where a daemon keeps its files. Many daemons run side by side with separate homes (tests,
// two performers on one machine), so nothing else is global.

export function defaultHome(): string {
  const env = process.env;
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'hana');
  if (process.platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'hana');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'hana');
}

export function resolveHome(flag: string | undefined): string {
  return flag ?? process.env.HANA_HOME ?? defaultHome();
}

export const controlSocketPath = (home: string) => join(home, 'control.sock');

/** Creates the home (0700) or checks an existing one is not writable by other users. */
export async function ensureHome(home: string): Promise<{ ok: true } | { ok: false; error: string }> {
  try {
    await mkdir(home, { recursive: true, mode: 0o700 });
    const st = await stat(home);
    if (!st.isDirectory()) return { ok: false, error: `home ${home} is not a directory` };
    if (process.platform !== 'win32' && (st.mode & 0o022) !== 0) {
      return {
        ok: false,
        error: `home ${home} is writable by other users (mode ${(st.mode & 0o777).toString(8)}): run \`chmod 700 ${home}\` or choose a private --home`,
      };
    }
    return { ok: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // mkdir says EEXIST for a file at the home's own path and ENOTDIR for a file above it.
    if (code === 'EEXIST' || code === 'ENOTDIR')
      return {
        ok: false,
        error: `home ${home} is a file or lies under one, not a directory: choose another --home (or HANA_HOME), or move that file away`,
      };
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
      return {
        ok: false,
        error: `cannot create home ${home} (${code}): choose a --home in a directory you may write to`,
      };
    return { ok: false, error: `cannot use home ${home}: ${(err as Error).message}` };
  }
}
