import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { startDaemon } from '../helpers/daemon.ts';
import { missingTool } from '../helpers/tools.ts';

// A projector's page survives a daemon restart: the token is kept in the home, so the page left
// open reconnects to the new daemon by itself and draws its frames, without a reload. Then
// `hana output --new-token` cuts it off for good, and the new address works.

const CHROMIUM = '/usr/bin/chromium';
const missing = missingTool(CHROMIUM, 'chromium');
const WAIT = { timeout: 30_000 };

type Stats = { connected: boolean; connects: number; received: number; index: number | null };
type Hana = { hanaOutput: { stats(): Stats } };

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('the output page across a daemon restart', { skip: missing }, () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
  });

  it('reconnects to the restarted daemon and draws its frames without a reload; --new-token cuts it off', async () => {
    const port = await freePort();
    const config = { plugins: { enabled: true }, output: { port } };
    const first = await startDaemon({ config });
    let second: Awaited<ReturnType<typeof startDaemon>> | undefined;
    const context = await browser.newContext({ viewport: { width: 320, height: 180 } });
    try {
      const page = await context.newPage();
      const url = (JSON.parse((await first.cli('output', '--json')).stdout) as { url: string }).url;
      await page.goto(url);
      const stats = () => page.evaluate(() => (globalThis as never as Hana).hanaOutput.stats());
      await page.waitForFunction(
        () => (globalThis as never as Hana).hanaOutput.stats().received > 5,
        null,
        WAIT,
      );
      let loads = 0;
      page.on('load', () => loads++);

      await first.stop('SIGTERM', { keepHome: true });
      await page.waitForFunction(
        () => !(globalThis as never as Hana).hanaOutput.stats().connected,
        null,
        WAIT,
      );
      const down = await stats();

      second = await startDaemon({ config, home: first.home });
      const again = JSON.parse((await second.cli('output', '--json')).stdout) as {
        url: string;
        port: number;
      };
      assert.equal(again.url, url, 'the same address after the restart');
      await page.waitForFunction(
        (n) => {
          const s = (globalThis as never as Hana).hanaOutput.stats();
          return s.connected && s.received > n + 5;
        },
        down.received,
        WAIT,
      );
      const up = await stats();
      assert.ok(up.connects >= 2, `reconnected (${up.connects} connections)`);
      assert.equal(loads, 0, 'no reload');

      const rotated = await second.cli('output', '--new-token', '--json');
      assert.equal(rotated.code, 0, rotated.stderr);
      const fresh = (JSON.parse(rotated.stdout) as { url: string }).url;
      assert.notEqual(fresh, url);
      await page.waitForFunction(
        () => !(globalThis as never as Hana).hanaOutput.stats().connected,
        null,
        WAIT,
      );
      assert.equal((await fetch(url)).status, 403, 'the old address is refused');
      assert.equal((await fetch(fresh)).status, 200, 'the new one works');
      // The page with the old token keeps being refused: it stays disconnected.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await stats()).connected, false);
    } finally {
      await context.close();
      await second?.stop();
      await first.stop();
    }
  });
});
