import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseManifest } from '../../../plugins/manifest.ts';
import type { PluginSpec } from '../../../plugins/runtime/engine.ts';
import { eventually, ROOT } from '../../helpers/daemon.ts';
import { busyCores } from '../busy-cores.ts';
import { closeHosts, runHost } from './host-harness.ts';

// Issue 16 part 5: on a loaded laptop an overrun must not be the normal state. The three
// JavaScript examples run in the real plugin host (a child process, isolated-vm) at 1920 × 1080,
// with every core kept busy, for FRAMES frames each, and their overruns are counted: an overrun
// is judged by CPU time (the isolate's clock and the host's thread clock), never by wall time.
//
// The bound, two overruns per 1,000 frames (at least two): before the CPU reserve and the settled
// CPU read (plugins/sandbox/sandbox.ts), the same run on the 2-core test machine had 6-10
// overruns per plugin in ≈ 1,450 frames (0.4-0.7 %; 5 in 936 in this test), which this fails;
// after, 0 in 900, and at most 1 in ≈ 900 in `npm run bench -- plugin-budget`.

const FRAMES = 900;
const EXAMPLES = ['geometry', 'beat-strobe', 'lfo'];

async function example(name: string): Promise<PluginSpec> {
  const dir = join(ROOT, 'plugins', 'examples', name);
  const m = parseManifest(JSON.parse(await readFile(join(dir, 'plugin.json'), 'utf8')));
  if (!m.ok) assert.fail(m.error);
  return { manifest: m.manifest, entrySource: await readFile(join(dir, m.manifest.entry), 'utf8') };
}

after(closeHosts);

describe('the bundled examples on a loaded machine', () => {
  it('overrun at most twice per 1,000 frames each in the real plugin host with every core busy', async () => {
    const specs = await Promise.all(EXAMPLES.map(example));
    const busy = busyCores();
    try {
      const r = runHost(specs, { width: 1920, height: 1080, policy: {} });
      r.host.updateParams(
        Object.entries({
          '/layer/1/hue': 200,
          '/layer/1/opacity': 1,
          '/layer/1/color': '#ffffffff',
          '/layer/2/opacity': 1,
          '/layer/2/color': '#ff8800ff',
        }).map(([path, value]) => ({ path, value })),
      );
      // Bounded by frames, with a time cap far beyond 900 frames at the 30 fps seen at load 15.
      const enough = await eventually(
        () => r.host.stats().plugins.every((p) => p.frames + p.overruns >= FRAMES),
        1800,
        100,
      );
      const stats = r.host.stats().plugins;
      assert.ok(enough, `each example ran ${FRAMES} frames: ${JSON.stringify(stats)}`);
      for (const p of stats) {
        const ran = p.frames + p.overruns;
        const allowed = Math.max(2, Math.ceil((2 * ran) / 1000));
        assert.ok(
          p.overruns <= allowed,
          `${p.id}: ${p.overruns} overruns in ${ran} frames (at most ${allowed}); last: ${p.lastError}`,
        );
        assert.equal(p.restarts, 0, `${p.id} was not restarted`);
        assert.equal(p.state, 'running');
      }
    } finally {
      await closeHosts();
      await busy.stop();
    }
  });
});
