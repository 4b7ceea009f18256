import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { securityLogger } from '../../../daemon/log.ts';
import { type OutputServer, startOutputServer } from '../../../daemon/output/server.ts';
import type { ComposedFrame } from '../../../plugins/display-list.ts';
import { EXAMPLES_DIR, OUTPUT } from '../../../plugins/examples/build.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { missingTool } from '../../helpers/tools.ts';
import { frameAt, loadPlugin } from '../../plugins/example-runner.ts';

// The output page in a real headless Chromium: it loads under its CSP, draws what the server
// streams (read back pixel by pixel from the canvas), shrugs off garbage, and reconnects.
// Set HANA_SCREENSHOT=path to also save a picture of the three examples drawn by the page.

const CHROMIUM = '/usr/bin/chromium';
const missing = missingTool(CHROMIUM, 'chromium');
const WAIT = { timeout: 15_000 };

type Rgba = [number, number, number, number];

let browser: Browser;
const servers: OutputServer[] = [];

async function serve(extra: { port?: number; token?: string } = {}) {
  const { log, lines } = captureLogger();
  const server = await startOutputServer({
    bind: '127.0.0.1',
    port: extra.port ?? 0,
    ...(extra.token && { token: extra.token }),
    log,
    security: securityLogger(log),
  });
  servers.push(server);
  return { server, lines };
}

async function stop(server: OutputServer) {
  servers.splice(servers.indexOf(server), 1);
  await server.close();
}

type Opened = { page: Page; errors: string[]; console: string[]; close(): Promise<void> };

async function open(
  server: OutputServer,
  view = { width: 640, height: 360 },
  deviceScaleFactor = 1,
): Promise<Opened> {
  const context = await browser.newContext({ viewport: view, deviceScaleFactor });
  const page = await context.newPage();
  const errors: string[] = [];
  const console: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
  await page.goto(server.url);
  await page.waitForFunction(
    () => (globalThis as never as Hana).hanaOutput?.stats().connected === true,
    null,
    WAIT,
  );
  return { page, errors, console, close: () => context.close() };
}

