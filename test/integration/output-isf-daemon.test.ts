import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { control, eventually, startDaemon } from '../helpers/daemon.ts';
import { missingTool } from '../helpers/tools.ts';

// The bundled ISF examples in a real daemon, drawn by the output page in headless Chromium:
// crossfaded to deck B with the plasma's channel up and tinted red, every pixel is red only; with
// the tint black, black (so nothing else draws over the show: the LFO's old scope and printed
// value are gone from the default demo). Then the plasma's shader loses the page's WebGL context three times
// (WEBGL_lose_context, as a GPU reset of a runaway shader does): the daemon quarantines it from
// the page's reports, and the rings on channel 4 keep drawing.

const CHROMIUM = '/usr/bin/chromium';
const missing = missingTool(CHROMIUM, 'chromium');
const WAIT = { timeout: 30_000 };
const PLASMA = 'hana.examples.isf-plasma';

type Hana = {
  hanaOutput: {
    stats(): {
      index: number | null;
      mix: { crossfade: number };
      isf: { plugins: string[]; restores: number; drawn: number };
    };
    loseShaderContext(id: string): void;
  };
  document: {
    getElementById(id: string): {
      getContext(kind: '2d'): {
        getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
      };
    };
  };
};

describe('ISF example plugins in a real daemon', { skip: missing }, () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
  });

  it('draws the plasma by its inputs on deck B, and quarantines it after three context losses while the rings draw on', async () => {
    const d = await startDaemon({ config: { plugins: { enabled: true } } });
    const context = await browser.newContext({ viewport: { width: 320, height: 180 } });
    try {
      const page = await context.newPage();
      const out = JSON.parse((await d.cli('output', '--json')).stdout) as { url: string };
      await page.goto(out.url);
      await page.waitForFunction(
        (id) => (globalThis as never as Hana).hanaOutput.stats().isf.plugins.includes(id),
        PLASMA,
        WAIT,
      );
      /** Channels summed over the canvas, read a few frames after the settings arrived. */
      const sums = async () => {
        const first = await page.evaluate(() => (globalThis as never as Hana).hanaOutput.stats().index ?? 0);
        await page.waitForFunction(
          (i) => ((globalThis as never as Hana).hanaOutput.stats().index ?? 0) > i + 3,
          first,
          WAIT,
        );
        return page.evaluate(() => {
          const d = (globalThis as never as Hana).document
            .getElementById('output')
            .getContext('2d')
            .getImageData(0, 0, 320, 180).data;
          const s = [0, 0, 0];
          for (let i = 0; i < d.length; i += 4) for (let c = 0; c < 3; c++) s[c]! += d[i + c]!;
          return s;
        });
      };
      const set = async (values: Record<string, string>) => {
        for (const [path, value] of Object.entries(values))
          assert.equal((await d.cli('set', path, value)).code, 0);
      };
      await set({
        '/layer/1/opacity': '0',
        '/layer/3/opacity': '1',
        '/layer/3/color': '#ff0000',
        '/master/crossfade': '1',
      });
      await page.waitForFunction(
        () => (globalThis as never as Hana).hanaOutput.stats().mix.crossfade === 1,
        null,
        WAIT,
      );
      const red = await sums();
      assert.ok(red[0]! > 320 * 180 * 20, `the plasma draws red (${red})`);
      assert.deepEqual([red[1], red[2]], [0, 0], `and only red: tint #ff0000 (${red})`);
      await set({ '/layer/3/color': '#000000' });
      assert.ok(
        await eventually(async () => (await sums()).every((c) => c === 0), 20, 100),
        'tint black: black',
      );

      // The rings (channel 4) up as well, tinted blue and added over the plasma.
      await set({
        '/layer/3/color': '#ff0000',
        '/layer/4/opacity': '1',
        '/layer/4/color': '#0000ff',
        '/layer/4/blend': 'add',
      });
      assert.ok(await eventually(async () => (await sums())[2]! > 0, 20, 100), 'the rings draw blue');

      for (let n = 1; n <= 3; n++) {
        await page.evaluate((id) => (globalThis as never as Hana).hanaOutput.loseShaderContext(id), PLASMA);
        await page.waitForFunction(
          (n) => (globalThis as never as Hana).hanaOutput.stats().isf.restores >= n,
          n,
          WAIT,
        );
        if (n === 2) {
          // Not quarantined yet: `hana status` counts its shader faults (control socket).
          const faults = async () => {
            const s = (await control(d, 'status')) as {
              plugins: { plugins: { id: string; shaderFaults?: number }[] };
            };
            return s.plugins.plugins.find((p) => p.id === PLASMA)?.shaderFaults;
          };
          assert.ok(await eventually(async () => (await faults()) === 2, 50, 100), `${await faults()}`);
        }
      }
      assert.ok(
        await eventually(
          async () => {
            const rows = JSON.parse((await d.cli('plugin', 'list', '--json')).stdout) as Array<{
              id: string;
              quarantined?: unknown;
            }>;
            return rows.some((r) => r.id === PLASMA && r.quarantined);
          },
          50,
          100,
        ),
        'the daemon quarantined the plasma',
      );
      // Gone from the page's table; the rings still draw, and nothing red is left.
      await page.waitForFunction(
        (id) => !(globalThis as never as Hana).hanaOutput.stats().isf.plugins.includes(id),
        PLASMA,
        WAIT,
      );
      let last: number[] = [];
      assert.ok(
        await eventually(
          async () => {
            last = await sums();
            return last[0] === 0 && last[2]! > 0;
          },
          20,
          100,
        ),
        `the rings draw on without the plasma (${last}, ${JSON.stringify(await page.evaluate(() => (globalThis as never as Hana).hanaOutput.stats().isf))})`,
      );
      assert.ok(d.logs.some((l) => l.event === 'plugin.shader-fault' && l.kind === 'context-lost'));
      // `hana status --json`, through the control socket: each ISF plugin's shader faults, and
      // every plugin's frame rate and CPU a frame.
      type Row = { id: string; fps: number; cpuMs: number; overruns: number; shaderFaults?: number };
      const readRows = async () =>
        new Map(
          ((await control(d, 'status')) as { plugins: { plugins: Row[] } }).plugins.plugins.map((p) => [
            p.id,
            p,
          ]),
        );
      // fps is a one-second reading (engine.ts), 0 until a second of drawing has been measured:
      // on a fast run this point comes before that, so wait for it, bounded.
      let rows = await readRows();
      await eventually(
        async () => {
          rows = await readRows();
          return (rows.get('hana.examples.geometry')?.fps ?? 0) > 0;
        },
        50,
        200,
      );
      assert.equal(rows.get('hana.examples.isf-rings')?.shaderFaults, 0);
      assert.equal(
        rows.get('hana.examples.lfo')?.shaderFaults,
        undefined,
        'a plugin without shaders has no count',
      );
      const geometry = rows.get('hana.examples.geometry')!;
      assert.ok(geometry.fps > 0 && geometry.cpuMs > 0, JSON.stringify(geometry));
      assert.equal(typeof geometry.overruns, 'number');
      assert.ok(
        d.logs.some((l) => l.event === 'plugin.quarantined' && l.plugin === PLASMA && l.security === true),
        'the quarantine is logged as a security event',
      );
    } finally {
      await context.close();
      await d.stop();
    }
  });
});
