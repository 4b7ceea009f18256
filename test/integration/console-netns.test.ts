import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { listInstalled, quarantinePlugin } from '../../plugins/installed.ts';
import { control, ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { createNetns, type Netns, netnsUnavailable } from '../helpers/netns.ts';
import { missingTool } from '../helpers/tools.ts';
import { waitFor } from '../helpers/wait.ts';

// Issue 15 in a real browser: the operator console in headless Chromium, with the daemons and the
// browser inside a private network namespace (nothing is served on the host's loopback). It
// checks what an operator relies on: no page without the token, every parameter a control named
// by its address, a fader reaching `hana get` and an `oscsend` reaching the fader, plugins'
// quarantine shown and lifted, two daemons paired and a peer allowed from the page, and the page
// coming back by itself after a restart. Each section is photographed for docs/console.md and
// checked for content.

const CHROMIUM = '/usr/bin/chromium';
const skip = netnsUnavailable() ?? missingTool(CHROMIUM, 'chromium') ?? missingTool('oscsend', 'liblo-tools');
const run = promisify(execFile);
const WAIT = { timeout: 30_000 };
const CONSOLE_PORT = 7411;
// The docs' screenshots are rewritten only on request, so a test run leaves the tree clean.
const UPDATE_IMAGES = process.env.HANA_UPDATE_DOCS_IMAGES === '1';
const IMAGES = join(ROOT, 'docs', 'images');

const uiUrl = async (d: TestDaemon) => ((await control(d, 'ui.url')) as { url: string }).url;
const value = async (d: TestDaemon, path: string) => (await d.values(path))[path];

// Runs in the browser (this project's TypeScript has no DOM types): the distinct colours of a PNG.
const COUNT_COLOURS = `async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = new OffscreenCanvas(img.width, img.height);
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const px = g.getImageData(0, 0, img.width, img.height).data;
  const seen = new Set();
  for (let i = 0; i < px.length; i += 4) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
  return seen.size;
}`;

/** Distinct colours in a PNG, counted by the browser (a blank or one-colour shot has few). */
async function colours(context: BrowserContext, png: Buffer): Promise<number> {
  const page = await context.newPage();
  try {
    return (await page.evaluate(`(${COUNT_COLOURS})(${JSON.stringify(png.toString('base64'))})`)) as number;
  } finally {
    await page.close();
  }
}

/** Polls the page (bounded by time) until `check` holds; fails the test with `what` otherwise. */
async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  assert.ok(await waitFor(check, ms), what);
}

