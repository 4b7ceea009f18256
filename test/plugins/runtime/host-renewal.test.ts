import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import type { PluginHost, TestHook } from '../../../plugins/runtime/host-types.ts';
import * as src from '../../fixtures/plugins/sources.ts';
import { waitFor } from '../../helpers/wait.ts';
import { alive, closeHosts, type HostRun, runHost } from './host-harness.ts';

// Planned renewal of the plugin host (host.ts), with real child processes: a child past the
// renewal mark is replaced by a fresh one that takes over once its plugins have started, with no
// crash, no bisection and no frame without a layer; a successor that never gets going is dropped
// and the old child keeps drawing. The mark is 1 MiB here so that every child is past it.

afterEach(closeHosts);

const IDS = ['com.example.a', 'com.example.b'];
const plugins = () => IDS.map((id) => src.spec(id, src.GOOD));
/** Events of the host's own faults (a plugin's starved or overrun frames under load are not). */
const HOST_FAULTS = new Set(['host-crash', 'host-restart', 'bisect', 'quarantine', 'restart', 'load-failed']);
const hostEvents = (r: HostRun) => r.events.filter((e) => HOST_FAULTS.has(e.kind));

/** A host whose first successor stalls before `ready` (within a minute): a renewal under way for as long as a test needs. */
async function warmingForever(): Promise<HostRun> {
  const r = runHost(plugins(), {
    testHooks: true,
    readyTimeoutMs: 60_000,
    renewal: { rssMb: 1, minAgeMs: 1000 },
  });
  // The first child is forked already: the next one forked is the first successor.
  r.host.testHook({ kind: 'stall-next-start' });
  assert.ok(await waitFor(() => IDS.every((id) => r.layers().includes(id)), 60_000));
  assert.ok(await waitFor(() => r.lines.some((l) => l.event === 'plugin.host-renewing'), 60_000));
  return r;
}

/** A host whose first successor is made to fail by `fault`; returns once that successor is dropped. */
async function faultySuccessor(fault: TestHook): Promise<{ r: HostRun; abandoned: Record<string, unknown> }> {
  const r = runHost(plugins(), {
    testHooks: true,
    renewal: { rssMb: 1, minAgeMs: 1000 },
  });
  const first = r.host.stats().host.pid!;
  // The first child is forked already: the next one forked is the first successor.
  r.host.testHook(fault);
  assert.ok(await waitFor(() => IDS.every((id) => r.layers().includes(id)), 60_000));
  const find = () => r.lines.find((l) => l.event === 'plugin.host-renewal-abandoned');
  assert.ok(await waitFor(() => find() !== undefined, 60_000), 'the successor was dropped');
  assert.equal(r.host.stats().host.pid, first, 'the old child still runs the show');
  assert.equal(r.host.stats().host.renewals, 0);
  return { r, abandoned: find()! };
}

/** After a dropped successor: no fault shown, every plugin drawing, and the next renewal, a child-age later, takes over. */
async function showGoesOn(r: HostRun): Promise<void> {
  assert.deepEqual(hostEvents(r), []);
  assert.ok(r.host.stats().plugins.every((p) => p.state === 'running'));
  assert.ok(await waitFor(() => IDS.every((id) => r.layers().includes(id)), 30_000));
  assert.ok(await waitFor(() => r.host.stats().host.renewals >= 1, 60_000));
  assert.ok(await waitFor(() => IDS.every((id) => r.layers().includes(id)), 30_000));
  assert.deepEqual(hostEvents(r), []);
}

