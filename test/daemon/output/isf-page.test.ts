import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { Mix } from '../../../daemon/output/mix.ts';
import type { OutputServer } from '../../../daemon/output/server.ts';
import { parseFaultReport, type ShaderFault } from '../../../daemon/output/shader-faults.ts';
import { type ShaderPlan, shaderTableJson } from '../../../daemon/output/shaders.ts';
import type { ComposedFrame } from '../../../plugins/display-list.ts';
import { EXAMPLES_DIR } from '../../../plugins/examples/build.ts';
import { parseIsf } from '../../../plugins/isf/header.ts';
import { type OutputPage, openOutputPage } from '../../helpers/output-page.ts';
import { missingTool } from '../../helpers/tools.ts';

// ISF shaders on the output page in real headless Chromium (WebGL2 through SwiftShader): the
// plasma example's pixels match the same formula computed here for given inputs and TIME; a
// shader that does not compile is reported to the daemon with the compiler's message while the
// others draw; a context lost while one plugin's shader draws is blamed on it, recovered, and
// after three losses that plugin is no longer drawn while the other keeps drawing.

import { CHROMIUM } from '../../helpers/output-page.ts';

const missing = missingTool(CHROMIUM, 'chromium');
const WAIT = { timeout: 20_000 };

type Rgba = [number, number, number, number];
type IsfStats = {
  compiled: number;
  losses: number;
  restores: number;
  lost: boolean;
  stopped: Record<string, string>;
};
type Hana = {
  hanaOutput?: {
    stats(): { connected: boolean; index: number | null; isf: IsfStats };
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

const W = 320;
const H = 180;

async function example(name: string): Promise<string> {
  return readFile(`${EXAMPLES_DIR}/isf-${name}/shaders/${name}.fs`, 'utf8');
}

function plan(entries: Record<string, string[]>): ShaderPlan {
  const out = new Map();
  for (const [id, sources] of Object.entries(entries)) {
    out.set(
      id,
      sources.map((source, i) => {
        const r = parseIsf(source);
        if (!r.ok) assert.fail(`${id}/${i}: ${r.error}`);
        return { ref: { file: `s${i}.fs`, inputs: {} }, shader: r.shader };
      }),
    );
  }
  return out;
}

/** The plasma example's colour at a fragment, in JavaScript (doubles; the GPU uses floats). */
function plasma(u: number, v: number, time: number, hue: number, tint: number[], scale = 6): number[] {
  const px = u * scale;
  const py = v * scale;
  const val =
    Math.sin(px + time) +
    Math.sin(py * 0.8 + time * 1.3) +
    Math.sin((px + py) * 0.7 + time * 0.7) +
    Math.sin(Math.hypot(px - scale * 0.5, py - scale * 0.5) * 1.5 - time * 2.0);
  const fract = (x: number) => x - Math.floor(x);
  const h = fract(val * 0.125 + hue / 360);
  const s = 0.8;
  const value = 0.55 + 0.45 * Math.sin(val * 1.5707963);
  const rgb = [1, 2 / 3, 1 / 3].map((k) => {
    const p = Math.abs(fract(h + k) * 6 - 3);
    const c = Math.min(1, Math.max(0, p - 1));
    return value * (1 + (c - 1) * s);
  });
  return rgb.map((c, i) => Math.round(c * tint[i]! * 255));
}

function near(actual: readonly number[], expected: readonly number[], where: string, tolerance = 3) {
  const ok = expected.every((v, i) => Math.abs(actual[i]! - v) <= tolerance);
  assert.ok(ok, `${where}: expected rgb ${expected}, got ${actual}`);
}

describe('ISF shaders on the output page in headless Chromium', { skip: missing }, () => {
  let server: OutputServer;
  let page: Page;
  let index = 0;
  const faults: ShaderFault[] = [];
  let opened: OutputPage | undefined;
  const pageErrors: string[] = [];
  before(async () => {
    opened = await openOutputPage({ width: W, height: H }, (text) => {
      const f = parseFaultReport(text);
      if (f) faults.push(f);
    });
    ({ server, page } = opened);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  after(async () => {
    await opened?.close();
    assert.deepEqual(pageErrors, [], 'no error thrown in the page');
  });

  /** Publishes one frame with these layers at `time` and waits until the page drew it. */
  async function draw(ids: string[], mix: Mix, time: number): Promise<void> {
    server.setMix(mix);
    const i = ++index;
    const frame: ComposedFrame = {
      index: i,
      time,
      beat: 0,
      tempo: 120,
      width: 1280,
      height: 720,
      layers: ids.map((id) => ({ id, commands: [] })),
    };
    server.publish(frame);
    await page.waitForFunction((i) => (globalThis as never as Hana).hanaOutput!.stats().index === i, i, WAIT);
  }

  function pixels(points: Array<[number, number]>): Promise<Rgba[]> {
    return page.evaluate((pts) => {
      const ctx = (globalThis as never as Hana).document.getElementById('output').getContext('2d');
      return pts.map(([x, y]) => [...ctx.getImageData(x, y, 1, 1).data] as Rgba);
    }, points);
  }

  const full = { opacity: 1, blend: 'normal' as const, deck: 'a' as const };
  const POINTS: Array<[number, number]> = [
    [10, 10],
    [160, 90],
    [300, 40],
    [75, 160],
    [231, 123],
  ];

  test('the plasma example draws the pixels its formula gives for the inputs and TIME sent', async () => {
    server.setShaders(shaderTableJson(plan({ plasma: [await example('plasma')] })));
    for (const [time, hue, tint] of [
      [2.5, 0, [1, 1, 1, 1]],
      [7.25, 120, [1, 0.5, 0, 1]],
    ] as Array<[number, number, number[]]>) {
      await draw(
        ['plasma'],
        { crossfade: 0, layers: { plasma: full }, inputs: { plasma: [{ hue, tint }] } },
        time,
      );
      const got = await pixels(POINTS);
      POINTS.forEach(([x, y], k) => {
        // Canvas row 0 is the top; ISF's normalised coordinates start at the bottom left.
        const want = plasma((x + 0.5) / W, 1 - (y + 0.5) / H, time, hue, tint);
        near(got[k]!, want, `plasma at (${x}, ${y}), TIME ${time}, hue ${hue}`);
      });
    }
  });

  test("a shader that does not compile is reported with the compiler's message and its line; the others draw", async () => {
    faults.length = 0;
    const broken = '/*{ "INPUTS": [] }*/\nvoid main() {\n  gl_FragColor = vec4(nope, 0.0, 0.0, 1.0);\n}\n';
    server.setShaders(shaderTableJson(plan({ broken: [broken], plasma: [await example('plasma')] })));
    const mix: Mix = {
      crossfade: 0,
      layers: { broken: full, plasma: full },
      inputs: { plasma: [{ hue: 0, tint: [1, 1, 1, 1] }] },
    };
    await draw(['plasma', 'broken'], mix, 1);
    const deadline = Date.now() + 10_000;
    while (faults.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(faults.length, 1, JSON.stringify(faults));
    assert.equal(faults[0]!.plugin, 'broken');
    assert.equal(faults[0]!.kind, 'compile');
    assert.match(faults[0]!.message, /nope/, 'the compiler names the undeclared identifier');
    assert.match(faults[0]!.message, /\b3:/, 'on line 3 of the .fs file, not of the preamble');
    near(
      (await pixels([[160, 90]]))[0]!,
      plasma(160.5 / W, 1 - 90.5 / H, 1, 0, [1, 1, 1, 1]),
      'plasma still drawn',
    );
    // Not compiled again frame after frame: one report.
    await draw(['plasma', 'broken'], mix, 1.1);
    assert.equal(faults.length, 1);
  });

  test("a context lost while one plugin's shader draws is blamed on it and recovered; after three it stops there while the other keeps drawing", async () => {
    faults.length = 0;
    const plasmaSource = await example('plasma');
    server.setShaders(shaderTableJson(plan({ steady: [plasmaSource], runaway: [plasmaSource] })));
    const inputs = { steady: [{ hue: 0, tint: [1, 0, 0, 1] }], runaway: [{ hue: 0, tint: [0, 0, 1, 1] }] };
    const layers = { steady: full, runaway: { ...full, blend: 'add' as const } };
    const mix: Mix = { crossfade: 0, layers, inputs };
    let t = 3;
    for (let n = 1; n <= 3; n++) {
      await page.evaluate(() => (globalThis as never as Hana).hanaOutput!.loseShaderContext('runaway'));
      t += 0.1;
      await draw(['steady', 'runaway'], mix, t);
      await page.waitForFunction(
        (n) => (globalThis as never as Hana).hanaOutput!.stats().isf.restores >= n,
        n,
        WAIT,
      );
    }
    const lost = faults.filter((f) => f.kind === 'context-lost');
    assert.equal(lost.length, 3, JSON.stringify(faults));
    assert.ok(
      lost.every((f) => f.plugin === 'runaway'),
      'each loss blamed on the plugin drawing',
    );
    const s = await page.evaluate(() => (globalThis as never as Hana).hanaOutput!.stats().isf);
    assert.deepEqual(Object.keys(s.stopped), ['runaway']);
    // Drawn after the losses: steady's red plasma, and no blue added by the stopped runaway.
    t += 0.1;
    await draw(['steady', 'runaway'], mix, t);
    const [px] = await pixels([[160, 90]]);
    near(px!, plasma(160.5 / W, 1 - 90.5 / H, t, 0, [1, 0, 0, 1]), 'steady draws after the recovery, alone');
  });

  test("a table over the page's own limits is refused and reported, not compiled", async () => {
    faults.length = 0;
    const huge = {
      source: `/*{}*/\nvoid main(){gl_FragColor=vec4(1.0);}\n//${'x'.repeat(70_000)}`,
      inputs: [],
      passes: [{ target: null }],
    };
    server.setShaders(JSON.stringify({ shaders: { huge: [huge] } }));
    await draw(['huge'], { crossfade: 0, layers: { huge: full } }, 1);
    const deadline = Date.now() + 10_000;
    while (faults.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(faults[0]?.kind, 'refused');
    assert.match(faults[0]!.message, /65536 bytes/);
  });
});