describe('the operator console in headless Chromium, in a private network namespace', { skip }, () => {
  let ns: Netns;
  let dir: string;
  let browser: Browser;
  let a: TestDaemon | undefined;
  let b: TestDaemon | undefined;
  let context: BrowserContext;
  let page: Page;
  const config = (port: number) => ({
    name: port ? 'stage-left' : 'stage-right',
    console: { port },
    plugins: { enabled: port !== 0 },
    peers: { policy: 'pair', newPeerRole: 'observer' },
  });

  /** A section photographed for the docs, after checking it shows something. */
  async function shoot(p: Page, section: string): Promise<void> {
    const loc = p.locator(`#${section}`);
    await loc.scrollIntoViewIfNeeded();
    const png = await loc.screenshot();
    const n = await colours(context, png);
    assert.ok(n > 40, `the ${section} section shows content (${n} colours)`);
    assert.ok(((await loc.textContent()) ?? '').trim().length > 40);
    if (!UPDATE_IMAGES) return;
    await mkdir(IMAGES, { recursive: true });
    await writeFile(join(IMAGES, `console-${section}.png`), png);
  }

  before(async () => {
    ns = await createNetns([]);
    dir = await mkdtemp(join(tmpdir(), 'hana-console-'));
    // Chromium runs inside the namespace too; playwright talks to it over its pipe.
    const wrapper = join(dir, 'chromium');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${ns.name} ${CHROMIUM} "$@"\n`);
    await chmod(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    a = await startDaemon({ wrap: ns.exec(), config: config(CONSOLE_PORT) });
    page = await context.newPage();
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await a?.stop();
    await b?.stop();
    await ns?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses the page without its token; with it every parameter is a control labelled by its address', async () => {
    const url = await uiUrl(a!);
    assert.equal(new URL(url).port, String(CONSOLE_PORT));
    const bare = await page.goto(url.replace(/\?.*/, ''));
    assert.equal(bare?.status(), 403);
    assert.match((await page.textContent('body')) ?? '', /hana ui/);
    const wrong = await page.goto(url.replace(/token=.*/, 'token=AAAAAAAAAAAAAAAAAAAAAA'));
    assert.equal(wrong?.status(), 403);
    const ok = await page.goto(url);
    assert.equal(ok?.status(), 200);
    await page.getByLabel('/layer/1/opacity', { exact: true }).waitFor(WAIT);
    const params = (await control(a!, 'params')) as { params: { path: string; spec: { type: string } }[] };
    for (const p of params.params) {
      const c = page.getByLabel(p.path, { exact: true });
      assert.equal(await c.count(), 1, `one control for ${p.path}`);
    }
    assert.equal(await page.getByLabel('/tempo', { exact: true }).getAttribute('type'), 'range');
    assert.equal(await page.getByLabel('/master/blackout', { exact: true }).getAttribute('type'), 'checkbox');
    assert.equal(await page.getByLabel('/layer/1/color', { exact: true }).getAttribute('type'), 'color');
    const status = await a!.status();
    assert.equal(status.console?.rejected['console-bad-token'], 2, 'both refusals counted');
  });

  it('a fader moved in the page shows in hana get; an oscsend moves the page’s control', async () => {
    await page.getByLabel('/layer/1/opacity', { exact: true }).fill('0.25');
    assert.ok(
      await waitFor(async () => (await value(a!, '/layer/1/opacity')) === 0.25, 15_000),
      'the write arrived',
    );
    const status = await a!.status();
    const send = ns.exec('oscsend', '127.0.0.1', String(status.osc.udpPort), '/layer/3/opacity', 'f', '0.75');
    await run(send[0]!, send.slice(1));
    await until(
      '/layer/3/opacity shows 0.75',
      async () => (await page.getByLabel('/layer/3/opacity', { exact: true }).inputValue()) === '0.75',
    );
    await page.getByLabel('master blackout').click();
    assert.ok(await waitFor(async () => (await value(a!, '/master/blackout')) === true, 15_000));
    await until('the blackout toggle follows', () =>
      page.getByLabel('/master/blackout', { exact: true }).isChecked(),
    );
    await page.getByLabel('master blackout').click();
    assert.ok(await waitFor(async () => (await value(a!, '/master/blackout')) === false, 15_000));
    await page.fill('#filter', '/layer/*/opacity');
    assert.equal(await page.locator('.ctl:not([hidden])').count(), 4, 'the filter leaves the four opacities');
    await shoot(page, 'show');
    await page.fill('#filter', '');
    const audit = (await control(a!, 'audit.query', { writer: 'ui' })) as {
      records: { path?: string; writer: string }[];
    };
    assert.ok(
      audit.records.some((r) => r.path === '/layer/1/opacity'),
      'the fader is audited as ui',
    );
  });

  it('shows a quarantined plugin with its reason, and enable lifts it', async () => {
    const id = 'hana.examples.lfo';
    await page.locator(`[data-plugin="${id}"]`).waitFor(WAIT);
    const q = await quarantinePlugin(a!.home, id, 'exceeded its time budget 3 times (the test put it here)');
    assert.ok(q.ok);
    const row = page.locator(`[data-plugin="${id}"]`);
    await page.locator(`[data-plugin="${id}"][data-state="quarantined"]`).waitFor(WAIT);
    assert.match((await row.textContent()) ?? '', /quarantined: exceeded its time budget/);
    await shoot(page, 'plugins');
    page.once('dialog', (d) => void d.accept());
    await page.getByLabel(`enable ${id}`).click();
    await page.locator(`[data-plugin="${id}"]:not([data-state="quarantined"])`).waitFor(WAIT);
    const list = await listInstalled(a!.home);
    assert.ok(list.ok);
    assert.equal(list.plugins.find((p) => p.id === id)?.quarantined, undefined, 'lifted in the index');
    // The page shows the plugin enabled as soon as the reload it asked for lands; the bridge
    // records the action once the whole request has answered, a moment later.
    await until('the enable is audited as ui', async () => {
      const audit = (await control(a!, 'audit.query', { writer: 'ui' })) as {
        records: { action?: string }[];
      };
      return audit.records.some((r) => r.action === 'plugin.change');
    });
  });

  it('pairs two daemons from their pages, and a blocked peer is allowed back from the page', async () => {
    b = await startDaemon({ wrap: ns.exec(), config: config(0) });
    const pageB = await context.newPage();
    await pageB.goto(await uiUrl(b));
    await pageB.locator('#conn[data-state="connected"]').waitFor(WAIT);
    await page.click('#pair-open');
    await until('a pairing code is shown', async () =>
      /^[a-z]+-[a-z]+-[a-z]+$/.test((await page.textContent('#pair-code')) ?? ''),
    );
    const code = (await page.textContent('#pair-code'))!;
    await pageB.fill('#pair-join-code', code);
    await pageB.fill('#pair-join-peer', `127.0.0.1:${a!.peerPort}`);
    await pageB.click('#pair-join');
    await until('B says it paired', async () =>
      /paired with/.test((await pageB.textContent('#pair-result')) ?? ''),
    );
    const linked = (d: TestDaemon, id: string) => async () =>
      ((await control(d, 'peers')) as { peers: { id: string; state: string }[] }).peers.some(
        (p) => p.id === id && p.state === 'linked',
      );
    assert.ok(await waitFor(linked(a!, b.deviceId), 30_000), 'A links B');
    assert.ok(await waitFor(linked(b, a!.deviceId), 30_000), 'B links A');
    const rowB = `[data-peer="${b.deviceId}"]`;
    await page.locator(`${rowB}[data-state="linked"]`).waitFor(WAIT);

    page.once('dialog', (d) => void d.accept());
    await page.getByLabel(`Block ${b.deviceId.slice(0, 7)}`).click();
    await page.locator(`${rowB}[data-state="blocked"]`).waitFor(WAIT);
    await page.getByLabel(`Allow ${b.deviceId.slice(0, 7)}`).click();
    assert.ok(await waitFor(linked(a!, b.deviceId), 60_000), 'allowed: A links B again');
    await page.locator(`${rowB}[data-state="linked"]`).waitFor(WAIT);
    // Writes flow between the two: the pair is real.
    await pageB.getByLabel('/layer/4/opacity', { exact: true }).fill('0.5');
    assert.ok(
      await waitFor(async () => (await value(a!, '/layer/4/opacity')) === 0.5, 30_000),
      'B’s fader reaches A',
    );
    await shoot(page, 'peers');
    await pageB.close();
  });

  it('saves and loads a scene, and tails the audit by writer', async () => {
    await page.fill('#scene-name', 'opening');
    await page.click('#scene-save');
    await until('the scene is saved', async () =>
      /saved opening/.test((await page.textContent('#scene-result')) ?? ''),
    );
    await page.getByLabel('/layer/1/opacity', { exact: true }).fill('0.9');
    assert.ok(await waitFor(async () => (await value(a!, '/layer/1/opacity')) === 0.9, 15_000));
    await page.getByLabel('load scene opening').click();
    assert.ok(
      await waitFor(async () => (await value(a!, '/layer/1/opacity')) === 0.25, 15_000),
      'the scene restored 0.25',
    );
    await page.fill('#audit-writer', 'ui');
    // The filter reaches the table with the page's next refresh: rows from before it may still be
    // shown for a moment (seen once in CI), so wait for the filtered table, bounded.
    await until('the tail shows only the ui writer, its scene.load among them', () =>
      page
        .locator('#audit-table tbody tr')
        .evaluateAll(
          (rows) =>
            rows.length > 0 &&
            rows.every((r) => r.getAttribute('data-writer') === 'ui') &&
            rows.some((r) => (r.textContent ?? '').includes('scene.load')),
        ),
    );
    await shoot(page, 'scenes');
    await page.fill('#audit-writer', '');
  });

  it('shows refusals by reason, security ones marked, with ports, MIDI, storage and the output preview', async () => {
    await page.locator('#rejections tr[data-reason="console-bad-token"].security').waitFor(WAIT);
    await page.locator('#preview').waitFor(WAIT);
    const src = await page.getAttribute('#preview', 'src');
    assert.match(src ?? '', /^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    const frame = page.frameLocator('#preview');
    await frame.locator('canvas').waitFor(WAIT);
    assert.match((await page.textContent('#midi')) ?? '', /off|input/);
    await shoot(page, 'health');
  });

  it('comes back by itself after the daemon restarts, and follows the new daemon', async () => {
    let loads = 0;
    page.on('load', () => loads++);
    const home = a!.home;
    await a!.stop('SIGTERM', { keepHome: true });
    await page.locator('#conn[data-state="reconnecting"]').waitFor(WAIT);
    a = await startDaemon({ wrap: ns.exec(), config: config(CONSOLE_PORT), home });
    await page.locator('#conn[data-state="connected"]').waitFor({ timeout: 60_000 });
    const status = await a.status();
    const args = ns.exec(
      'oscsend',
      '127.0.0.1',
      String(status.osc.udpPort),
      '/layer/3/opacity',
      'f',
      '0.125',
    );
    await run(args[0]!, args.slice(1));
    await until(
      '/layer/3/opacity shows 0.125',
      async () => (await page.getByLabel('/layer/3/opacity', { exact: true }).inputValue()) === '0.125',
    );
    assert.equal(loads, 0, 'no reload');
  });
});
