// The output page in headless Chromium (software WebGL): how long drawing one frame of each
// example takes at 1920×1080, how many frames a second the WebSocket delivers, and how closely two
// pages agree on the beat they show, each beside a page drawing nothing (or, for the phase, two
// pages without jitter) in the same run; then the phase on two namespaced laptops (as root, with
// Chromium; test/helpers/phase-laptops.ts) beside that baseline. `npm run bench -- output`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import type { Mix } from '../../daemon/output/mix.ts';
import { type ShaderPlan, shaderTableJson } from '../../daemon/output/shaders.ts';
import type { ComposedFrame } from '../../plugins/display-list.ts';
import { EXAMPLES_DIR, listExamples, OUTPUT } from '../../plugins/examples/build.ts';
import { parseIsf } from '../../plugins/isf/header.ts';
import { parseManifest } from '../../plugins/manifest.ts';
import { openOutputPage } from '../helpers/output-page.ts';
import {
  percentile,
  phaseLaptopsUnavailable,
  samplePhase,
  startPhaseLaptops,
} from '../helpers/phase-laptops.ts';
import { missingTool } from '../helpers/tools.ts';
import { frameAt, loadPlugin } from '../plugins/example-runner.ts';

const W = 1920;
const H = 1080;
type Stats = { drawMs: number; received: number; index: number | null };
type Hana = {
  hanaOutput: { stats(): Stats; beatAt(t: number): number | null };
  performance: { timeOrigin: number; now(): number };
};
const stats = (p: Page) => p.evaluate(() => (globalThis as never as Hana).hanaOutput.stats());

async function frameTimes(report: (line: string) => void) {
  const o = await openOutputPage({ width: W, height: H });
  try {
    const plan = new Map() as Map<string, unknown[]>;
    const rows: Array<{ name: string; id: string; lists: unknown[] }> = [];
    for (const name of await listExamples()) {
      const dir = join(EXAMPLES_DIR, name);
      const m = parseManifest(JSON.parse(await readFile(join(dir, 'plugin.json'), 'utf8')));
      if (!m.ok) throw new Error(m.error);
      const lists: unknown[] = [];
      const p = await loadPlugin(await readFile(join(dir, OUTPUT), 'utf8'));
      for (let i = 0; i < 120; i++)
        lists.push(p.frame(frameAt(i, i / 60, 120, {}, { width: W, height: H })).list);
      p.dispose();
      const shaders = [];
      for (const ref of m.manifest.shaders ?? []) {
        const r = parseIsf(await readFile(join(dir, ref.file), 'utf8'));
        if (r.ok) shaders.push({ ref, shader: r.shader });
      }
      if (shaders.length > 0) plan.set(m.manifest.id, shaders);
      rows.push({ name, id: m.manifest.id, lists });
    }
    o.server.setShaders(shaderTableJson(plan as ShaderPlan));
    let index = 0;
    const measure = async (id: string, lists: unknown[]) => {
      const mix: Mix = { crossfade: 0, layers: { [id]: { opacity: 1, blend: 'normal', deck: 'a' } } };
      o.server.setMix(mix);
      const start = performance.now();
      for (const list of lists) {
        const frame = {
          index: ++index,
          time: (performance.now() - start) / 1000,
          beat: 0,
          tempo: 120,
          width: W,
          height: H,
          layers: [{ id, commands: list }],
        };
        o.server.publish(frame as ComposedFrame);
        await sleep(1000 / 60);
      }
      return (await stats(o.page)).drawMs;
    };
    const empty = await measure('nothing', new Array(120).fill([]));
    report(`page drawing nothing at ${W}×${H}: ${empty.toFixed(2)} ms a frame (moving average)`);
    for (const r of rows) {
      const ms = await measure(r.id, r.lists);
      report(
        `${r.name.padEnd(12)} ${ms.toFixed(2)} ms a frame  (${(ms / Math.max(empty, 0.01)).toFixed(1)}× nothing)`,
      );
    }
  } finally {
    await o.close();
  }
}

