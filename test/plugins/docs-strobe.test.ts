import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateDisplayList } from '../../plugins/display-list.ts';
import { ROOT } from '../helpers/daemon.ts';
import { frameAt, loadPlugin } from './example-runner.ts';

// The strobe in docs/plugins.md, as printed, run in a real isolate: an author who copies it gets
// a flash on the frame that carries the hit, fading over a quarter beat, and nothing otherwise.

test("docs/plugins.md's strobe example flashes on a /strobe event and fades by the beat", async () => {
  const doc = await readFile(join(ROOT, 'docs', 'plugins.md'), 'utf8');
  const section = doc.slice(doc.indexOf('#### Reacting to a trigger: a strobe'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'the strobe example is in docs/plugins.md');
  // What esbuild's iife bundle makes of it: the exports on a global `plugin`.
  const bundle = `${code.replace('export function frame', 'function frame')}\nvar plugin = { frame };`;
  const p = await loadPlugin(bundle);
  try {
    const size = { width: 1920, height: 1080 };
    const at = (beat: number, events: { address: string; value: null; beat: number }[] = []) =>
      p.frame(frameAt(0, beat / 2, 120, { '/strobe': null }, size, events)).list as unknown[];
    assert.deepEqual(at(10), [], 'dark before any hit');
    const flash = at(10.05, [{ address: '/strobe', value: null, beat: 10 }]);
    assert.ok(validateDisplayList(flash).ok, JSON.stringify(flash));
    assert.equal(flash.length, 1);
    const rect = flash[0] as { op: string; w: number; h: number; alpha: number };
    assert.equal(rect.op, 'rect');
    assert.deepEqual([rect.w, rect.h], [1920, 1080]);
    assert.ok(Math.abs(rect.alpha - 0.8) < 1e-9, `alpha ${rect.alpha} at 0.05 beats after the hit`);
    const fading = at(10.2)[0] as { alpha: number };
    assert.ok(Math.abs(fading.alpha - 0.2) < 1e-9, 'fading with no new event');
    assert.deepEqual(at(10.3), [], 'dark a quarter beat later');
    assert.deepEqual(at(11, [{ address: '/other', value: null, beat: 11 }]), [], 'another trigger is no hit');
  } finally {
    p.dispose();
  }
});
