import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComposedFrame } from '../../../plugins/display-list.ts';
import { composeFrame } from '../../../plugins/runtime/compose.ts';

describe('composing a frame', () => {
  const head = { index: 7, time: 1.25, beat: 2.5, tempo: 120, width: 640, height: 360 };

  it('produces a ComposedFrame from serialized layers, in order', () => {
    const r = composeFrame(head, [
      { id: 'com.example.a', json: '[{"op":"clear"}]' },
      { id: 'com.example.b', json: '[]' },
    ]);
    assert.equal(r.trimmed, false);
    assert.deepEqual(ComposedFrame.parse(JSON.parse(r.json)), {
      ...head,
      layers: [
        { id: 'com.example.a', commands: [{ op: 'clear' }] },
        { id: 'com.example.b', commands: [] },
      ],
    });
  });

  it('leaves out layers that would take the frame over its size cap, and says so', () => {
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
    const ids = ComposedFrame.parse(JSON.parse(r.json)).layers.map((l) => l.id);
    assert.deepEqual(ids, ['com.example.a', 'com.example.c']);
    assert.ok(r.json.length <= big.length + 300);
  });
});