async function websocketRate(report: (line: string) => void) {
  const o = await openOutputPage({ width: 320, height: 180 });
  try {
    const geometry = await loadPlugin(await readFile(join(EXAMPLES_DIR, 'geometry', OUTPUT), 'utf8'));
    const list = geometry.frame(frameAt(0, 0, 120, {})).list;
    geometry.dispose();
    for (const [what, commands] of [
      ['empty frames', []],
      ['geometry frames', list],
    ] as const) {
      const before = (await stats(o.page)).received;
      const started = performance.now();
      let sent = 0;
      // As fast as the fan-out takes them, for two seconds (it drops what a page cannot take).
      while (performance.now() - started < 2000) {
        o.server.publish({
          index: ++sent,
          time: sent,
          beat: 0,
          tempo: 120,
          width: 1280,
          height: 720,
          layers: [{ id: 'x', commands: commands as never }],
        });
        await new Promise((r) => setImmediate(r));
      }
      await sleep(200);
      const got = (await stats(o.page)).received - before;
      report(
        `${what.padEnd(16)} published ${(sent / 2).toFixed(0)}/s, the page received ${(got / 2).toFixed(0)}/s`,
      );
    }
  } finally {
    await o.close();
  }
}

const JITTER = `(() => { const N = WebSocket; class L extends N { set onmessage(fn) { let c = 0; super.onmessage = (e) => { c = Math.max(c, performance.now() + Math.random() * 15); setTimeout(() => fn.call(this, new MessageEvent('message', { data: e.data })), c - performance.now()); }; } get onmessage() { return super.onmessage; } } globalThis.WebSocket = L; })();`;

/** Returns the baseline's p99 (two pages of one stream, no jitter), in frames. */
async function phase(report: (line: string) => void): Promise<number> {
  let baseline = Number.NaN;
  for (const jitter of [false, true]) {
    const o = await openOutputPage({ width: 160, height: 90 });
    try {
      const ctx = await o.browser.newContext({ viewport: { width: 160, height: 90 } });
      if (jitter) await ctx.addInitScript(JITTER);
      const other = await ctx.newPage();
      await other.goto(o.server.url);
      const origin = performance.now();
      let running = true;
      let i = 0;
      const stream = (async () => {
        while (running) {
          const t = (performance.now() - origin) / 1000;
          o.server.publish({
            index: ++i,
            time: t,
            beat: t * 2,
            tempo: 120,
            width: 160,
            height: 90,
            layers: [],
          });
          await sleep(1000 / 60);
        }
      })();
      await sleep(4000);
      const diffs: number[] = [];
      for (let k = 0; k < 150; k++) {
        const at = await o.page.evaluate(
          () =>
            (globalThis as never as Hana).performance.timeOrigin +
            (globalThis as never as Hana).performance.now(),
        );
        const b = (p: Page) => p.evaluate((t) => (globalThis as never as Hana).hanaOutput.beatAt(t), at);
        diffs.push(Math.abs((await b(o.page))! - (await b(other))!) / (2 / 60));
        await sleep(10);
      }
      running = false;
      await stream;
      diffs.sort((a, b) => a - b);
      if (!jitter) baseline = diffs[148]!;
      report(
        `two pages${jitter ? ', one with 0-15 ms jitter' : ', no jitter (baseline)'}: phase difference p50 ${diffs[75]!.toFixed(3)} frames, p99 ${diffs[148]!.toFixed(3)} frames`,
      );
    } finally {
      await o.close();
    }
  }
  return baseline;
}

/** Issue 16's two laptops (phase-laptops.ts), beside the one-daemon baseline above. */
async function phaseOnTwoLaptops(report: (line: string) => void, baseline: number) {
  const missing = phaseLaptopsUnavailable();
  if (missing) {
    report(`two laptops: skipped: ${missing}`);
    return;
  }
  const rig = await startPhaseLaptops({ skewMs: 300, jitterMs: 30 });
  try {
    const s = await samplePhase(rig.laptops, { count: 300, intervalMs: 10, deadlineMs: 90_000 });
    const p99 = percentile(s.frames, 0.99);
    report(
      `two laptops (netns daemons, one clock 300 ms off, one page with 0-30 ms jitter): phase difference p50 ${percentile(s.frames, 0.5).toFixed(3)} frames, p99 ${p99.toFixed(3)} frames over ${s.frames.length} instants (${(p99 / Math.max(baseline, 1e-3)).toFixed(1)}× the no-jitter baseline's p99)`,
    );
  } finally {
    await rig.close();
  }
}

export async function run(report: (line: string) => void): Promise<void> {
  const missing = missingTool('/usr/bin/chromium', 'chromium');
  if (missing) {
    report(`skipped: ${missing}`);
    return;
  }
  await frameTimes(report);
  await websocketRate(report);
  await phaseOnTwoLaptops(report, await phase(report));
}
