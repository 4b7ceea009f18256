import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { capEvent, EVENT_TEXT, HostEvent } from '../../../plugins/runtime/protocol.ts';
import * as src from '../../fixtures/plugins/sources.ts';
import { waitFor } from '../../helpers/wait.ts';
import { alive, closeHosts, type HostRun, runHost } from './host-harness.ts';

// The plugin host's own faults, with the real child process: a child that never says `ready`,
// crashes that name no plugin (a V8 fatal error, the RSS ceiling) found by bisection, and what
// crosses the IPC boundary capped. Waits are bounded by time; closeHosts() kills the children.

afterEach(closeHosts);

/** The default fault policy, not the harness's quick one: these faults are the host's. */
const run = (plugins: Parameters<typeof runHost>[0], init: Parameters<typeof runHost>[1] = {}) =>
  runHost(plugins, { policy: {}, ...init });
const state = (r: HostRun, id: string) => r.host.stats().plugins.find((p) => p.id === id)?.state;

describe('plugin host faults', () => {
  it('kills a child that never says ready, logs and counts it, and starts another', async () => {
    // Generous: a child takes seconds to start on a loaded machine, and must not be killed for it.
    const r = run([src.spec('com.example.good', src.GOOD)], {
      testHooks: true,
      readyTimeoutMs: 8000,
      probationMs: 1000,
    });
    assert.ok(await waitFor(() => r.host.stats().host.state === 'running', 60_000));
    r.host.testHook({ kind: 'stall-next-start' });
    const first = r.host.stats().host.pid!;
    // A kill from outside names no plugin: it starts a bisection (of one suspect) of its own.
    process.kill(first, 'SIGKILL');
    const notReady = () => r.events.find((e) => e.kind === 'host-crash' && e.code === 'host-not-ready');
    assert.ok(await waitFor(() => notReady() !== undefined, 60_000), 'the stalled child was killed');
    assert.match(notReady()!.reason, /did not get ready within 8000 ms/);
    assert.equal(r.host.stats().host.notReady, 1);
    assert.ok(
      r.lines.some((l) => l.event === 'plugin.host-not-ready'),
      'logged',
    );
    // A child that never got ready ran no plugin code: its kill does not move the bisection.
    assert.deepEqual(
      r.events.filter((e) => e.kind === 'bisect').map((e) => e.code),
      ['bisect-step'],
    );
    assert.ok(
      await waitFor(
        () => r.host.stats().host.bisect === null && r.layers().includes('com.example.good'),
        60_000,
      ),
    );
    assert.deepEqual(
      r.events.filter((e) => e.kind === 'bisect').map((e) => e.code),
      ['bisect-step', 'bisect-clear'],
      'the plugin ran its probation without a crash and nobody is blamed',
    );
    assert.equal(state(r, 'com.example.good'), 'running');
    assert.ok(!alive(first));
  });

  it('the attacker: a V8 fatal error (SIGTRAP, no plugin named) is bisected to its plugin (or, under load, named by isolated-vm), which is quarantined while the others draw', async () => {
    const r = run(
      [
        src.spec('com.example.fatal', src.V8_FATAL),
        src.spec('com.example.good1', src.GOOD),
        src.spec('com.example.good2', src.GOOD),
      ],
      // The ceiling far away, so the crash is V8's own (its string takes the host to 600 MB
      // first). Each crash takes 3-15 s of string work here, so this test takes a while.
      { maxRssMb: 8192 },
    );
    assert.ok(
      await waitFor(() => state(r, 'com.example.fatal') === 'quarantined', 240_000),
      JSON.stringify(r.events.filter((e) => e.kind !== 'started')),
    );
    // What happened, in every message: this failed once in CI and its message said too little.
    const story = JSON.stringify(r.events.filter((e) => e.kind !== 'started' && e.kind !== 'log'));
    const crashes = r.events.filter((e) => e.kind === 'host-crash');
    const q = r.events.find((e) => e.kind === 'quarantine');
    assert.equal(q?.plugin, 'com.example.fatal', story);
    // Two paths, and on a loaded machine a mix of both. V8's own fatal error (SIGTRAP) names no
    // plugin, so bisection finds it. Or the frame's string work outlasts its time limit first:
    // V8 cannot stop the script ("Script failed to terminate"), isolated-vm aborts naming the
    // isolate, and the named plugin is quarantined at its second such crash (seen in CI at load
    // 10-12; at load 9 once mid-bisection, which then went on). Or, with four spinners and a
    // second test file on two cores, the host sent nothing for its unresponsive limit while the
    // string work held it and was killed as hung, naming nobody: bisection then went on the same
    // way. Either way only the culprit is quarantined, and no crash ever names another plugin.
    const unnamed = crashes.filter((c) => c.plugin === undefined);
    const named = crashes.filter((c) => c.plugin !== undefined);
    for (const c of unnamed) assert.match(c.reason, /signal SIGTRAP|\(hung\)$/, story);
    for (const c of named) {
      assert.equal(c.plugin, 'com.example.fatal', story);
      assert.equal(c.code, 'host-catastrophic', story);
    }
    assert.ok(crashes.length <= 5, `a bounded number of host crashes: ${story}`);
    const steps = r.events.filter((e) => e.kind === 'bisect');
    if (q?.code === 'bisect-found') {
      // Three plugins take at most two steps to find one.
      assert.ok(steps.length >= 2 && steps.length <= 3, story);
      assert.deepEqual(
        steps.map((e) => e.code),
        [...steps.slice(0, -1).map(() => 'bisect-step'), 'bisect-found'],
        story,
      );
      assert.match(steps.at(-1)!.reason, /found com\.example\.fatal/);
      // Each step was logged as it happened.
      assert.equal(r.lines.filter((l) => l.event === 'plugin.bisect').length, steps.length);
      if (named.length === 0) {
        // The pure path, exactly: once with all, twice bisecting.
        assert.equal(
          crashes.length,
          3,
          `it crashed the host three times: once with all, twice bisecting: ${story}`,
        );
        assert.match(steps[0]!.reason, /running 2 of 3 plugins.*held out: com\.example\.good2/, story);
        // good2 was held when the host crashed again: it is not the culprit and runs, good1 is held.
        assert.match(
          steps[1]!.reason,
          /running 2 of 3 plugins, 2 suspect\(s\) \(com\.example\.fatal, com\.example\.good1\); held out: com\.example\.good1/,
        );
      }
    } else {
      assert.equal(q?.code, 'host-catastrophic', story);
      assert.ok(named.length >= 2, `quarantined at its second named crash: ${story}`);
      if (unnamed.length === 0) assert.deepEqual(steps, [], story);
    }
    assert.equal(r.events.filter((e) => e.kind === 'quarantine').length, 1, `only the culprit: ${story}`);
    // The other two draw again, the culprit does not, and nothing is held any more.
    assert.ok(
      await waitFor(() => {
        const l = r.layers();
        return (
          l.includes('com.example.good1') &&
          l.includes('com.example.good2') &&
          !l.includes('com.example.fatal')
        );
      }, 30_000),
    );
    assert.equal(r.host.stats().host.bisect, null);
    assert.equal(state(r, 'com.example.good2'), 'running');
  });

  it('kills a child over its RSS ceiling (memory inside its plugins’ limits) and finds the plugin that grew it', async () => {
    const r = run(
      [
        src.spec('com.example.grower', src.memoryGrower(160), { limits: { memoryMb: 256 } }),
        src.spec('com.example.good', src.GOOD),
      ],
      // Allocating is slow in an isolate (overruns): the fault policy must not restart it first.
      { maxRssMb: 200, policy: { faultsToRestart: 1000, faultWindowFrames: 1000 } },
    );
    assert.ok(
      await waitFor(() => state(r, 'com.example.grower') === 'quarantined', 180_000),
      JSON.stringify(r.events.filter((e) => e.kind !== 'started')),
    );
    const kill = r.events.find((e) => e.kind === 'host-crash' && e.code === 'host-rss');
    assert.match(kill?.reason ?? '', /over its 200 MiB ceiling: killed/);
    assert.ok(r.host.stats().host.rssKills >= 2);
    assert.equal(r.host.stats().host.renewals, 0, 'a young host growing fast is killed, not renewed');
    assert.ok(r.lines.some((l) => l.event === 'plugin.host-rss'));
    assert.equal(r.events.find((e) => e.kind === 'quarantine')?.code, 'bisect-found');
    assert.notEqual(state(r, 'com.example.good'), 'quarantined', 'the innocent one is never blamed');
    assert.ok(await waitFor(() => r.layers().includes('com.example.good'), 30_000));
  });

  it('the attacker: megabyte errors every frame reach the daemon as events within the boundary caps', async () => {
    const r = run([src.spec('com.example.huge', src.HUGE_ERRORS, { limits: { memoryMb: 64 } })], {
      policy: { faultsToRestart: 1000, faultWindowFrames: 1000 },
    });
    assert.ok(await waitFor(() => r.events.filter((e) => e.kind === 'exception').length >= 5, 30_000));
    for (const e of r.events) assert.ok(e.reason.length <= EVENT_TEXT.reason);
    assert.ok(!r.lines.some((l) => l.event === 'plugin.host-bad-message'), 'no message was refused');
  });

  it('capEvent cuts any event to what the daemon accepts, so one long string cannot get a batch refused', () => {
    const e = {
      kind: 'log' as const,
      plugin: 'com.example.x',
      reason: 'r'.repeat(1e6),
      items: Array(100).fill('i'.repeat(1e4)),
    };
    assert.equal(HostEvent.safeParse(e).success, false);
    const capped = capEvent(e);
    assert.ok(HostEvent.safeParse(capped).success);
    assert.equal(capped.reason.length, EVENT_TEXT.reason);
    assert.equal(capped.items?.length, EVENT_TEXT.items);
    const small = { kind: 'log' as const, reason: 'fine' };
    assert.equal(capEvent(small), small, 'an event within the caps is passed as it is');
  });
});