describe('plugin host renewal', () => {
  it('hands over to a fresh child without a crash, a bisection or a frame missing a layer', async () => {
    const r = runHost(plugins(), { renewal: { rssMb: 1, minAgeMs: 1500 } });
    assert.ok(await waitFor(() => IDS.every((id) => r.layers().includes(id)), 60_000));
    const seen = new Set<number>([r.host.stats().host.pid!]);
    // Every frame from here on must carry both layers: the old child draws until the new one has
    // started its plugins. The harness keeps the last 200 frames; count them as they come.
    let checked = 0;
    let missing = 0;
    let lastCount = r.count();
    const watch = setInterval(() => {
      const fresh = Math.min(r.count() - lastCount, r.frames.length);
      for (const f of r.frames.slice(r.frames.length - fresh)) {
        const ids = (JSON.parse(f.json) as { layers: { id: string }[] }).layers.map((l) => l.id);
        checked++;
        if (!IDS.every((id) => ids.includes(id))) missing++;
      }
      lastCount = r.count();
      const pid = r.host.stats().host.pid;
      if (pid) seen.add(pid);
    }, 20);
    try {
      assert.ok(
        await waitFor(() => r.host.stats().host.renewals >= 2, 90_000),
        JSON.stringify(r.lines.filter((l) => String(l.event).startsWith('plugin.host'))),
      );
    } finally {
      clearInterval(watch);
    }
    // Read at once: the fresh child has not reported yet, and its plugins are drawing already.
    const fpsAtHandover = r.host.stats().plugins.map((p) => p.fps);
    const host = r.host.stats().host;
    seen.add(host.pid!); // the watcher may not have ticked since the last handover
    assert.ok(
      fpsAtHandover.every((fps) => fps > 0),
      `fps shown as 0 right after the handover: ${fpsAtHandover}`,
    );
    assert.equal(host.restarts, 0, 'a renewal is not a restart');
    assert.equal(host.rssKills, 0);
    assert.equal(host.renewRssMb, 1);
    assert.deepEqual(hostEvents(r), [], 'no crash, bisection or quarantine event');
    assert.ok(checked > 0);
    assert.equal(missing, 0, `${missing} of ${checked} frames lacked a layer during the handovers`);
    assert.ok(seen.size >= 3, `three children in turn: ${[...seen]}`);
    const renewed = r.lines.filter((l) => l.event === 'plugin.host-renewed');
    assert.ok(renewed.length >= 2);
    // A 1 MiB mark is below what any fresh host holds: each renewal waits twice as long as the
    // last, and the operator is told, instead of renewing every minAgeMs for nothing.
    const low = r.lines.filter((l) => l.event === 'plugin.host-renewal-mark-low');
    assert.ok(low.length >= 1, 'the low mark is reported');
    assert.equal(low[0]!.waitMs, 3000, 'twice minAgeMs after the first');
    assert.ok(r.lines.some((l) => l.event === 'plugin.host-renewing' && typeof l.rssMb === 'number'));
    // The children handed over from are gone (their channel closed, SIGKILL after 2 s at most).
    const current = r.host.stats().host.pid!;
    const old = [...seen].filter((p) => p !== current);
    assert.ok(await waitFor(() => old.every((p) => !alive(p) || p === r.host.stats().host.pid), 30_000));
    // Counters carry over the handover as over a restart: frames keep adding up.
    assert.ok(r.host.stats().plugins.every((p) => p.state === 'running' && p.frames > 0));
  });

  it('a young child is not renewed, whatever it holds: that growth is for the ceiling and the bisection', async () => {
    const r = runHost(plugins(), { renewal: { rssMb: 1, minAgeMs: 3_600_000 } });
    assert.ok(await waitFor(() => IDS.every((id) => r.layers().includes(id)), 60_000));
    // The host reads the child's RSS every 250 ms while it ticks: give it a dozen reads.
    const reads = r.count() + 180;
    assert.ok(await waitFor(() => r.count() >= reads, 60_000));
    assert.ok((r.host.stats().host.rssMb ?? 0) > 1, 'the child was read, past the mark');
    assert.equal(r.host.stats().host.renewals, 0);
    assert.ok(!r.lines.some((l) => l.event === 'plugin.host-renewing'));
  });

  it('waits for a plugin still starting in the running child before forking a successor, which then cannot skip it', async () => {
    // b's setup takes a few hundred ms of CPU: the child is ready, old enough and over the mark
    // while b still starts. A successor forked then expected only a, took over without b, and its
    // failure to load b went unseen (a loaded CI run lost the abandon this test waits for).
    const slow = `var plugin = { setup() { const end = Date.now() + 300; while (Date.now() < end) {} }, frame() { return [{ op: 'clear' }]; } };`;
    const r = runHost([src.spec(IDS[0]!, src.GOOD), src.spec(IDS[1]!, slow)], {
      testHooks: true,
      renewal: { rssMb: 1, minAgeMs: 1 },
    });
    r.host.testHook({ kind: 'fail-load-next-start', plugin: IDS[1]! });
    const find = () => r.lines.find((l) => l.event === 'plugin.host-renewal-abandoned');
    assert.ok(await waitFor(() => find() !== undefined, 60_000), 'the successor was dropped');
    assert.match(String(find()!.msg), /could not run com\.example\.b \(load-failed/);
    assert.equal(r.host.stats().host.renewals, 0, 'no successor took over without b');
  });

  it('the crasher: a successor that never gets ready is dropped, and the old child keeps the show', async () => {
    const r = runHost(plugins(), {
      testHooks: true,
      readyTimeoutMs: 5000,
      renewal: { rssMb: 1, minAgeMs: 1000 },
    });
    // The first child is forked already: the next one forked is the first successor.
    r.host.testHook({ kind: 'stall-next-start' });
    const first = r.host.stats().host.pid!;
    assert.ok(await waitFor(() => IDS.every((id) => r.layers().includes(id)), 60_000));
    assert.ok(
      await waitFor(() => r.lines.some((l) => l.event === 'plugin.host-renewal-abandoned'), 60_000),
      'the stalled successor was dropped',
    );
    const abandoned = r.lines.find((l) => l.event === 'plugin.host-renewal-abandoned')!;
    assert.match(String(abandoned.msg), /did not start its plugins within 5000 ms/);
    assert.equal(r.host.stats().host.pid, first, 'the old child still runs the show');
    assert.equal(r.host.stats().host.renewals, 0);
    const stalled = abandoned.successorPid as number;
    assert.notEqual(stalled, first);
    assert.ok(await waitFor(() => !alive(stalled), 30_000), 'the stalled successor is ended');
    // The next renewal, a child-age later, succeeds.
    assert.ok(await waitFor(() => r.host.stats().host.renewals >= 1, 60_000));
    assert.deepEqual(hostEvents(r), [], 'no crash, bisection or quarantine event');
    assert.equal(r.host.stats().host.restarts, 0);
    assert.ok(await waitFor(() => IDS.every((id) => r.layers().includes(id)), 30_000));
  });

  it('a successor that cannot load a plugin the old child draws is dropped; the old child keeps every layer', async () => {
    const { r, abandoned } = await faultySuccessor({ kind: 'fail-load-next-start', plugin: 'com.example.b' });
    assert.match(String(abandoned.msg), /could not run com\.example\.b \(load-failed: .*simulated by a test/);
    assert.ok(await waitFor(() => !alive(abandoned.successorPid as number), 30_000));
    // The successor's load failure was its own: the operator sees no fault, nothing is quarantined.
    await showGoesOn(r);
  });

  it('the crasher: a successor that dies of a catastrophic error while it warms up is dropped; the old child, its crash counts and its plugins are untouched', async () => {
    const { r, abandoned } = await faultySuccessor({
      kind: 'catastrophic-next-start',
      plugin: 'com.example.b',
    });
    // The operator is told what killed it, and which plugin isolated-vm named.
    assert.match(
      String(abandoned.msg),
      /the fresh host ended \(signal SIGABRT: catastrophic isolate error in com\.example\.b: simulated by a test\) before it took over/,
    );
    assert.equal(abandoned.plugin, 'com.example.b');
    // Not a crash of the show: no host-crash, no restart, no quarantine, no bisection.
    assert.equal(r.host.stats().host.restarts, 0);
    await showGoesOn(r);
  });

  it('a plugin quarantined by the old child while a successor warms up drops the successor, which would run it again', async () => {
    const flaky = src.spec(
      'com.example.flaky',
      `var plugin = { frame(f) { if (f.params['/fail']) throw new Error('told to fail'); return [{ op: 'clear' }]; } };`,
      { reads: ['/fail'] },
    );
    const r = runHost([...plugins(), flaky], {
      testHooks: true,
      readyTimeoutMs: 60_000,
      renewal: { rssMb: 1, minAgeMs: 1000 },
    });
    r.host.testHook({ kind: 'stall-next-start' });
    assert.ok(await waitFor(() => r.lines.some((l) => l.event === 'plugin.host-renewing'), 60_000));
    r.host.updateParams([{ path: '/fail', value: true }]);
    assert.ok(
      await waitFor(
        () => r.events.some((e) => e.kind === 'quarantine' && e.plugin === 'com.example.flaky'),
        60_000,
      ),
    );
    const abandoned = () => r.lines.find((l) => l.event === 'plugin.host-renewal-abandoned');
    assert.ok(await waitFor(() => abandoned() !== undefined, 10_000));
    assert.match(String(abandoned()!.msg), /com\.example\.flaky was quarantined/);
    assert.ok(await waitFor(() => !alive(abandoned()!.successorPid as number), 30_000));
    // The next successor is forked with the plugin held out, and takes over without it.
    assert.ok(await waitFor(() => r.host.stats().host.renewals >= 1, 60_000));
    assert.ok(await waitFor(() => IDS.every((id) => r.layers().includes(id)), 30_000));
    assert.equal(r.host.stats().plugins.find((p) => p.id === 'com.example.flaky')?.state, 'quarantined');
    assert.equal(
      r.events.filter((e) => e.kind === 'quarantine').length,
      1,
      'quarantined once, by the old child',
    );
  });

  it('parameters set while a successor warms up are in every frame it sends once it takes over', async () => {
    const echo = src.spec(
      'com.example.echo',
      `var plugin = { frame(f) { return [{ op: 'text', x: 0, y: 0, text: 'p=' + f.params['/p'] }]; } };`,
      { reads: ['/p'] },
    );
    // The update is sent from inside the host's own "renewing" log line, so it goes out while
    // the successor is forked and cannot have taken over (it has not even booted): the host must
    // pass it on to the warming successor, as the successor's init was built before it. It waits
    // for the first renewal after a frame with p=1: a loaded machine can take longer to boot the
    // first child than the 1 s a child must live before it is renewed, and an update sent before
    // any frame would leave no p=1 to see (it failed so in CI beside a three-laptop soak).
    const values: string[] = [];
    let sent = false;
    let handedOverAt: number | undefined;
    let host: PluginHost | undefined;
    const log = pino(
      { level: 'info' },
      {
        write(line: string) {
          const event = (JSON.parse(line) as { event?: string }).event;
          if (event === 'plugin.host-renewing' && !sent && values.includes('1')) {
            sent = true;
            host?.updateParams([{ path: '/p', value: 7 }]);
          }
          if (event === 'plugin.host-renewed' && sent) handedOverAt ??= values.length;
        },
      },
    );
    const r = runHost([echo], {
      log,
      renewal: { rssMb: 1, minAgeMs: 1000 },
      onFrame: (f) => values.push(/p=(\w+)/.exec(f.json)?.[1] ?? '?'),
    });
    host = r.host;
    r.host.updateParams([{ path: '/p', value: 1 }]);
    assert.ok(await waitFor(() => values.includes('1'), 60_000), 'a child draws p=1 before the update');
    assert.ok(await waitFor(() => handedOverAt !== undefined && values.length >= handedOverAt + 30, 60_000));
    const fresh = values.slice(handedOverAt);
    assert.deepEqual(
      fresh.filter((v) => v !== '7'),
      [],
      `frames of the fresh host without the value sent while it warmed up: ${fresh.join(',')}`,
    );
  });

  it('a plugin list change while a successor warms up drops the successor; the new list runs', async () => {
    const r = await warmingForever();
    r.host.setPlugins([src.spec('com.example.c', src.GOOD)]);
    const abandoned = () => r.lines.find((l) => l.event === 'plugin.host-renewal-abandoned');
    assert.ok(await waitFor(() => abandoned() !== undefined, 10_000));
    assert.match(String(abandoned()!.msg), /the plugin list changed/);
    assert.ok(await waitFor(() => !alive(abandoned()!.successorPid as number), 30_000));
    assert.ok(await waitFor(() => r.layers().join() === 'com.example.c', 60_000));
    assert.deepEqual(hostEvents(r), []);
  });

  it('close() during a warm-up ends the successor too, before it resolves', async () => {
    const r = await warmingForever();
    const renewing = r.lines.find((l) => l.event === 'plugin.host-renewing')!;
    const pids = [renewing.pid as number, renewing.successorPid as number];
    assert.ok(pids.every(alive));
    await r.host.close();
    assert.deepEqual(pids.map(alive), [false, false], 'both children are gone when close() resolves');
  });
});
