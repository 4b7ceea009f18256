import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ParamView } from '../../daemon/control/handlers.ts';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import type { FadeViewStatus, LaunchStatus } from '../../daemon/scenes/fade-view.ts';
import { control, eventually, type TestDaemon } from '../helpers/daemon.ts';
import { type Mesh, meshUnavailable, startMesh } from '../helpers/mesh.ts';

// Issue 13's quantized scene load on three laptops, each in its own network namespace on one
// switch: laptop 1 launches a scene on the next bar with a fade of 2 beats, and every laptop
// starts the fade on that beat. Each laptop records the session time (and beat) at which it
// started; the test reads them over each control socket and checks they agree within 2 ms. Then
// a laptop demoted to observer cannot launch on the others, and a launch that reaches a laptop
// again later (a restart restores it, anti-entropy brings it back) moves nothing.

const skip = meshUnavailable();
const LINK_MS = 30_000;
const POLL_MS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ask = async <T>(d: TestDaemon, method: string, params: unknown = {}) =>
  (await control(d, method, params)) as T;
const until = (check: () => Promise<boolean>, ms: number) => eventually(check, ms / POLL_MS, POLL_MS);
const status = (d: TestDaemon) => ask<DaemonStatus>(d, 'status');
const launches = async (d: TestDaemon) => (await ask<FadeViewStatus>(d, 'scene.status')).launches;
const valuesOf = async (d: TestDaemon, pattern: string) =>
  Object.fromEntries(
    (await ask<{ params: ParamView[] }>(d, 'get', { pattern })).params.map((p) => [p.path, p.value]),
  );
const set = (d: TestDaemon, path: string, value: string) => ask(d, 'set', { path, words: [value] });

async function same(daemons: readonly TestDaemon[], pattern: string): Promise<boolean> {
  const views = await Promise.all(daemons.map((d) => valuesOf(d, pattern).then((v) => JSON.stringify(v))));
  return views.every((v) => v === views[0]);
}

const START = {
  '/layer/1/opacity': '0',
  '/layer/1/color': '#000000',
  '/master/blackout': 'false',
  '/scene': '1',
};
const TARGET = {
  '/layer/1/opacity': '1',
  '/layer/1/color': '#ff8000',
  '/master/blackout': 'true',
  '/scene': '7',
};

