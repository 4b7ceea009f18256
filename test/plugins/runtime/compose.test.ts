import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComposedFrame, validateDisplayList } from '../../../plugins/display-list.ts';
import { composeFrame, MAX_COMPOSED_BYTES } from '../../../plugins/runtime/compose.ts';

describe('composing a frame', () => {
  const head = { index: 7, time: 1.25, beat: 2.5, tempo: 120, width: 640, height: 360 };
  const idsOf = (json: string) => (JSON.parse(json) as { layers: { id: string }[] }).layers.map((l) => l.id);

  it('produces a ComposedFrame from serialized layers, in order', () => {
    const r = composeFrame(head, [
      { id: 'com.example.a', json: '[{"op":"clear"}]' },
      { id: 'com.example.b', json: '[]' },
    ]);
    assert.equal(r.trimmed, false);
    assert.deepEqual(r.leftOut, []);
    assert.deepEqual(ComposedFrame.parse(JSON.parse(r.json)), {
      ...head,
      layers: [
        { id: 'com.example.a', commands: [{ op: 'clear' }] },
        { id: 'com.example.b', commands: [] },
      ],
    });
  });

  it('leaves out a layer over its fair share when the rest do not fit, names it, and keeps the small one', () => {
    const big = `[${Array(100).fill('{"op":"clear"}').join(',')}]`;
    const r = composeFrame(
      head,
      [
        { id: 'com.example.a', json: big },
        { id: 'com.example.b', json: big },
        { id: 'com.example.c', json: '[]' },
      ],
      big.length + 300,
    );
    assert.equal(r.trimmed, true);
    assert.equal(r.leftOut.length, 1);
    const ids = idsOf(r.json);
    assert.equal(ids.length, 2);
    assert.ok(ids.includes('com.example.c'), 'the layer within its share is always there');
    assert.ok(r.json.length <= big.length + 300);
    assert.deepEqual(
      ids,
      ['com.example.a', 'com.example.b', 'com.example.c'].filter((id) => ids.includes(id)),
      'layer order is kept',
    );
  });

  it('the attacker: eight plugins each within their own 256 KiB cap cannot starve a ninth, and the big ones take turns', () => {
    // Real display lists within the per-plugin cap (256 KiB), sized so that eight of them fill
    // the 2 MiB frame to within a few bytes: in layer order, nothing was left for a ninth.
    const wrapper = '{"id":"com.example.big0","commands":}'.length + 1;
    const start = `{"index":99,"time":1.25,"beat":2.5,"tempo":120,"width":640,"height":360,"layers":[`;
    const target = Math.floor((MAX_COMPOSED_BYTES - start.length - 2) / 8) - wrapper;
    const cmds: object[] = Array.from({ length: 93 }, (_, i) => ({
      op: 'polyline',
      points: Array.from({ length: 200 }, (_, k) => i + k + 0.123456789),
    }));
    const circle = { op: 'circle', x: 1, y: 2, r: 3 };
    while (JSON.stringify(cmds).length + 80 < target) cmds.push(circle);
    const pad = target - JSON.stringify(cmds).length - ',{"op":"text","x":0,"y":0,"text":""}'.length;
    cmds.push({ op: 'text', x: 0, y: 0, text: 'x'.repeat(pad) });
    const bigJson = JSON.stringify(cmds);
    assert.equal(bigJson.length, target);
    assert.ok(validateDisplayList(JSON.parse(bigJson)).ok);
    assert.ok(bigJson.length < 256 * 1024);
    const layers = [
      ...Array.from({ length: 8 }, (_, i) => ({ id: `com.example.big${i}`, json: bigJson })),
      { id: 'com.example.ninth', json: '[{"op":"circle","x":1,"y":2,"r":3}]' },
    ];
    const seen = new Map<string, number>();
    for (let index = 90; index < 180; index++) {
      const r = composeFrame({ ...head, index }, layers);
      assert.ok(r.json.length <= MAX_COMPOSED_BYTES);
      const ids = idsOf(r.json);
      assert.ok(ids.includes('com.example.ninth'), `frame ${index} has the ninth layer`);
      for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    // Eight big layers do not all fit beside the ninth; each misses some frames, none misses all.
    for (let i = 0; i < 8; i++) {
      const n = seen.get(`com.example.big${i}`) ?? 0;
      assert.ok(n > 45 && n < 90, `big${i} was in ${n} of 90 frames`);
    }
  });
});
