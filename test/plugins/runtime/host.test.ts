import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ComposedFrame } from '../../../plugins/display-list.ts';
import * as src from '../../fixtures/plugins/sources.ts';
import { eventually } from '../../helpers/daemon.ts';
import { alive, closeHosts, type HostRun as Run, runHost as run } from './host-harness.ts';

// The plugin host as a real child process: frames, parameters and the clock cross the IPC
// channel; the child is killed (SIGKILL), aborted (the catastrophic-error path) and hung, and
// the daemon side brings it back each time while frames resume.

afterEach(closeHosts);

const lastFrame = (r: Run) => ComposedFrame.parse(JSON.parse(r.frames.at(-1)!.json));
const goodFrames = (r: Run, id = 'com.example.good') =>
  r.host.stats().plugins.find((p) => p.id === id)?.frames ?? 0;

describe('plugin host (child process)', () => {
  it('streams composed frames with the daemon’s clock and parameters, and passes writes back', async () => {
    const r = run(
      [
        src.spec('com.example.good', src.GOOD),
        src.spec(
          'com.example.probe',
          `var plugin = { frame(f) { hana.set('/strobe', true); return [{ op: 'text', x: 0, y: 0, text: JSON.stringify([f.params, f.tempo, f.beat >= 42]) }]; } };`,
          {
            reads: ['/layer/*/opacity'],
            writes: ['/strobe'],
          },
        ),
      ],
      { params: { '/layer/1/opacity': 0.25 } },
    );
    await r.host.ready();
    assert.ok(await eventually(() => r.count() > 10, 200, 25));
    r.host.updateParams([
      { path: '/layer/2/opacity', value: 1 },
      { path: '/tempo', value: 150 },
    ]);
    const probeText = () => {
      const layer = lastFrame(r).layers.find((l) => l.id === 'com.example.probe');
      return layer ? (layer.commands[0] as { text: string }).text : '';
    };
    assert.ok(
      await eventually(
        () => probeText() === JSON.stringify([{ '/layer/1/opacity': 0.25, '/layer/2/opacity': 1 }, 90, true]),
        200,
        25,
      ),
      probeText(),
    );
    const f = lastFrame(r);
    assert.ok(f.time >= 1000, 'session time comes from the daemon clock');
    assert.equal(f.width, 320);
    assert.ok(r.writes.length > 0);
    assert.deepEqual(r.writes[0], ['com.example.probe', [{ path: '/strobe', value: true }]]);
    const stats = r.host.stats();
    assert.equal(stats.host.state, 'running');
    assert.ok(stats.host.pid && alive(stats.host.pid));
    assert.equal(stats.plugins.length, 2);
  });

  it('survives SIGKILL of the child: crash and restart events, a new process, frames resume, counters kept', async () => {
    const r = run([src.spec('com.example.good', src.GOOD)]);
    await r.host.ready();
    assert.ok(await eventually(() => goodFrames(r) > 20, 200, 25));
    const pid = r.host.stats().host.pid!;
    const before = goodFrames(r);
    process.kill(pid, 'SIGKILL');
    assert.ok(await eventually(() => r.events.some((e) => e.kind === 'host-restart'), 200, 25));
    const crash = r.events.find((e) => e.kind === 'host-crash');
    assert.match(crash?.reason ?? '', /SIGKILL/);
    const after = r.count();
    assert.ok(await eventually(() => r.count() > after + 20, 200, 25), 'frames resume');
    const stats = r.host.stats();
    assert.notEqual(stats.host.pid, pid);
    assert.equal(stats.host.restarts, 1);
    assert.ok(goodFrames(r) > before, 'frame counters carry over the crash');
    assert.ok(!alive(pid));
  });

  it('keeps "no page watching" across a restart of the child: the restarted host does not draw for nobody', async () => {
    const r = run([
      src.spec('com.example.good', src.GOOD),
      src.spec('com.example.w', src.writer([['/strobe', true]]), { writes: ['/strobe'] }),
    ]);
    await r.host.ready();
    r.host.setWatched(false);
    assert.equal(r.host.stats().host.watched, false);
    process.kill(r.host.stats().host.pid!, 'SIGKILL');
    assert.ok(await eventually(() => r.events.some((e) => e.kind === 'host-restart'), 200, 25));
    await r.host.ready();
    const writes = r.writes.length;
    assert.ok(
      await eventually(() => r.writes.length > writes + 3, 200, 25),
      'the writer runs in the new child',
    );
    const frames = r.count();
    const drew = goodFrames(r);
    const wrote = r.writes.length;
    assert.ok(await eventually(() => r.writes.length > wrote + 3, 200, 25));
    assert.equal(r.count(), frames, 'no frames composed');
    assert.equal(goodFrames(r), drew, 'the drawing plugin stays paused');
    r.host.setWatched(true);
    assert.ok(
      await eventually(() => goodFrames(r) > drew + 5 && r.count() > frames, 200, 25),
      'drawing again',
    );
  });

  // Issue 18: an idle daemon and its host still talked 14 times a second (a clock sample every
  // 100 ms, stats every 250 ms) and the LFO wrote 10 times a second for nobody.
  it('with no page and nothing taking the writes, the host runs no plugin and the IPC slows to about a message a second each way', async () => {
    const r = run(
      [
        src.spec('com.example.good', src.GOOD),
        src.spec('com.example.w', src.writer([['/strobe', true]]), { writes: ['/strobe'] }),
      ],
      { watched: false, writesNeeded: false },
    );
    await r.host.ready();
    await new Promise((res) => setTimeout(res, 1500)); // what start-up sends settles
    const m0 = { ...r.host.stats().host.messages };
    const wrote = r.writes.length;
    const t0 = performance.now();
    await new Promise((res) => setTimeout(res, 3000));
    const s = r.host.stats().host.messages;
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(r.writes.length, wrote, 'the writer is paused: nothing takes its writes');
    assert.equal(r.count(), 0, 'no frame');
    assert.equal(r.host.stats().host.writesNeeded, false);
    // Timers only run late on a loaded machine, so these bounds hold however slow it is;
    // active, the same window holds ~10 clock samples and ~4 stats a second.
    assert.ok(s.sent - m0.sent <= Math.ceil(seconds) + 1, `to the host: ${s.sent - m0.sent} in ${seconds} s`);
    assert.ok(
      s.received - m0.received <= Math.ceil(seconds) + 1,
      `from the host: ${s.received - m0.received} in ${seconds} s`,
    );

    r.host.setWritesNeeded(true);
    assert.ok(await eventually(() => r.writes.length > wrote + 3, 200, 25), 'an audience wakes the writer');
    assert.equal(r.count(), 0, 'still no picture for nobody');
  });

  it('a catastrophic isolate error aborts the child; the plugin named in it is quarantined after repeated crashes', async () => {
    const r = run([src.spec('com.example.good', src.GOOD), src.spec('com.example.doomed', src.GOOD)], {
      testHooks: true,
    });
    for (let i = 1; i <= 2; i++) {
      await r.host.ready();
      // The hook calls the same handler isolated-vm's onCatastrophicError calls.
      r.host.testHook({ kind: 'catastrophic', plugin: 'com.example.doomed' });
      assert.ok(
        await eventually(() => r.events.filter((e) => e.kind === 'host-restart').length === i, 400, 25),
      );
    }
    const crashes = r.events.filter((e) => e.kind === 'host-crash');
    assert.equal(crashes.length, 2);
    assert.equal(crashes[0]!.plugin, 'com.example.doomed');
    assert.match(crashes[0]!.reason, /catastrophic isolate error: simulated/);
    const q = r.events.find((e) => e.kind === 'quarantine');
    assert.equal(q?.plugin, 'com.example.doomed');
    await r.host.ready();
    assert.ok(
      await eventually(
        () => r.host.stats().plugins.find((p) => p.id === 'com.example.doomed')?.state === 'quarantined',
        200,
        25,
      ),
    );
    const good = goodFrames(r);
    assert.ok(await eventually(() => goodFrames(r) > good + 20, 200, 25), 'the other plugin keeps drawing');
    assert.equal(r.host.enable('com.example.doomed'), true);
    assert.ok(
      await eventually(
        () => r.host.stats().plugins.find((p) => p.id === 'com.example.doomed')?.state === 'running',
        200,
        25,
      ),
    );
  });

  it('kills and restarts a child that stops answering', async () => {
    const r = run([src.spec('com.example.good', src.GOOD)], { testHooks: true, unresponsiveMs: 1000 });
    await r.host.ready();
    const pid = r.host.stats().host.pid!;
    r.host.testHook({ kind: 'hang' });
    assert.ok(await eventually(() => r.events.some((e) => e.kind === 'host-restart'), 400, 25));
    assert.match(r.events.find((e) => e.kind === 'host-crash')?.reason ?? '', /hung/);
    assert.ok(!alive(pid));
    const n = r.count();
    assert.ok(await eventually(() => r.count() > n + 10, 200, 25));
  });

  it('contains every adversary at once in the child while the good plugin keeps drawing', async () => {
    const adversaries = [
      ['loop', src.INFINITE_LOOP, {}],
      ['micro', src.MICROTASK_CHAIN, {}],
      ['spin', src.ASYNC_SPIN, {}],
      ['bomb', src.MEMORY_BOMB, { limits: { memoryMb: 8, cpuMsPerFrame: 50 } }],
      ['giant', src.TOO_MANY_BYTES, { limits: { cpuMsPerFrame: 50 } }],
      ['throws', src.THROWS, {}],
      ['nan', src.NAN_OUTPUT, {}],
      ['reach', src.HOST_REACH, {}],
      ['pollute', src.POLLUTE_TOJSON, {}],
      ['forge', src.FORGED_WRITES, { writes: ['/strobe'] }],
    ] as const;
    const r = run([
      src.spec('com.example.good', src.GOOD),
      ...adversaries.map(([name, source, extra]) => src.spec(`com.example.${name}`, source, extra)),
    ]);
    await r.host.ready();
    const quarantinable = ['loop', 'micro', 'spin', 'bomb', 'giant', 'throws', 'nan', 'pollute'];
    const state = (name: string) => r.host.stats().plugins.find((p) => p.id === `com.example.${name}`)?.state;
    assert.ok(
      await eventually(() => quarantinable.every((n) => state(n) === 'quarantined'), 1200, 25),
      JSON.stringify(r.host.stats().plugins.map((p) => [p.id, p.state])),
    );
    const good = goodFrames(r);
    assert.ok(good > 10, `the good plugin drew ${good} frames meanwhile`);
    assert.ok(await eventually(() => goodFrames(r) > good + 30, 200, 25));
    assert.equal(state('reach'), 'running');
    assert.equal(state('forge'), 'running');
    assert.ok((r.host.stats().plugins.find((p) => p.id === 'com.example.forge')?.refusedWrites ?? 0) > 0);
    assert.equal(r.host.stats().host.restarts, 0, 'the child itself never went down');
    assert.deepEqual(r.writes, []);
  });

  it('drops frames instead of queueing them while the daemon is busy', async () => {
    const big = `var plugin = { frame(f) { const out = []; for (let i = 0; i < 1500; i++) out.push({ op: 'circle', x: i, y: f.index % 100, r: 1 }); return out; } };`;
    const r = run([src.spec('com.example.big', big, { limits: { cpuMsPerFrame: 50 } })]);
    await r.host.ready();
    assert.ok(await eventually(() => r.count() > 10, 400, 25));
    // Block this event loop for a while: the child cannot hand over frames (about 60 KB each).
    const until = performance.now() + 1500;
    while (performance.now() < until) {}
    assert.ok(await eventually(() => r.host.stats().host.droppedFrames > 0, 200, 25));
    const n = r.count();
    assert.ok(await eventually(() => r.count() > n + 10, 200, 25), 'frames flow again');
    // What arrived is whole: the latest frame parses and validates.
    assert.equal(lastFrame(r).layers[0]!.commands.length, 1500);
  });

  it('close() ends the child process', async () => {
    const r = run([src.spec('com.example.good', src.GOOD)]);
    await r.host.ready();
    const pid = r.host.stats().host.pid!;
    await r.host.close();
    assert.ok(!alive(pid));
    assert.equal(r.host.stats().host.state, 'closed');
  });
});
