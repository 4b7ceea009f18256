import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { oscMessage } from '../../protocols/osc/codec.ts';
import { INFINITE_LOOP } from '../fixtures/plugins/sources.ts';
import { eventually, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { oscSender } from '../helpers/osc-client.ts';
import { createInstallFixture } from '../plugins/install-fixture.ts';

// The whole path in a real daemon: on first start it signs and trusts its bundled examples under
// its own key, runs them in the plugin host, and streams composed frames to the output page's
// WebSocket; the LFO example writes a parameter through the validated path. A plugin that spins
// forever is installed from a trusted publisher: it loses its frames, is restarted, then
// quarantined, while the examples keep drawing; the operator re-enables it.

type RuntimeStatus = { id: string; state: string; frames: number };
const pluginsOf = async (d: TestDaemon): Promise<RuntimeStatus[]> =>
  (await d.status()).plugins?.plugins ?? [];
const framesOf = async (d: TestDaemon, id: string) =>
  (await pluginsOf(d)).find((p) => p.id === id)?.frames ?? 0;

const EXAMPLES = [
  'hana.examples.beat-strobe',
  'hana.examples.geometry',
  'hana.examples.isf-plasma',
  'hana.examples.isf-rings',
  'hana.examples.isf-trails',
  'hana.examples.lfo',
];

/** A page's WebSocket held open (plugins that only draw run only while a page watches). */
async function watch(url: string): Promise<() => void> {
  const u = new URL(url);
  const ws = new WebSocket(`ws://${u.host}/ws?token=${u.searchParams.get('token')}`, { origin: u.origin });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the output page did not connect within 10 s')), 10_000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once('error', reject);
  });
  return () => ws.close();
}

const outputUrl = async (d: TestDaemon) =>
  (JSON.parse((await d.cli('output', '--json')).stdout) as { url: string }).url;

async function oneFrame(url: string): Promise<{ layers: Array<{ id: string; commands: unknown[] }> }> {
  const u = new URL(url);
  const ws = new WebSocket(`ws://${u.host}/ws?token=${u.searchParams.get('token')}`, { origin: u.origin });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame within 10 s')), 10_000);
      ws.on('message', (data) => {
        const f = JSON.parse(String(data));
        if (!Array.isArray(f.layers)) return;
        clearTimeout(timer);
        resolve(f);
      });
      ws.on('error', reject);
    });
  } finally {
    ws.close();
  }
}

