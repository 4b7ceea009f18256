// `npm run bench -- console`: how soon a write shows on the operator console's control, and how
// many messages a fast fader costs a page. Baseline in the same run: the write and one round
// trip to the page without waiting for the control, so the difference is the console's own
// delay (push coalescing, WebSocket, the page's next animation frame).
import { loadavg } from 'node:os';
import { chromium } from 'playwright-core';
import { control, startDaemon } from '../helpers/daemon.ts';
import { missingTool } from '../helpers/tools.ts';

const CHROMIUM = '/usr/bin/chromium';
const N = 60;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!;

export async function run(report: (line: string) => void): Promise<void> {
  const missing = missingTool(CHROMIUM, 'chromium');
  if (missing) return report(`skipped: ${missing}`);
  report(`load average ${loadavg()[0]!.toFixed(1)} at start: figures on a busy machine are noisy`);
  const d = await startDaemon();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(((await control(d, 'ui.url')) as { url: string }).url);
    const fader = page.getByLabel('/layer/1/opacity', { exact: true });
    await fader.waitFor();
    const set = (path: string, v: number) => control(d, 'set', { path, words: [String(v)] });

    const base: number[] = [];
    for (let i = 1; i <= N; i++) {
      const t0 = performance.now();
      await set('/layer/3/opacity', i / 100);
      await page.evaluate(() => 0);
      base.push(performance.now() - t0);
    }
    const shown: number[] = [];
    for (let i = 1; i <= N; i++) {
      const v = String(i / 100);
      const t0 = performance.now();
      await set('/layer/1/opacity', i / 100);
      // Polled once per animation frame in the page (the page's CSP forbids eval, so a function).
      await fader.evaluate(
        (e, x) =>
          new Promise<void>((resolve) => {
            // No DOM types in this project: the page's own requestAnimationFrame, by name.
            const raf = (globalThis as unknown as { requestAnimationFrame(cb: () => void): void })
              .requestAnimationFrame;
            const check = () => ((e as { value: string }).value === x ? resolve() : raf(check));
            check();
          }),
        v,
      );
      shown.push(performance.now() - t0);
    }
    report(
      `write + page round trip (baseline)  median ${median(base).toFixed(1)} ms, p90 ${p90(base).toFixed(1)} ms`,
    );
    report(
      `write until the page's fader shows it median ${median(shown).toFixed(1)} ms, p90 ${p90(shown).toFixed(1)} ms`,
    );

    const before = (await d.status()).console!.pushed;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 10 }, async (_, k) => {
        for (let i = 0; i < 100; i++) await set('/layer/2/hue', (k * 100 + i) % 360);
      }),
    );
    const took = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
    const pushed = (await d.status()).console!.pushed - before;
    report(
      `1000 writes in ${took.toFixed(0)} ms reached the page as ${pushed} messages (at most one per 16 ms)`,
    );
  } finally {
    await browser.close();
    await d.stop();
  }
}
