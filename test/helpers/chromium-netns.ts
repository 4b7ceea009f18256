import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type LaunchOptions } from 'playwright-core';
import { CHROMIUM } from './output-page.ts';

// Headless Chromium inside a network namespace, where a daemon's output page is served on that
// namespace's loopback only. Used by the phase laptops (phase-laptops.ts) and the soak's pages
// (test/soak/pages.ts).

export type NetnsChromium = {
  browser: Browser;
  /** The browser's PID, which leads its process group (Playwright starts it detached). */
  pid: number;
  /** Closes the browser, then kills its process group by PID if anything of it is left. */
  close(): Promise<void>;
};

const CLOSE_MS = 10_000;

/**
 * Headless Chromium inside network namespace `ns`. Playwright runs the executable it is given
 * and talks to it over inherited pipes; the wrapper writes its own PID and `ip netns exec` keeps
 * the pipes and execs Chromium, so that PID is Chromium's own and closing the browser ends it.
 * `launch` adds Playwright options, e.g. `handleSIGINT: false` for a caller with its own Ctrl-C.
 */
export async function launchChromiumIn(ns: string, launch: LaunchOptions = {}): Promise<NetnsChromium> {
  const dir = await mkdtemp(join(tmpdir(), 'hana-chromium-'));
  const wrapper = join(dir, 'chromium');
  const pidFile = join(dir, 'pid');
  await writeFile(
    wrapper,
    `#!/bin/sh\necho $$ > '${pidFile}'\nexec ip netns exec '${ns}' ${CHROMIUM} "$@"\n`,
  );
  await chmod(wrapper, 0o700);
  let pid = 0;
  const killGroup = () => {
    try {
      if (pid > 0) process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone: what close() wants.
    }
  };
  try {
    const browser = await chromium.launch({
      executablePath: wrapper,
      args: ['--no-sandbox'],
      timeout: 60_000,
      ...launch,
    });
    pid = Number(await readFile(pidFile, 'utf8'));
    return {
      browser,
      pid,
      async close() {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          browser.close().catch(() => {}),
          new Promise<void>((r) => {
            timer = setTimeout(r, CLOSE_MS);
          }),
        ]);
        clearTimeout(timer);
        killGroup();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    // A launch that timed out may still have started the browser.
    pid ||= Number(await readFile(pidFile, 'utf8').catch(() => '0'));
    killGroup();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
