import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';
import { alive } from '../plugins/runtime/host-harness.ts';

// Planned renewal of the plugin host in a real daemon (docs/plugins.md, "Planned renewal"):
// `plugins.renewal` from the config reaches the host, which hands the bundled examples over to a
// fresh child while an output page watches. The page keeps getting frames with every layer, the
// status counts the renewal, and nothing is logged as a crash. The mark is set below what any
// host holds so that it renews as soon as it is old enough.

const hostOf = async (d: TestDaemon) => (await d.status()).plugins?.host;

/** Polls `get` over the control socket every 200 ms until it gives a value, for at most `ms`. */
async function until<T>(get: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() >= end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('plugin host renewal in a real daemon', () => {
  it('renews the host from the config while a page watches: frames go on, no crash, counted', async () => {
    const d = await startDaemon({
      config: { plugins: { enabled: true, renewal: { atMb: 16, afterMinutes: 0.1 } } },
    });
    let ws: WebSocket | undefined;
    try {
      const url = new URL((JSON.parse((await d.cli('output', '--json')).stdout) as { url: string }).url);
      ws = new WebSocket(`ws://${url.host}/ws?token=${url.searchParams.get('token')}`, {
        origin: url.origin,
      });
      const layerSets: string[][] = [];
      ws.on('message', (data) => {
        const f = JSON.parse(String(data)) as { layers?: { id: string }[] };
        if (Array.isArray(f.layers)) layerSets.push(f.layers.map((l) => l.id).sort());
      });
      await new Promise<void>((resolve, reject) => {
        ws!.once('open', () => resolve());
        ws!.once('error', reject);
      });
      const first = await until(
        async () => {
          const h = await hostOf(d);
          return h?.state === 'running' && h.pid ? h.pid : undefined;
        },
        60_000,
        'the plugin host running',
      );
      const renewed = await until(
        async () => {
          const h = await hostOf(d);
          return h && h.renewals >= 1 ? h : undefined;
        },
        120_000,
        'a renewal',
      );
      assert.notEqual(renewed.pid, first, 'a fresh child runs the plugins');
      assert.equal(renewed.renewRssMb, 16);
      assert.equal(renewed.restarts, 0, 'a renewal is not a restart');
      assert.ok(await waitFor(() => !alive(first), 30_000), 'the old child is gone');
      const seenBefore = layerSets.length;
      assert.ok(await waitFor(() => layerSets.length > seenBefore + 10, 60_000), 'frames after the handover');
      // The drawing examples' layers, whole, before and after the handover.
      const full = layerSets.reduce((a, b) => (b.length > a.length ? b : a), []);
      assert.ok(full.length >= 2, `frames carried layers: ${full}`);
      assert.deepEqual(layerSets.at(-1), full, 'the last frame has every layer');
      assert.ok(d.logs.some((l) => l.event === 'plugin.host-renewed'));
      // 16 MiB is below what a fresh host holds: the operator is told to raise it.
      assert.ok(
        await waitFor(() => d.logs.some((l) => l.event === 'plugin.host-renewal-mark-low'), 30_000),
        'the low mark is reported',
      );
      assert.ok(!d.logs.some((l) => l.event === 'plugin.host-crash'), 'no crash was logged');
      const plugins = (await d.status()).plugins?.plugins ?? [];
      assert.ok(plugins.length > 0 && plugins.every((p) => p.state === 'running'), JSON.stringify(plugins));
    } finally {
      ws?.close();
      await d.stop();
    }
  });
});
