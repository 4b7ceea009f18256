import type { Page } from 'playwright-core';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import { launchChromiumIn } from './chromium-netns.ts';
import { control, eventually, type TestDaemon } from './daemon.ts';
import { type Mesh, meshUnavailable, startMesh } from './mesh.ts';
import { CHROMIUM } from './output-page.ts';
import { skewedClockEnv } from './skewed-clock.ts';
import { missingTool } from './tools.ts';

// Issue 16's "two projectors in phase" on two laptops: two real daemons, each in its own network
// namespace on one switch, linked by DTLS and following one session timeline; each daemon's
// output page open in a headless Chromium started inside that daemon's namespace (the page is
// served on the namespace's loopback only). Shared by test/integration/output-phase-netns.test.ts
// and `npm run bench -- output`.
//
// Both browsers run on this one machine, so CLOCK_MONOTONIC is one clock for both; each page's
// performance.now() is that clock from its own origin, and the origin is measured here against
// process.hrtime (the tightest of many brackets around a page evaluate). The pages are then asked
// for the beat they show at the same monotonic instant (hanaOutput.beatAt).

export const FPS = 60;
export const TEMPO = 120;
/** One frame, in beats. */
export const FRAME_BEATS = (1 / FPS) * (TEMPO / 60);
const LINK_MS = 60_000;
const POLL_MS = 100;
const KEEP = 'hana.examples.beat-strobe';
const DROP = [
  'hana.examples.geometry',
  'hana.examples.lfo',
  'hana.examples.isf-plasma',
  'hana.examples.isf-rings',
  'hana.examples.isf-trails',
];

/** Why the two laptops cannot run here: root and `ip` (and nft) for the mesh, and Chromium. */
export function phaseLaptopsUnavailable(): string | undefined {
  return meshUnavailable() ?? missingTool(CHROMIUM, 'chromium');
}

/**
 * An init script that delivers every WebSocket message to the page late by a random 0-`maxMs`
 * ms, in order, as a busy laptop does (the page's link is loopback, where netem would not help,
 * and this kernel has no netem anyway). Installed before the page's own script runs.
 */
export const jitterScript = (maxMs: number) => `(() => {
  const Native = WebSocket;
  class Late extends Native {
    set onmessage(fn) {
      let chain = 0;
      super.onmessage = (e) => {
        chain = Math.max(chain, performance.now() + Math.random() * ${Number(maxMs)});
        // A new event: its timeStamp is when it is delivered, as if the network were late.
        setTimeout(() => fn.call(this, new MessageEvent('message', { data: e.data })), chain - performance.now());
      };
    }
    get onmessage() { return super.onmessage; }
  }
  globalThis.WebSocket = Late;
})();`;

const monoMs = () => Number(process.hrtime.bigint()) / 1e6;

/** A page's performance.now() minus CLOCK_MONOTONIC (ms), and how far that may be off. */
export type PageClock = { page: Page; minusMonoMs: number; errorMs: number };

/**
 * The tightest of up to `tries` brackets of process.hrtime around the page reading
 * performance.now(), stopping at one within `goodMs`. On a loaded machine most round trips take
 * several ms; the tightest of a hundred was under 1 ms in every run here.
 */
export async function measurePageClock(page: Page, tries = 200, goodMs = 0.25): Promise<PageClock> {
  let best: PageClock = { page, minusMonoMs: 0, errorMs: Number.POSITIVE_INFINITY };
  for (let k = 0; k < tries && best.errorMs > goodMs; k++) {
    const t0 = monoMs();
    const p = await page.evaluate(() => performance.now());
    const t1 = monoMs();
    if ((t1 - t0) / 2 < best.errorMs) best = { page, minusMonoMs: p - (t0 + t1) / 2, errorMs: (t1 - t0) / 2 };
  }
  return best;
}

type Hana = {
  hanaOutput: {
    beatAt(epochMs: number): number | null;
    stats(): { received: number; beat: number | null };
  };
};

/**
 * What one page shows: `at`, the beat at the instant asked for (by its timeline); `lag`, how far
 * the frame on its canvas is behind the beat the timeline names at the moment it answers, in
 * frames. Frames shown by the timeline lag by 0 to about a frame and a screen refresh; a frame
 * shown on arrival is ahead of it (the timeline plays 40 ms behind), a negative lag.
 */
export type Shown = { at: number; lag: number };

/** What each page shows at one CLOCK_MONOTONIC instant (now), each asked in its own clock. */
export async function shownAtOneInstant(clocks: readonly PageClock[]): Promise<Shown[]> {
  const t = monoMs();
  return Promise.all(
    clocks.map(async (c) => {
      const r = await c.page.evaluate((local) => {
        const o = (globalThis as never as Hana).hanaOutput;
        const now = o.beatAt(performance.timeOrigin + performance.now());
        const screen = o.stats().beat;
        return {
          at: o.beatAt(performance.timeOrigin + local),
          lag: now === null || screen === null ? null : now - screen,
        };
      }, t + c.minusMonoMs);
      if (r.at === null || r.lag === null) throw new Error('a page shows no frame');
      return { at: r.at, lag: r.lag / FRAME_BEATS };
    }),
  );
}

export type Laptop = { daemon: TestDaemon; namespace: string; page: Page; clock: PageClock };

export type PhaseLaptops = {
  readonly mesh: Mesh;
  readonly laptops: Laptop[];
  /** Each daemon's session clock as `hana status` reports it. */
  clocks(): Promise<DaemonStatus['sync']['clock'][]>;
  close(): Promise<void>;
};

