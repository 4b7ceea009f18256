import type { Page } from 'playwright-core';
import { launchChromiumIn, type NetnsChromium } from '../helpers/chromium-netns.ts';
import { control, type TestDaemon } from '../helpers/daemon.ts';
import type { PageSample } from './sample.ts';

// The soak's projectors: one headless Chromium inside each laptop's namespace showing that
// laptop's output page for the whole run, so the drawing plugins run (without a page they are
// paused, docs/plugins.md "idle"). A page is opened once and never reloaded: after its daemon's
// SIGKILL and restart it must reconnect by itself (same port, same token from the home).

/** A page's viewport: small, so three SwiftShader pages fit beside three daemons on two cores. */
export const VIEWPORT = { width: 320, height: 180 };
const OPEN_MS = 60_000;
const ASK_MS = 5_000;
const POLL_MS = 250;

type Hana = { hanaOutput: { stats(): PageSample & Record<string, unknown> } };

export type SoakPages = {
  /** The page's own stats; undefined when it did not answer within a few seconds. */
  stats(laptop: number): Promise<PageSample | undefined>;
  /**
   * Waits up to `ms` for laptop's page to be connected on a connection after `connectsBefore`;
   * returns how long that took, in seconds, or undefined when it did not.
   */
  reconnected(laptop: number, connectsBefore: number, ms: number): Promise<number | undefined>;
  /** Each browser's PID (its process group), for the start line. */
  readonly pids: number[];
  /** Closes every browser and kills what is left of it by PID; safe to call twice. */
  close(): Promise<void>;
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function ask(page: Page): Promise<PageSample | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), ASK_MS);
  });
  const read = page
    .evaluate(() => {
      const s = (globalThis as never as Hana).hanaOutput.stats();
      return { connected: s.connected, connects: s.connects, received: s.received, fps: s.fps };
    })
    .catch(() => undefined);
  try {
    return await Promise.race([read, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens each daemon's output page in a Chromium inside namespaces[i]; waits for its first frames. */
export async function openSoakPages(
  daemons: readonly TestDaemon[],
  namespaces: readonly string[],
): Promise<SoakPages> {
  const browsers: NetnsChromium[] = [];
  const pages: Page[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(browsers.map((b) => b.close()));
  };
  try {
    for (const [i, d] of daemons.entries()) {
      // The soak handles Ctrl-C itself and closes the browsers; Playwright's own handler would
      // exit the process before the namespaces are deleted.
      const b = await launchChromiumIn(namespaces[i]!, {
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
      });
      browsers.push(b);
      const page = await (await b.browser.newContext({ viewport: VIEWPORT })).newPage();
      const { url } = (await control(d, 'output.url')) as { url: string };
      await page.goto(url, { timeout: OPEN_MS });
      await page.waitForFunction(() => (globalThis as never as Hana).hanaOutput.stats().received > 0, null, {
        timeout: OPEN_MS,
      });
      pages.push(page);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    stats: (i) => ask(pages[i]!),
    async reconnected(i, connectsBefore, ms) {
      const t0 = Date.now();
      while (Date.now() - t0 < ms) {
        const s = await ask(pages[i]!);
        if (s?.connected && s.connects > connectsBefore) return (Date.now() - t0) / 1000;
        await sleep(POLL_MS);
      }
      return undefined;
    },
    pids: browsers.map((b) => b.pid),
    close,
  };
}
