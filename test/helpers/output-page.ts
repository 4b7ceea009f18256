import { type Browser, chromium, type Page } from 'playwright-core';
import { securityLogger } from '../../daemon/log.ts';
import { type OutputServer, startOutputServer } from '../../daemon/output/server.ts';
import { captureLogger } from './log-capture.ts';

// One output server and one page showing it in headless Chromium, for the page tests that feed
// frames themselves (mixer, ISF). Callers skip when Chromium is missing (tools.ts).

export const CHROMIUM = '/usr/bin/chromium';

export type OutputPage = { browser: Browser; server: OutputServer; page: Page; close(): Promise<void> };

export async function openOutputPage(
  viewport: { width: number; height: number },
  onPageMessage?: (text: string) => void,
): Promise<OutputPage> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const { log } = captureLogger();
  const server = await startOutputServer({
    bind: '127.0.0.1',
    port: 0,
    log,
    security: securityLogger(log),
    ...(onPageMessage && { onPageMessage }),
  });
  const page = await (await browser.newContext({ viewport })).newPage();
  await page.goto(server.url);
  await page.waitForFunction(
    () =>
      (globalThis as never as { hanaOutput?: { stats(): { connected: boolean } } }).hanaOutput?.stats()
        .connected === true,
    null,
    { timeout: 15_000 },
  );
  return {
    browser,
    server,
    page,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