export type PhaseLaptopsInit = {
  /** Laptop 2's wall clock is this far off the host's (ms); laptop 1 sets the tempo and leads. */
  skewMs: number;
  /** Laptop 1's page gets its frames late by a random 0-jitterMs ms each. */
  jitterMs: number;
  /** Progress lines (what is being waited for), for a bench or a failing test's output. */
  say?: (line: string) => void;
};

const status = async (d: TestDaemon) => (await control(d, 'status')) as DaemonStatus;
const until = (check: () => Promise<boolean>, ms: number) => eventually(check, ms / POLL_MS, POLL_MS);

/**
 * Two laptops linked, /tempo set on laptop 1, each one's page showing its own daemon's frames
 * (the bundled beat strobe alone, at 60 fps) and holding four seconds of them.
 */
export async function startPhaseLaptops(init: PhaseLaptopsInit): Promise<PhaseLaptops> {
  const say = init.say ?? (() => {});
  const mesh = await startMesh({
    count: 2,
    config: () => ({
      // The bundled examples are the signed plugins a fresh daemon has; all but the strobe are
      // disabled below so that two daemons and two browsers fit on a loaded 2-core machine.
      plugins: { enabled: true, bundledExamples: true, frameRate: FPS, width: 320, height: 180 },
    }),
    env: (i) => (i === 1 && init.skewMs !== 0 ? skewedClockEnv(init.skewMs) : undefined),
  });
  const browsers: Array<{ close(): Promise<void> }> = [];
  const close = async () => {
    for (const b of browsers) await b.close();
    await mesh.close();
  };
  try {
    const daemons = mesh.daemons;
    const namespaces = mesh.namespaces.slice(1, 3);
    say('waiting for the two daemons to link');
    for (const d of daemons)
      if (!(await until(async () => (await status(d)).sync.links === 1, LINK_MS)))
        throw new Error('the two laptops did not link');
    await control(daemons[0]!, 'set', { path: '/tempo', words: [String(TEMPO)] });
    say('waiting for both to follow the shared timeline');
    for (const d of daemons) {
      const following = await until(async () => {
        const c = (await status(d)).sync.clock;
        return c.timeline !== null && c.leaderLinked && (c.errorMs ?? 99) < 1 && c.tempo === TEMPO;
      }, LINK_MS);
      if (!following) throw new Error('a laptop does not follow the shared timeline');
    }
    for (const d of daemons)
      for (const id of DROP) {
        const r = await d.cli('plugin', 'disable', id);
        if (r.code !== 0) throw new Error(`plugin disable ${id}: ${r.stderr}`);
      }
    const laptops: Laptop[] = [];
    for (const [i, d] of daemons.entries()) {
      const b = await launchChromiumIn(namespaces[i]!);
      browsers.push(b);
      const context = await b.browser.newContext({ viewport: { width: 160, height: 90 } });
      if (i === 0 && init.jitterMs > 0) await context.addInitScript(jitterScript(init.jitterMs));
      const page = await context.newPage();
      const { url } = (await control(d, 'output.url')) as { url: string };
      await page.goto(url);
      laptops.push({
        daemon: d,
        namespace: namespaces[i]!,
        page,
        clock: { page, minusMonoMs: 0, errorMs: 0 },
      });
    }
    say('waiting for four seconds of frames on each page');
    const received = (p: Page) => p.evaluate(() => (globalThis as never as Hana).hanaOutput.stats().received);
    for (const l of laptops)
      if (!(await until(async () => (await received(l.page)) >= 4 * FPS, LINK_MS)))
        throw new Error(`the page in ${l.namespace} got ${await received(l.page)} frames, not ${4 * FPS}`);
    // Measured once the pages are busy only drawing: right after loading, round trips are long.
    for (const l of laptops) l.clock = await measurePageClock(l.page);
    const running = (await status(daemons[0]!)).plugins?.plugins.map((p) => p.id) ?? [];
    if (!running.includes(KEEP)) throw new Error(`${KEEP} is not running: ${running.join(', ')}`);
    return {
      mesh,
      laptops,
      clocks: async () => Promise.all(daemons.map(async (d) => (await status(d)).sync.clock)),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export type PhaseSamples = {
  /** |beat on laptop 1's page − beat on laptop 2's| at each instant, in frames. */
  frames: number[];
  /** Each page's lags (Shown), in frames. */
  lags: number[][];
  /** How far each page's mapping to CLOCK_MONOTONIC may be off (ms), at the start and the end. */
  clockErrorMs: number[];
  /** How much each page's measured origin moved between the start and the end (ms). */
  clockMovedMs: number[];
};

/** `count` instants `intervalMs` apart, stopping early at `deadlineMs` of real time. */
export async function samplePhase(
  laptops: readonly Laptop[],
  opts: { count: number; intervalMs: number; deadlineMs: number },
): Promise<PhaseSamples> {
  const clocks = laptops.map((l) => l.clock);
  const frames: number[] = [];
  const lags: number[][] = laptops.map(() => []);
  const end = Date.now() + opts.deadlineMs;
  while (frames.length < opts.count && Date.now() < end) {
    const shown = await shownAtOneInstant(clocks);
    frames.push(Math.abs(shown[0]!.at - shown[1]!.at) / FRAME_BEATS);
    for (const [i, s] of shown.entries()) lags[i]!.push(s.lag);
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
  const again = await Promise.all(laptops.map((l) => measurePageClock(l.page)));
  return {
    frames,
    lags,
    clockErrorMs: [...clocks, ...again].map((c) => c.errorMs),
    clockMovedMs: again.map((c, i) => c.minusMonoMs - clocks[i]!.minusMonoMs),
  };
}

export const percentile = (xs: readonly number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