describe('a quantized scene launch on three namespaced laptops', { skip }, () => {
  let mesh: Mesh;
  let all: TestDaemon[];
  before(async () => {
    mesh = await startMesh({ count: 3, config: () => ({ sync: { antiEntropyMs: 300 } }) });
    all = mesh.daemons;
    for (const d of all)
      assert.ok(await until(async () => (await status(d)).sync.links === 2, LINK_MS), 'the three link');
  });
  after(async () => {
    await mesh?.close();
  });

  it('every laptop starts the fade on the same beat, within 2 ms of session time', async () => {
    const [a] = all as [TestDaemon];
    await set(a, '/tempo', '120');
    for (const d of all)
      assert.ok(
        await until(async () => {
          const c = (await status(d)).sync.clock;
          return c.timeline !== null && c.leaderLinked && (c.errorMs ?? 99) < 1;
        }, LINK_MS),
        'every laptop follows the shared beat',
      );
    for (const [p, v] of Object.entries(TARGET)) await set(a, p, v);
    const saved = await a.cli('scene', 'save', 'chorus');
    assert.equal(saved.code, 0, saved.stderr);
    for (const [p, v] of Object.entries(START)) await set(a, p, v);
    assert.ok(await until(() => same(all, '//*'), 15_000), 'all agree before the launch');

    const load = await a.cli('scene', 'load', 'chorus', '--at', 'bar', '--fade', '2b');
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stdout, /starting on beat \d+\.00 \(next bar\), fade 2b/);

    // While it waits and fades, watch what each laptop shows.
    const between = new Set<number>();
    const done = await until(async () => {
      for (const d of all) {
        const o = (await valuesOf(d, '/layer/1/opacity'))['/layer/1/opacity'] as number;
        if (o > 0 && o < 1) between.add(all.indexOf(d));
      }
      const ls = await Promise.all(all.map(launches));
      return ls.every((l) => l.at(-1)?.state === 'done');
    }, 15_000);
    assert.ok(done, 'the fade ran to its end on every laptop');
    const ls = (await Promise.all(all.map(launches))).map((l) => l.at(-1)!) as LaunchStatus[];
    const startBeat = ls[0]!.startBeat!;
    assert.equal(startBeat % 4, 0, 'on a bar');
    for (const l of ls) {
      assert.equal(l.scene, 'chorus');
      assert.equal(l.origin, a.deviceId);
      assert.equal(l.startBeat, startBeat);
    }
    const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);
    const f3 = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(', ');
    const s = ls.map((l) => l.startedAt!);
    const from = spread(s.map((x) => x.fromSessionMs));
    const fromOwn = spread(s.map((x) => x.fromOwnMs));
    const reached = spread(s.map((x) => x.sessionMs));
    console.log(
      `# fade start on 3 laptops, bar at beat ${startBeat}: rendered from the same session time within ${from.toFixed(3)} ms; ` +
        `that instant on each laptop's own clock (one clock for all namespaces) within ${fromOwn.toFixed(3)} ms ` +
        `(offsets to the leader ${f3(s.map((x) => x.fromSessionMs - x.fromOwnMs))} ms, error bounds ${f3(s.map((x) => x.errorMs ?? Number.NaN))} ms); ` +
        `each loop reached it ${f3(s.map((x) => x.lateMs))} ms late (spread ${reached.toFixed(3)} ms of session time), at beats ${s.map((x) => x.beat!.toFixed(5)).join(', ')}; each heard of the launch ${f3(ls.map((l) => l.leadMs ?? Number.NaN))} ms before the start`,
    );
    assert.ok(from <= 2, `the three render the fade from one session time within 2 ms (${from} ms)`);
    assert.ok(fromOwn <= 2, `…which is one instant within 2 ms on the one clock they share (${fromOwn} ms)`);
    for (const x of s) {
      assert.ok(x.beat! >= startBeat, `no laptop starts before the bar (${x.beat})`);
      // Only a gross bound: the loop's lateness is the machine's load (reported above; 200 ms
      // at a load average of 10 on 2 cores, with other suites running), not the fade's start.
      assert.ok(x.lateMs < 1000, `each loop reaches the start within a second (${x.lateMs} ms)`);
    }
    assert.ok(between.size > 0, 'some laptop showed the opacity part way through the fade');
    assert.ok(await until(() => same(all, '//*'), 15_000), 'all end on the same values');
    assert.deepEqual(await valuesOf(all[2]!, '/layer/1/*'), {
      '/layer/1/opacity': 1,
      '/layer/1/hue': 0,
      '/layer/1/blend': 'normal',
      '/layer/1/deck': 'a',
      '/layer/1/color': '#ff8000ff',
    });
    assert.equal((await valuesOf(all[1]!, '/master/blackout'))['/master/blackout'], true);
  });

  it('an observer cannot launch a scene on the others', async () => {
    const [a, b, c] = all as [TestDaemon, TestDaemon, TestDaemon];
    for (const d of [a, b])
      await ask(d, 'trust.allow', { id: c.deviceId, role: 'observer', name: 'laptop-3' });
    await set(c, '/layer/2/opacity', '0.9');
    const saved = await c.cli('scene', 'save', 'takeover', '--only', '/layer/2/opacity');
    assert.equal(saved.code, 0, saved.stderr);
    const refusedBefore = await Promise.all(
      [a, b].map(async (d) => (await status(d)).rejected['sync-observer-write'] ?? 0),
    );
    const load = await c.cli('scene', 'load', 'takeover', '--at', 'beat', '--fade', '1b');
    assert.equal(load.code, 0, `the observer's own laptop takes its own command: ${load.stderr}`);
    assert.ok(
      await until(async () => {
        const now = await Promise.all(
          [a, b].map(async (d) => (await status(d)).rejected['sync-observer-write'] ?? 0),
        );
        return now.every((n, i) => n > refusedBefore[i]!);
      }, 10_000),
      'both performers refuse the observer’s launch',
    );
    await sleep(2_000); // a beat and its fade, and then some
    for (const d of [a, b]) {
      const l = await launches(d);
      assert.deepEqual(
        l.filter((x) => x.origin === c.deviceId),
        [],
        'no launch from the observer',
      );
      assert.notEqual((await valuesOf(d, '/layer/2/opacity'))['/layer/2/opacity'], 0.9);
    }
  });

  it('a launch that reaches a laptop again later moves nothing', async () => {
    const b = all[1]!;
    const values = await valuesOf(b, '//*');
    await b.stop('SIGTERM', { keepHome: true });
    const b2 = await mesh.restart(1);
    all[1] = b2;
    assert.ok(await until(async () => (await status(b2)).sync.links >= 1, LINK_MS), 'back on the switch');
    await sleep(1_500); // several anti-entropy rounds
    const l = await launches(b2);
    assert.ok(
      l.every((x) => x.state === 'ignored' || x.state === 'done'),
      JSON.stringify(l),
    );
    assert.ok(
      l.every((x) => x.startedAt === null),
      'nothing started again',
    );
    const now = await valuesOf(b2, '//*');
    for (const p of Object.keys(TARGET)) assert.deepEqual(now[p], values[p], p);
  });
});