describe('plugins in a real daemon', () => {
  it('runs the bundled examples, streams their frames, and quarantines a spinning plugin without stopping them', async () => {
    const fx = await createInstallFixture('e2e');
    const d = await startDaemon({ config: { plugins: { enabled: true } } });
    let unwatch: (() => void) | undefined;
    try {
      unwatch = await watch(await outputUrl(d));
      assert.ok(
        d.logs.some((l) => l.event === 'plugins.bundled-installed' && l.security === true),
        'the daemon says it signed and trusted its bundled examples',
      );
      const listed = JSON.parse((await d.cli('plugin', 'list', '--json')).stdout) as Array<{ id: string }>;
      assert.deepEqual(listed.map((p) => p.id).sort(), EXAMPLES);
      assert.ok(
        await eventually(
          async () => (await pluginsOf(d)).filter((p) => p.frames > 10).length === EXAMPLES.length,
          200,
          100,
        ),
        'all six examples produce frames',
      );

      const frame = await oneFrame(await outputUrl(d));
      assert.deepEqual(frame.layers.map((l) => l.id).sort(), EXAMPLES);
      assert.ok(frame.layers.every((l) => Array.isArray(l.commands)));

      // The LFO writes /layer/2/opacity through the validated path.
      const first = (await d.values('/layer/2/opacity'))['/layer/2/opacity'];
      assert.ok(
        await eventually(
          async () => (await d.values('/layer/2/opacity'))['/layer/2/opacity'] !== first,
          100,
          100,
        ),
        'the LFO moves /layer/2/opacity',
      );

      // A trusted publisher's plugin that never returns from frame().
      const dir = await fx.plugin({
        id: 'com.example.spin',
        entry: INFINITE_LOOP,
        manifest: { reads: [], writes: [] },
      });
      const trust = await d.cli('publisher', 'trust', fx.a.gen.publicKey, '--name', 'test publisher');
      assert.equal(trust.code, 0, trust.stderr);
      const install = await d.cli('plugin', 'install', dir);
      assert.equal(install.code, 0, install.stderr);
      assert.ok(
        await eventually(
          async () => (await pluginsOf(d)).find((p) => p.id === 'com.example.spin')?.state === 'quarantined',
          300,
          100,
        ),
        'the spinning plugin ends in quarantine',
      );
      // The status can answer before the log line has come through the daemon's stdout.
      assert.ok(
        await eventually(() =>
          d.logs.some(
            (l) => l.event === 'plugin.quarantine' || String(l.event).startsWith('plugin.quarantin'),
          ),
        ),
        'the quarantine is logged',
      );
      const geometry = await framesOf(d, 'hana.examples.geometry');
      assert.ok(
        await eventually(async () => (await framesOf(d, 'hana.examples.geometry')) > geometry + 30, 100, 100),
        'the examples keep drawing',
      );
      const list = JSON.parse((await d.cli('plugin', 'list', '--json')).stdout) as Array<{
        id: string;
        quarantined?: unknown;
        state?: string;
      }>;
      const spin = list.find((p) => p.id === 'com.example.spin')!;
      assert.ok(spin.quarantined || spin.state === 'quarantined', 'hana plugin list shows the quarantine');

      const enable = await d.cli('plugin', 'enable', 'com.example.spin');
      assert.equal(enable.code, 0, enable.stderr);
      assert.ok(
        await eventually(
          async () => (await pluginsOf(d)).find((p) => p.id === 'com.example.spin')?.state !== 'quarantined',
          100,
          100,
        ),
        'enable lifts the quarantine',
      );
    } finally {
      unwatch?.();
      await d.stop();
      await fx.cleanup();
    }
  });

  // Issue 18's reproduction: with no page connected, the three examples drew at 60 fps in the
  // plugin host anyway (6-7 % of a core for nothing); then the LFO still wrote 10 times a second
  // with nothing but the daemon's own store to take it.
  it('without a page nothing runs until something takes the writes; then only the LFO runs (at plugins.idleFps); a page brings the drawing back', async () => {
    const d = await startDaemon({ config: { plugins: { enabled: true } } });
    let unwatch: (() => void) | undefined;
    const sub = await oscSender(d.udpPort);
    try {
      assert.ok(
        await eventually(
          async () => (await pluginsOf(d)).filter((p) => p.state === 'running').length === EXAMPLES.length,
          300,
          100,
        ),
        'the six examples are loaded',
      );
      const host = async () => (await d.status()).plugins!.host!;
      assert.equal((await host()).watched, false, 'status says nobody watches');
      assert.equal((await host()).writesNeeded, false, 'and nothing takes plugin writes');
      const drawOnly = ['hana.examples.beat-strobe', 'hana.examples.geometry'];
      const idle = await Promise.all(drawOnly.map((id) => framesOf(d, id)));
      const lfoIdle = await framesOf(d, 'hana.examples.lfo');
      const m0 = (await host()).messages;
      await new Promise((r) => setTimeout(r, 3000));
      const m1 = (await host()).messages;
      assert.equal(await framesOf(d, 'hana.examples.lfo'), lfoIdle, 'the LFO is paused too');
      // Timers only fire late on a loaded machine: the bound holds however slow it is. Active,
      // the same 3 s carried ~30 clock samples, ~12 stats and ~30 write batches.
      assert.ok(m1.sent - m0.sent <= 6, `to the host: ${m1.sent - m0.sent} messages in 3 s`);
      assert.ok(
        m1.received - m0.received <= 6,
        `from the host: ${m1.received - m0.received} messages in 3 s`,
      );

      // An OSC feedback subscriber takes /layer/2/opacity: the LFO runs for it.
      await sub.send(oscMessage('/hana/subscribe'));
      const lfo = await framesOf(d, 'hana.examples.lfo');
      const before = (await d.values('/layer/2/opacity'))['/layer/2/opacity'];
      assert.ok(
        await eventually(
          async () =>
            (await framesOf(d, 'hana.examples.lfo')) > lfo + 5 &&
            (await d.values('/layer/2/opacity'))['/layer/2/opacity'] !== before,
          200,
          100,
        ),
        'with a subscriber the LFO runs and writes: it sees its parameter move',
      );
      assert.equal((await host()).writesNeeded, true);
      assert.deepEqual(
        await Promise.all(drawOnly.map((id) => framesOf(d, id))),
        idle,
        'the plugins that only draw stay paused',
      );

      unwatch = await watch(await outputUrl(d));
      assert.ok(
        await eventually(
          async () =>
            (await Promise.all(drawOnly.map((id) => framesOf(d, id)))).every((n, i) => n > idle[i]! + 10),
          200,
          100,
        ),
        'a page brings the drawing back',
      );
      assert.equal((await d.status()).plugins?.host?.watched, true);
      unwatch();
      unwatch = undefined;
      assert.ok(
        await eventually(async () => (await d.status()).plugins?.host?.watched === false, 100, 100),
        'and when it leaves, the drawing pauses again',
      );
    } finally {
      unwatch?.();
      sub.close();
      await d.stop();
    }
  });
});
