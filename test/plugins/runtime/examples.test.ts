import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ComposedFrame } from '../../../plugins/display-list.ts';
import { parseManifest } from '../../../plugins/manifest.ts';
import {
  createEngine,
  type EncodedFrame,
  type PluginSpec,
  type RuntimeEvent,
} from '../../../plugins/runtime/engine.ts';
import type { PluginWrite } from '../../../plugins/sandbox/sandbox.ts';
import { eventually, ROOT } from '../../helpers/daemon.ts';

// The example plugins (plugins/examples, written against plugins/api/hana-plugin.d.ts) in the
// real sandbox and frame engine: the two sides of the contract meet here.

async function example(name: string): Promise<PluginSpec> {
  const dir = join(ROOT, 'plugins', 'examples', name);
  const m = parseManifest(JSON.parse(await readFile(join(dir, 'plugin.json'), 'utf8')));
  if (!m.ok) assert.fail(m.error);
  return { manifest: m.manifest, entrySource: await readFile(join(dir, m.manifest.entry), 'utf8') };
}

describe('example plugins in the frame engine', () => {
  it('run side by side with valid output, reading their parameters and writing the declared one', async () => {
    const specs = await Promise.all(['geometry', 'beat-strobe', 'lfo'].map(example));
    const frames: EncodedFrame[] = [];
    const events: RuntimeEvent[] = [];
    const writes: [string, PluginWrite[]][] = [];
    const engine = createEngine({
      frameRate: 60,
      width: 1920,
      height: 1080,
      clock: () => ({ timeMs: performance.now(), beat: performance.now() / 500, tempo: 120 }),
      onFrame: (f) => frames.push(f),
      onWrites: (p, w) => writes.push([p, w]),
      onEvent: (e) => events.push(e),
    });
    try {
      engine.updateParams({
        '/layer/1/hue': 200,
        '/layer/1/opacity': 1,
        '/layer/1/color': '#ffffffff',
        '/layer/2/opacity': 1,
        '/layer/2/color': '#ff8800ff',
      });
      engine.setPlugins(specs);
      assert.ok(await eventually(() => engine.stats().every((s) => s.frames >= 60), 400, 25));
      // Overruns may happen while V8 warms up; starved frames are the loaded machine's.
      const faults = events.filter((e) => !['started', 'log', 'overrun', 'starved'].includes(e.kind));
      assert.deepEqual(faults, [], 'no exception, invalid output, restart or refused write');
      assert.ok(engine.stats().every((s) => s.state === 'running' && s.restarts === 0));
      const last = ComposedFrame.parse(JSON.parse(frames.at(-1)!.json));
      assert.deepEqual(
        last.layers.map((l) => l.id),
        specs.map((s) => s.manifest.id),
      );
      // Every example that draws drew; the LFO (a control) and the ISF examples (their picture
      // is the shader the page runs) return empty lists.
      const drawsNothing = (id: string) => id === 'hana.examples.lfo' || id.startsWith('hana.examples.isf-');
      assert.ok(last.layers.every((l) => drawsNothing(l.id) || l.commands.length > 0));
      assert.ok(last.layers.some((l) => l.commands.length > 0));
      assert.ok(writes.length > 0);
      assert.ok(
        writes.every(
          ([id, w]) => id === 'hana.examples.lfo' && w.every((x) => x.path === '/layer/2/opacity'),
        ),
      );
    } finally {
      engine.close();
    }
  });
});