type Stats = {
  connected: boolean;
  connects: number;
  received: number;
  index: number | null;
  skipped: number;
  badMessages: number;
  canvas: { width: number; height: number };
  fullscreen: boolean;
  idle: boolean;
};
// The repo compiles without the DOM library (daemon code must not see browser globals), so the
// code evaluated in the page reaches them through this small shape.
type Ctx2d = { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
type Hana = {
  hanaOutput?: { stats(): Stats };
  document: {
    getElementById(id: string): { getContext(kind: '2d'): Ctx2d };
    fullscreenElement: unknown;
    body: { classList: { contains(name: string): boolean } };
  };
  getComputedStyle(el: unknown): { cursor: string };
};

const stats = (page: Page): Promise<Stats> =>
  page.evaluate(() => (globalThis as never as Hana).hanaOutput!.stats());

async function drawn(page: Page, index: number) {
  await page.waitForFunction(
    (i) => (globalThis as never as Hana).hanaOutput?.stats().index === i,
    index,
    WAIT,
  );
}

function pixels(page: Page, points: Array<[number, number]>): Promise<Rgba[]> {
  return page.evaluate((pts) => {
    const ctx = (globalThis as never as Hana).document.getElementById('output').getContext('2d');
    return pts.map(([x, y]) => [...ctx.getImageData(x, y, 1, 1).data] as Rgba);
  }, points);
}

function near(actual: Rgba, expected: readonly number[], where: string, tolerance = 3) {
  const ok = expected.every((v, i) => Math.abs(actual[i]! - v) <= tolerance);
  assert.ok(ok, `${where}: expected rgb(a) ${expected}, got ${actual}`);
}

const frame = (index: number, layers: ComposedFrame['layers']): ComposedFrame => ({
  index,
  time: index / 60,
  beat: index / 30,
  tempo: 120,
  width: 1280,
  height: 720,
  layers,
});

type Cmd = ComposedFrame['layers'][number]['commands'][number];

// 1280×720 drawn at half size in a 640×360 window: every logical coordinate halves.
const SHAPES: Cmd[] = [
  { op: 'rect', x: 0, y: 0, w: 200, h: 200, color: '#ff0000' },
  { op: 'circle', x: 640, y: 360, r: 100, color: '#00ff00' },
  { op: 'rect', x: 800, y: 100, w: 200, h: 200, color: '#ffff00', fill: false, lineWidth: 20 },
  { op: 'rect', x: 0, y: 400, w: 200, h: 200, color: '#ffffff', alpha: 0.5 },
  { op: 'rect', x: 300, y: 400, w: 200, h: 200, color: '#ff000080' },
  { op: 'rect', x: 600, y: 400, w: 200, h: 200, color: '#f00' },
  { op: 'rect', x: 600, y: 400, w: 200, h: 200, color: '#00ff00', blend: 'add' },
  { op: 'rect', x: 0, y: 0, w: 100, h: 100, color: '#00ffff', transform: [1, 0, 0, 1, 1000, 500] },
  { op: 'line', x1: 0, y1: 700, x2: 1280, y2: 700, lineWidth: 10, color: '#ff00ff' },
  { op: 'polyline', points: [1100, 40, 1260, 40, 1180, 200], closed: true, fill: true, color: '#ff8000' },
  { op: 'text', x: 640, y: 140, text: 'HANA', size: 80, align: 'center', color: '#ffffff' },
];
const NAVY = [0, 0, 128, 255];

describe('the output page in headless Chromium', { skip: missing }, () => {
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    for (const s of [...servers]) await s.close();
  });

  test('loads under its CSP and draws each command where and how the display list says', async () => {
    const { server } = await serve();
    const o = await open(server);
    try {
      server.publish(
        frame(1, [
          { id: 'bg', commands: [{ op: 'clear', color: '#000080' }] },
          { id: 'shapes', commands: SHAPES },
        ]),
      );
      await drawn(o.page, 1);
      const [
        red,
        green,
        greenEdge,
        outside,
        yellowEdge,
        yellowInside,
        halfWhite,
        halfRed,
        added,
        moved,
        magenta,
        orange,
      ] = await pixels(o.page, [
        [50, 50],
        [320, 180],
        [360, 180],
        [380, 180],
        [400, 100],
        [450, 100],
        [50, 250],
        [200, 250],
        [350, 250],
        [525, 275],
        [300, 350],
        [590, 40],
      ]);
      near(red!, [255, 0, 0, 255], 'rect');
      near(green!, [0, 255, 0, 255], 'circle centre');
      near(greenEdge!, [0, 255, 0, 255], 'inside the circle');
      near(outside!, NAVY, 'outside the circle: the background layer');
      near(yellowEdge!, [255, 255, 0, 255], 'outline of an unfilled rect');
      near(yellowInside!, NAVY, 'inside an unfilled rect');
      near(halfWhite!, [128, 128, 191, 255], 'white at alpha 0.5 over navy');
      near(halfRed!, [128, 0, 64, 255], '#ff000080 over navy');
      near(added!, [255, 255, 0, 255], 'green added onto red');
      near(moved!, [0, 255, 255, 255], 'rect moved by its transform');
      near(magenta!, [255, 0, 255, 255], 'line');
      near(orange!, [255, 128, 0, 255], 'filled closed polyline');
      const textPixels = await o.page.evaluate(() => {
        const ctx = (globalThis as never as Hana).document.getElementById('output').getContext('2d');
        const d = ctx.getImageData(260, 30, 120, 45).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i]! > 200 && d[i + 1]! > 200 && d[i + 2]! > 200) n++;
        return n;
      });
      assert.ok(textPixels > 100, `the text is drawn (${textPixels} white pixels)`);
      const s = await stats(o.page);
      assert.equal(s.skipped, 0);
      assert.deepEqual(s.canvas, { width: 640, height: 360 });
      assert.deepEqual(o.errors, []);
      assert.deepEqual(
        o.console.filter((m) => /Content Security Policy|Refused/i.test(m)),
        [],
        'no CSP violation: no inline code, and the WebSocket is allowed by connect-src',
      );
    } finally {
      await o.close();
    }
  });

  test('letterboxes the frame into a wider window, and draws at device pixels on a HiDPI screen', async () => {
    const { server } = await serve();
    const wide = await open(server, { width: 800, height: 360 });
    const hidpi = await open(server, { width: 320, height: 180 }, 2);
    try {
      server.publish(
        frame(2, [
          { id: 'bg', commands: [{ op: 'clear', color: '#000080' }] },
          { id: 'shapes', commands: SHAPES },
        ]),
      );
      await Promise.all([drawn(wide.page, 2), drawn(hidpi.page, 2)]);
      // 1280×720 in 800×360: scale 0.5, centred, 80 px bars left and right.
      const [bar, red, rightBar, navy] = await pixels(wide.page, [
        [40, 180],
        [80 + 50, 50],
        [760, 180],
        [80 + 450, 100],
      ]);
      near(bar!, [0, 0, 0, 255], 'left bar');
      near(red!, [255, 0, 0, 255], 'rect shifted into the letterbox');
      near(rightBar!, [0, 0, 0, 255], 'right bar');
      near(navy!, NAVY, 'background layer inside the letterbox');
      const s = await stats(hidpi.page);
      assert.deepEqual(s.canvas, { width: 640, height: 360 }, 'canvas sized in device pixels');
      const [hRed, hGreen] = await pixels(hidpi.page, [
        [50, 50],
        [320, 180],
      ]);
      near(hRed!, [255, 0, 0, 255], 'HiDPI rect');
      near(hGreen!, [0, 255, 0, 255], 'HiDPI circle');
    } finally {
      await wide.close();
      await hidpi.close();
    }
  });

  test('layers stack in order: blends act on the layers below, clear covers them, nothing spills into the bars', async () => {
    const { server } = await serve();
    const o = await open(server, { width: 800, height: 360 });
    try {
      server.publish(
        frame(4, [
          { id: 'base', commands: [{ op: 'clear', color: '#ff0000' }] },
          {
            id: 'light',
            commands: [
              { op: 'rect', x: 0, y: 0, w: 400, h: 720, color: '#00ff00', blend: 'add' },
              // Far outside the frame on the left: clipped, the bar stays black.
              { op: 'rect', x: -1000, y: 0, w: 1100, h: 720, color: '#ffffff' },
            ],
          },
          {
            id: 'fade',
            commands: [{ op: 'rect', x: 640, y: 0, w: 640, h: 360, color: '#000000', blend: 'multiply' }],
          },
          { id: 'cover', commands: [{ op: 'rect', x: 640, y: 360, w: 640, h: 360, color: '#0000ff' }] },
        ]),
      );
      await drawn(o.page, 4);
      // 1280×720 at scale 0.5 in 800×360: the frame spans x 80–720.
      const [bar, white, yellow, black, red, blue] = await pixels(o.page, [
        [40, 100],
        [100, 100],
        [200, 100],
        [500, 90],
        [350, 100],
        [500, 270],
      ]);
      near(bar!, [0, 0, 0, 255], 'the bar: a shape beyond the frame is clipped');
      near(white!, [255, 255, 255, 255], 'the part of that shape inside the frame');
      near(yellow!, [255, 255, 0, 255], 'green added onto the red layer below');
      near(black!, [0, 0, 0, 255], 'black multiplied onto red');
      near(red!, [255, 0, 0, 255], 'untouched base layer');
      near(blue!, [0, 0, 255, 255], 'a later layer covers earlier ones');
      server.publish(
        frame(5, [
          { id: 'base', commands: [{ op: 'rect', x: 0, y: 0, w: 1280, h: 720, color: '#ff0000' }] },
          { id: 'wipe', commands: [{ op: 'clear', color: '#00000080' }] },
        ]),
      );
      await drawn(o.page, 5);
      near(
        (await pixels(o.page, [[400, 180]]))[0]!,
        [127, 0, 0, 255],
        'a translucent clear fades what is below',
      );
    } finally {
      await o.close();
    }
  });

  test('master blackout gives all black and master opacity 0.5 half brightness, over anything the layers draw', async () => {
    const { server } = await serve();
    const o = await open(server, { width: 800, height: 360 });
    // Every pixel of the canvas, letterbox bars included: the brightest channel and how many
    // pixels are not black.
    const whole = () =>
      o.page.evaluate(() => {
        const ctx = (globalThis as never as Hana).document.getElementById('output').getContext('2d');
        const d = ctx.getImageData(0, 0, 800, 360).data;
        let max = 0;
        let lit = 0;
        for (let i = 0; i < d.length; i += 4) {
          const m = Math.max(d[i]!, d[i + 1]!, d[i + 2]!);
          if (m > max) max = m;
          if (m > 0) lit++;
        }
        return { max, lit };
      });
    // Until the page has drawn with this master (it arrives with a message, and is drawn on the
    // next animation frame).
    const masterIs = (m: { opacity: number; blackout: boolean }) =>
      o.page.waitForFunction(
        (want) => {
          const g = globalThis as never as { hanaOutput: { stats(): { shown: typeof want } } };
          const got = g.hanaOutput.stats().shown;
          return got.opacity === want.opacity && got.blackout === want.blackout;
        },
        m,
        WAIT,
      );
    // Layers that do their best to stay bright: a white clear, full colours, a translucent white
    // screen on top, text in the last layer.
    const loud = (index: number) =>
      frame(index, [
        { id: 'white', commands: [{ op: 'clear', color: '#ffffff' }] },
        {
          id: 'colours',
          commands: [
            { op: 'rect', x: 0, y: 0, w: 640, h: 720, color: '#ff0000' },
            { op: 'rect', x: 640, y: 0, w: 640, h: 720, color: '#00ff00' },
          ],
        },
        {
          id: 'last',
          commands: [
            { op: 'rect', x: 0, y: 0, w: 1280, h: 720, color: '#ffffff', alpha: 0.01, blend: 'screen' },
            { op: 'text', x: 640, y: 360, text: 'STILL HERE', size: 120, align: 'center', color: '#ffffff' },
          ],
        },
      ]);
    try {
      server.publish(loud(40));
      await drawn(o.page, 40);
      // 1280×720 at scale 0.5 in 800×360: the frame spans x 80–720.
      const [red0, white0] = await pixels(o.page, [
        [120, 20],
        [600, 20],
      ]);
      assert.ok(red0![0]! > 250 && white0![1]! > 250, `full brightness first (${red0}, ${white0})`);

      server.setMaster({ opacity: 1, blackout: true });
      await masterIs({ opacity: 1, blackout: true });
      // Blackout while no new frame arrives (the plugins stalled): the last frame goes black.
      let w = await whole();
      assert.deepEqual(w, { max: 0, lit: 0 }, 'blackout: every pixel black');
      // New frames keep coming during the blackout: still black.
      server.publish(loud(41));
      await drawn(o.page, 41);
      w = await whole();
      assert.deepEqual(w, { max: 0, lit: 0 }, 'blackout holds over new frames');

      server.setMaster({ opacity: 0.5, blackout: false });
      await masterIs({ opacity: 0.5, blackout: false });
      server.publish(loud(42));
      await drawn(o.page, 42);
      const [red, green, bar] = await pixels(o.page, [
        [120, 20],
        [600, 20],
        [40, 180],
      ]);
      // The last layer's 1 % white screen lifts 0 to ~3 and leaves 255, before the master halves.
      near(red!, [128, 1, 1, 255], 'red at master opacity 0.5');
      near(green!, [1, 128, 1, 255], 'green at master opacity 0.5');
      near(bar!, [0, 0, 0, 255], 'the bars stay black');
      w = await whole();
      assert.ok(w.max <= 129, `nothing brighter than half (${w.max})`);

      server.setMaster({ opacity: 0, blackout: false });
      await masterIs({ opacity: 0, blackout: false });
      server.publish(loud(43));
      await drawn(o.page, 43);
      assert.equal((await whole()).max, 0, 'master opacity 0: black');

      server.setMaster({ opacity: 1, blackout: false });
      await masterIs({ opacity: 1, blackout: false });
      server.publish(loud(44));
      await drawn(o.page, 44);
      const [back] = await pixels(o.page, [[120, 20]]);
      assert.ok(back![0]! > 250, `the picture returns (${back})`);
      assert.deepEqual(o.errors, []);
    } finally {
      await o.close();
    }
  });

  test('a page that connects during a blackout is black from its first frame', async () => {
    const { server } = await serve();
    server.publish(frame(50, [{ id: 'white', commands: [{ op: 'clear', color: '#ffffff' }] }]));
    server.setMaster({ opacity: 1, blackout: true });
    const o = await open(server);
    try {
      await drawn(o.page, 50);
      await o.page.waitForFunction(
        () =>
          (
            globalThis as never as { hanaOutput: { stats(): { shown: { blackout: boolean } } } }
          ).hanaOutput.stats().shown.blackout,
        null,
        WAIT,
      );
      const [p] = await pixels(o.page, [[320, 180]]);
      near(p!, [0, 0, 0, 255], 'black');
    } finally {
      await o.close();
    }
  });

  test('skips garbage commands, layers and frames without ever breaking the draw loop', async () => {
    const { server } = await serve();
    const o = await open(server);
    try {
      const garbage = [
        null,
        5,
        'rect',
        [],
        { op: 'nope' },
        { op: 'toString' },
        { op: 'rect', x: null, y: 0, w: 10, h: 10 }, // NaN arrives as null through JSON
        { op: 'rect', x: '1', y: 0, w: 10, h: 10 },
        { op: 'rect', x: 1e308, y: 0, w: 1e308, h: 10, color: 'red' },
        { op: 'rect', x: 0, y: 0, w: 10, h: 10, color: '#12' },
        { op: 'rect', x: 0, y: 0, w: 10, h: 10, blend: 'xor' },
        { op: 'rect', x: 0, y: 0, w: 10, h: 10, blend: 'constructor' },
        { op: 'rect', x: 0, y: 0, w: 10, h: 10, transform: [1, 0, 0, 1] },
        { op: 'rect', x: 0, y: 0, w: 10, h: 10, alpha: 'half' },
        { op: 'circle', x: 0, y: 0, r: -1 },
        { op: 'polyline', points: [1, 2, 3] },
        { op: 'polyline', points: { length: 4 } },
        { op: 'text', x: 0, y: 0, text: 5 },
        { op: 'text', x: 0, y: 0, text: 'x', align: 'middle' },
        { op: 'clear', color: 7 },
      ];
      const bad = [
        { id: 'nulls', commands: garbage },
        null,
        { id: 'no-commands' },
        { id: 'not-a-list', commands: 'rect' },
        { id: 'good', commands: [{ op: 'rect', x: 0, y: 0, w: 1280, h: 720, color: '#00ff00' }] },
      ];
      server.publish(frame(3, bad as never));
      await drawn(o.page, 3);
      near((await pixels(o.page, [[320, 180]]))[0]!, [0, 255, 0, 255], 'the valid layer after the garbage');
      assert.equal((await stats(o.page)).skipped, garbage.length + 3);
      // Messages that are not frames, or not even JSON: ignored, and the next good frame is drawn.
      // One at a time: published faster than the page reads, all but the newest would be dropped.
      for (const text of ['[1,2]', '{"layers":"no"}', '{"index":4}', '"x"', 'null', 'not json {', '']) {
        const before = await stats(o.page);
        server.publish({ json: text });
        await o.page.waitForFunction(
          (n) => {
            const s = (globalThis as never as Hana).hanaOutput!.stats();
            return s.received + s.badMessages > n;
          },
          before.received + before.badMessages,
          WAIT,
        );
      }
      server.publish(frame(5, [{ id: 'good', commands: [{ op: 'clear', color: '#0000ff' }] }]));
      await drawn(o.page, 5);
      near((await pixels(o.page, [[320, 180]]))[0]!, [0, 0, 255, 255], 'a good frame after bad ones');
      assert.equal((await stats(o.page)).badMessages, 2, 'the two that are not JSON were counted');
      assert.deepEqual(o.errors, [], 'nothing was thrown out of the page');
    } finally {
      await o.close();
    }
  });

  test('reconnects when the daemon restarts, and draws the new frames', async () => {
    const first = await serve();
    const o = await open(first.server);
    try {
      first.server.publish(frame(10, [{ id: 'a', commands: [{ op: 'clear', color: '#ff0000' }] }]));
      await drawn(o.page, 10);
      const { port, token } = first.server;
      await stop(first.server);
      await o.page.waitForFunction(
        () => (globalThis as never as Hana).hanaOutput!.stats().connected === false,
        null,
        WAIT,
      );
      const status = await o.page.textContent('#status');
      assert.match(status ?? '', /disconnected, retrying/, 'the overlay says the page lost the daemon');
      assert.equal(await o.page.isVisible('#status'), true);
      const second = await serve({ port, token });
      await o.page.waitForFunction(
        () => (globalThis as never as Hana).hanaOutput!.stats().connected === true,
        null,
        WAIT,
      );
      second.server.publish(frame(11, [{ id: 'a', commands: [{ op: 'clear', color: '#00ff00' }] }]));
      await drawn(o.page, 11);
      near((await pixels(o.page, [[10, 10]]))[0]!, [0, 255, 0, 255], 'drawn after the reconnect');
      assert.equal((await stats(o.page)).connects, 2);
    } finally {
      await o.close();
    }
  });

  test('h toggles the status overlay; f and double-click toggle full screen; the cursor hides when idle', async () => {
    const { server } = await serve();
    const o = await open(server);
    try {
      assert.match((await o.page.textContent('#status')) ?? '', /waiting for frames/);
      server.publish(frame(20, [{ id: 'a', commands: [{ op: 'clear', color: '#101010' }] }]));
      await drawn(o.page, 20);
      assert.equal(await o.page.isVisible('#status'), false, 'hidden once frames flow');
      await o.page.keyboard.press('h');
      assert.equal(await o.page.isVisible('#status'), true);
      assert.match((await o.page.textContent('#status')) ?? '', /connected .*fps .*frame 20 .*1 layers/);
      await o.page.keyboard.press('h');
      assert.equal(await o.page.isVisible('#status'), false);

      await o.page.keyboard.press('f');
      await o.page.waitForFunction(
        () => (globalThis as never as Hana).document.fullscreenElement !== null,
        null,
        WAIT,
      );
      await o.page.keyboard.press('f');
      await o.page.waitForFunction(
        () => (globalThis as never as Hana).document.fullscreenElement === null,
        null,
        WAIT,
      );
      await o.page.mouse.dblclick(100, 100);
      await o.page.waitForFunction(
        () => (globalThis as never as Hana).document.fullscreenElement !== null,
        null,
        WAIT,
      );

      await o.page.mouse.move(200, 200);
      assert.equal((await stats(o.page)).idle, false);
      await o.page.waitForFunction(
        () => (globalThis as never as Hana).document.body.classList.contains('idle'),
        null,
        WAIT,
      );
      assert.equal(
        await o.page.evaluate(() => {
          const g = globalThis as never as Hana;
          return g.getComputedStyle(g.document.body).cursor;
        }),
        'none',
      );
      await o.page.mouse.move(210, 210);
      assert.equal((await stats(o.page)).idle, false, 'moving the mouse shows the cursor again');
    } finally {
      await o.close();
    }
  });

  test('draws the three example plugins run in isolates (the out-of-the-box picture)', async () => {
    const names = ['geometry', 'beat-strobe', 'lfo'];
    const plugins = await Promise.all(
      names.map(async (n) => loadPlugin(await readFile(join(EXAMPLES_DIR, n, OUTPUT), 'utf8'))),
    );
    const { server } = await serve();
    const o = await open(server, { width: 960, height: 540 });
    try {
      // Beat 4.35 at 120 bpm: the LFO is near its top, the strobe just past a downbeat.
      const time = 4.35 / 2;
      const lfo = plugins[2]!.frame(frameAt(0, time, 120, {}));
      const opacity = lfo.writes.find(([p]) => p === '/layer/2/opacity')?.[1] as number;
      assert.ok(opacity > 0.9);
      const params = {
        '/layer/1/hue': 200,
        '/layer/1/opacity': 1,
        '/layer/1/color': '#ffffffff',
        '/layer/2/opacity': opacity,
        '/layer/2/color': '#ffffffff',
      };
      const layers = names.map((id, i) => ({
        id,
        commands: (i === 2 ? lfo : plugins[i]!.frame(frameAt(0, time, 120, params))).list as Cmd[],
      }));
      server.publish({ ...frame(30, layers), time, beat: 4.35 });
      await drawn(o.page, 30);
      const s = await stats(o.page);
      assert.equal(s.skipped, 0, 'the examples only produce valid commands');
      // Something is drawn around the centre (geometry), along the bottom (lfo), at the top (the
      // strobe's beat counter), and the strobe's flash lifts the black background.
      const lit = await o.page.evaluate(() => {
        const ctx = (globalThis as never as Hana).document.getElementById('output').getContext('2d');
        const count = (x: number, y: number, w: number, h: number) => {
          const d = ctx.getImageData(x, y, w, h).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i]! + d[i + 1]! + d[i + 2]! > 300) n++;
          return n;
        };
        return {
          centre: count(330, 120, 300, 300),
          bottom: count(96, 420, 768, 110),
          top: count(400, 10, 160, 50),
          corner: [...ctx.getImageData(5, 5, 1, 1).data],
        };
      });
      assert.ok(lit.centre > 5000, `geometry at the centre (${lit.centre} bright pixels)`);
      assert.ok(lit.bottom > 300, `waveform at the bottom (${lit.bottom} bright pixels)`);
      assert.ok(lit.top > 100, `beat counter at the top (${lit.top} bright pixels)`);
      assert.ok(lit.corner[0]! > 10, `the strobe lifts the background (${lit.corner})`);
      const shot = process.env.HANA_SCREENSHOT;
      if (shot) {
        await mkdir(join(shot, '..'), { recursive: true });
        await o.page.screenshot({ path: shot });
      }
    } finally {
      await o.close();
      for (const p of plugins) p.dispose();
    }
  });
});
