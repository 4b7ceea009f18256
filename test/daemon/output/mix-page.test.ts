import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { Blend, Mix } from '../../../daemon/output/mix.ts';
import type { OutputServer } from '../../../daemon/output/server.ts';
import type { ComposedFrame } from '../../../plugins/display-list.ts';
import { type OutputPage, openOutputPage } from '../../helpers/output-page.ts';
import { missingTool } from '../../helpers/tools.ts';

// The layer mixer in real headless Chromium: the page composites each layer by the mix the
// daemon sends (opacity, blend mode, deck) and crossfades deck A into deck B. Every expected
// pixel is the blend formula worked out by hand for two flat colours; the canvas is read back.

import { CHROMIUM } from '../../helpers/output-page.ts';

const missing = missingTool(CHROMIUM, 'chromium');
const WAIT = { timeout: 15_000 };

type Rgba = [number, number, number, number];
type Hana = {
  hanaOutput?: { stats(): { connected: boolean; index: number | null; mix: Mix } };
  document: {
    getElementById(id: string): {
      getContext(kind: '2d'): {
        getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
      };
    };
  };
};

const fill = (id: string, color: string): ComposedFrame['layers'][number] => ({
  id,
  commands: [{ op: 'rect', x: 0, y: 0, w: 1280, h: 720, color }],
});

const frame = (index: number, layers: ComposedFrame['layers']): ComposedFrame => ({
  index,
  time: index,
  beat: 0,
  tempo: 120,
  width: 1280,
  height: 720,
  layers,
});

function near(actual: Rgba, expected: readonly number[], where: string, tolerance = 3) {
  const ok = expected.every((v, i) => Math.abs(actual[i]! - v) <= tolerance);
  assert.ok(ok, `${where}: expected rgb ${expected}, got ${actual}`);
}

describe('layer opacity, blend modes and the crossfader in headless Chromium', { skip: missing }, () => {
  let server: OutputServer;
  let page: Page;
  let index = 0;
  let opened: OutputPage | undefined;
  before(async () => {
    opened = await openOutputPage({ width: 320, height: 180 });
    ({ server, page } = opened);
  });
  after(async () => {
    await opened?.close();
  });

  /** Sends the mix, then a frame, and reads the centre pixel once the page drew that frame. */
  async function draw(mix: Mix, layers: ComposedFrame['layers']): Promise<Rgba> {
    server.setMix(mix);
    const i = ++index;
    server.publish(frame(i, layers));
    await page.waitForFunction(
      ({ i, x }) => {
        const s = (globalThis as never as Hana).hanaOutput!.stats();
        return s.index === i && s.mix.crossfade === x;
      },
      { i, x: mix.crossfade },
      WAIT,
    );
    // The frame index changes in the tick that drew it: one more frame to be sure it is shown.
    return page.evaluate(() => {
      const d = (globalThis as never as Hana).document
        .getElementById('output')
        .getContext('2d')
        .getImageData(160, 90, 1, 1).data;
      return [...d] as Rgba;
    });
  }

  const base = { opacity: 1, blend: 'normal' as Blend, deck: 'a' as const };
  // #c86432 = (200, 100, 50) below, #646464 = (100, 100, 100) on top.
  const cases: Array<[Blend, number, number[]]> = [
    ['normal', 1, [100, 100, 100]],
    ['normal', 0.5, [150, 100, 75]],
    ['normal', 0, [200, 100, 50]],
    ['add', 1, [255, 200, 150]],
    ['add', 0.5, [250, 150, 100]],
    ['multiply', 1, [78, 39, 20]],
    ['multiply', 0.5, [139, 70, 35]],
    ['screen', 1, [222, 161, 130]],
    ['screen', 0.5, [211, 131, 90]],
  ];
  for (const [blend, opacity, want] of cases) {
    test(`${blend} at opacity ${opacity}: the blend formula, weighted by opacity`, async () => {
      const px = await draw({ crossfade: 0, layers: { below: base, top: { opacity, blend, deck: 'a' } } }, [
        fill('below', '#c86432'),
        fill('top', '#646464'),
      ]);
      near(px, [...want, 255], `${blend} ${opacity}`);
    });
  }

  test('the crossfader mixes deck A into deck B linearly; an unassigned layer draws over both', async () => {
    const layers = [fill('red', '#ff0000'), fill('blue', '#0000ff')];
    const mix = (crossfade: number): Mix => ({
      crossfade,
      layers: { red: base, blue: { ...base, deck: 'b' } },
    });
    near(await draw(mix(0), layers), [255, 0, 0, 255], 'crossfade 0: deck A');
    near(await draw(mix(1), layers), [0, 0, 255, 255], 'crossfade 1: deck B');
    near(await draw(mix(0.25), layers), [191, 0, 64, 255], 'crossfade 0.25');
    near(await draw(mix(0.5), layers), [128, 0, 128, 255], 'crossfade 0.5');
    // Deck B empty: A fades to black.
    near(await draw(mix(0.75), [fill('red', '#ff0000')]), [64, 0, 0, 255], 'A alone at 0.75');
    // A layer the daemon gave no channel (no "layer" in its manifest) sits on no deck.
    const over = await draw(mix(0.5), [
      ...layers,
      { id: 'free', commands: [{ op: 'rect', x: 0, y: 0, w: 1280, h: 720, color: '#00ff00', blend: 'add' }] },
    ]);
    near(over, [128, 255, 128, 255], 'unassigned layer added over the crossfaded decks');
  });

  test("a plugin cannot carry its own mix: the daemon's goes last and wins", async () => {
    server.setMix({ crossfade: 0, layers: { red: { opacity: 0, blend: 'normal', deck: 'a' } } });
    const i = ++index;
    server.publish({
      json: JSON.stringify({
        ...frame(i, [fill('red', '#ff0000')]),
        mix: { crossfade: 0, layers: { red: { opacity: 1, blend: 'normal', deck: 'a' } } },
      }),
    });
    await page.waitForFunction((i) => (globalThis as never as Hana).hanaOutput!.stats().index === i, i, WAIT);
    const px = await page.evaluate(() => [
      ...(globalThis as never as Hana).document
        .getElementById('output')
        .getContext('2d')
        .getImageData(160, 90, 1, 1).data,
    ]);
    near(px as Rgba, [0, 0, 0, 255], "layer at the daemon's opacity 0");
  });
});
