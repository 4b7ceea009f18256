import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { oscMessage } from '../../protocols/osc/codec.ts';
import { eventually, startDaemon } from '../helpers/daemon.ts';
import { oscSender } from '../helpers/osc-client.ts';
import { missingTool } from '../helpers/tools.ts';

// The master controls end to end: a real daemon running its bundled example plugins, the output
// page in headless Chromium, and /master/blackout and /master/opacity sent over OSC. The plugins
// keep drawing (and the strobe keeps flashing) the whole time; the page's pixels are read back.

const CHROMIUM = '/usr/bin/chromium';
const missing = missingTool(CHROMIUM, 'chromium');
const WAIT = { timeout: 20_000 };

type Hana = {
  hanaOutput: { stats(): { index: number | null; shown: { opacity: number; blackout: boolean } } };
  document: {
    getElementById(id: string): {
      getContext(kind: '2d'): {
        getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
      };
    };
  };
};

/** The brightest channel on the whole canvas, over `frames` successive frames. */
async function brightest(page: Page, frames: number): Promise<number[]> {
  const out: number[] = [];
  let last = -1;
  while (out.length < frames) {
    await page.waitForFunction(
      (i) => (globalThis as never as Hana).hanaOutput.stats().index !== i,
      last,
      WAIT,
    );
    const r = await page.evaluate(() => {
      const g = globalThis as never as Hana;
      const d = g.document.getElementById('output').getContext('2d').getImageData(0, 0, 480, 270).data;
      let max = 0;
      for (let i = 0; i < d.length; i += 4) max = Math.max(max, d[i]!, d[i + 1]!, d[i + 2]!);
      return { max, index: g.hanaOutput.stats().index ?? -1 };
    });
    last = r.index;
    out.push(r.max);
  }
  return out;
}

describe('master opacity and blackout in a real daemon', { skip: missing }, () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
  });

  it('/master/blackout T over OSC blacks out every pixel, /master/opacity 0.5 halves them, while the plugins draw', async () => {
    const d = await startDaemon({ config: { plugins: { enabled: true } } });
    const osc = await oscSender(d.udpPort);
    const context = await browser.newContext({ viewport: { width: 480, height: 270 } });
    try {
      const page = await context.newPage();
      const out = JSON.parse((await d.cli('output', '--json')).stdout) as { url: string };
      await page.goto(out.url);
      const shown = (want: { opacity: number; blackout: boolean }) =>
        page.waitForFunction(
          (w) => {
            const s = (globalThis as never as Hana).hanaOutput.stats().shown;
            return s.opacity === w.opacity && s.blackout === w.blackout;
          },
          want,
          WAIT,
        );
      await page.waitForFunction(
        () => (globalThis as never as Hana).hanaOutput.stats().index !== null,
        null,
        WAIT,
      );
      // The examples at full master: somewhere a channel is near full brightness.
      assert.ok(
        await eventually(async () => Math.max(...(await brightest(page, 3))) > 200, 50, 100),
        'the examples draw bright pixels at full master',
      );

      await osc.send(oscMessage('/master/blackout', [{ type: 'T', value: true }]));
      await shown({ opacity: 1, blackout: true });
      assert.deepEqual(await brightest(page, 10), new Array(10).fill(0), 'ten frames, every pixel black');

      await osc.send(oscMessage('/master/opacity', [{ type: 'f', value: 0.5 }]));
      await osc.send(oscMessage('/master/blackout', [{ type: 'F', value: false }]));
      await shown({ opacity: 0.5, blackout: false });
      const half = await brightest(page, 10);
      assert.ok(Math.max(...half) <= 129, `no pixel above half brightness (${half})`);
      assert.ok(Math.max(...half) > 0, `the picture is still there (${half})`);
      assert.deepEqual(await d.values('/master/*'), {
        '/master/opacity': 0.5,
        '/master/blackout': false,
        '/master/crossfade': 0,
      });
    } finally {
      await context.close();
      osc.close();
      await d.stop();
    }
  });
});
