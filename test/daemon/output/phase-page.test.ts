import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { ComposedFrame } from '../../../plugins/display-list.ts';
import { CHROMIUM, type OutputPage, openOutputPage } from '../../helpers/output-page.ts';
import { missingTool } from '../../helpers/tools.ts';

// Two output pages showing one stream, one of them behind a WebSocket that delays every message
// by 0-15 ms (order kept), as a busy Wi-Fi link or a loaded laptop does. Each page shows frames
// by the shared timeline (timeline.js); asked for the beat it shows at the same instants, the two
// agree within one frame at the 99th percentile, where showing whatever arrived last would not.

const missing = missingTool(CHROMIUM, 'chromium');
const FPS = 60;
const TEMPO = 120;
/** One frame, in beats. */
const FRAME_BEATS = (1 / FPS) * (TEMPO / 60);

type Hana = {
  hanaOutput: { beatAt(epochMs: number): number | null; stats(): { index: number | null; received: number } };
  performance: { timeOrigin: number; now(): number };
};

// Replaces the page's WebSocket with one whose messages arrive late by a random 0-15 ms each,
// in order: installed before the page's own script runs.
const JITTER = `(() => {
  const Native = WebSocket;
  class Late extends Native {
    set onmessage(fn) {
      let chain = 0;
      super.onmessage = (e) => {
        chain = Math.max(chain, performance.now() + Math.random() * 15);
        // A new event: its timeStamp is when it is delivered, as if the network were late.
        setTimeout(() => fn.call(this, new MessageEvent('message', { data: e.data })), chain - performance.now());
      };
    }
    get onmessage() { return super.onmessage; }
  }
  globalThis.WebSocket = Late;
})();`;

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

describe('two output pages in phase by the shared timeline', { skip: missing }, () => {
  let opened: OutputPage | undefined;
  let late: Page;
  before(async () => {
    opened = await openOutputPage({ width: 160, height: 90 });
    const context = await opened.browser.newContext({ viewport: { width: 160, height: 90 } });
    await context.addInitScript(JITTER);
    late = await context.newPage();
    await late.goto(opened.server.url);
  });
  after(async () => {
    await opened?.close();
  });

  test('the beat two pages show at the same instants differs by less than one frame (p99), one of them with 0-15 ms of jitter', async () => {
    const { server, page } = opened!;
    // The session clock: seconds since an origin, as a daemon's frames carry it.
    const origin = performance.now();
    const session = () => (performance.now() - origin) / 1000 + 50;
    let index = 0;
    let running = true;
    const stream = (async () => {
      while (running) {
        const time = session();
        const frame: ComposedFrame = {
          index: ++index,
          time,
          beat: time * (TEMPO / 60),
          tempo: TEMPO,
          width: 160,
          height: 90,
          layers: [{ id: 'x', commands: [] }],
        };
        server.publish(frame);
        await new Promise((r) => setTimeout(r, 1000 / FPS));
      }
    })();
    try {
      // Both pages have drawn, and held four seconds of frames for their offset estimate.
      const received = (p: Page) =>
        p.evaluate(() => (globalThis as never as Hana).hanaOutput.stats().received);
      const deadline = Date.now() + 20_000;
      while (((await received(page)) < 4 * FPS || (await received(late)) < 4 * FPS) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const diffs: number[] = [];
      for (let k = 0; k < 150; k++) {
        // One instant, as each page's clock names it (both pages run on this machine's clock).
        const at = await page.evaluate(() => {
          const g = globalThis as never as Hana;
          return g.performance.timeOrigin + g.performance.now();
        });
        const beat = (p: Page) => p.evaluate((t) => (globalThis as never as Hana).hanaOutput.beatAt(t), at);
        const [a, b] = [await beat(page), await beat(late)];
        assert.ok(a !== null && b !== null, 'both pages show a frame');
        diffs.push(Math.abs(a - b));
        await new Promise((r) => setTimeout(r, 10));
      }
      const p50 = percentile(diffs, 0.5);
      const p99 = percentile(diffs, 0.99);
      console.log(
        `phase difference between the pages: p50 ${(p50 / FRAME_BEATS).toFixed(3)} frames, p99 ${(p99 / FRAME_BEATS).toFixed(3)} frames (${(p99 * (60 / TEMPO) * 1000).toFixed(2)} ms)`,
      );
      assert.ok(p99 < FRAME_BEATS, `p99 ${p99} beats is under one frame (${FRAME_BEATS} beats)`);
    } finally {
      running = false;
      await stream;
    }
  });
});
