import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ComposedFrame,
  MAX_COMMANDS,
  MAX_DISPLAY_LIST_BYTES,
  parseDisplayList,
  validateDisplayList,
} from '../../plugins/display-list.ts';

const code = (r: ReturnType<typeof validateDisplayList>) => (r.ok ? 'ok' : r.code);

describe('display list schema', () => {
  it('accepts every command of the contract with every style field', () => {
    const style = {
      color: '#ff000080',
      alpha: 0.5,
      blend: 'add',
      lineWidth: 2,
      fill: false,
      transform: [1, 0, 0, 1, 10, 20],
    };
    const list = [
      { op: 'clear' },
      { op: 'clear', color: '#000' },
      { op: 'rect', x: 0, y: 0, w: 10, h: -10, ...style },
      { op: 'circle', x: 5, y: 5, r: 0, ...style },
      { op: 'line', x1: 0, y1: 0, x2: 1, y2: 1, ...style },
      { op: 'polyline', points: [0, 0, 1, 1, 2, 0], closed: true, ...style },
      { op: 'text', x: 0, y: 0, text: 'héllo', size: 24, align: 'center', ...style },
    ];
    const r = validateDisplayList(list);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.deepEqual(r.commands, list);
  });

  it('caps commands, polyline numbers and text length', () => {
    const circle = { op: 'circle', x: 0, y: 0, r: 1 };
    assert.equal(code(validateDisplayList(Array(MAX_COMMANDS).fill(circle))), 'ok');
    assert.equal(code(validateDisplayList(Array(MAX_COMMANDS + 1).fill(circle))), 'too-many-commands');
    assert.equal(code(validateDisplayList([{ op: 'polyline', points: Array(2000).fill(1) }])), 'ok');
    assert.equal(
      code(validateDisplayList([{ op: 'polyline', points: Array(2002).fill(1) }])),
      'invalid-command',
    );
    assert.equal(code(validateDisplayList([{ op: 'polyline', points: [1, 2, 3] }])), 'invalid-command');
    assert.equal(code(validateDisplayList([{ op: 'text', x: 0, y: 0, text: 'x'.repeat(200) }])), 'ok');
    assert.equal(
      code(validateDisplayList([{ op: 'text', x: 0, y: 0, text: 'x'.repeat(201) }])),
      'invalid-command',
    );
  });

  it('refuses non-finite and out-of-range numbers, bad colours, unknown ops and unknown fields', () => {
    const bad = [
      { op: 'circle', x: Number.NaN, y: 0, r: 1 },
      { op: 'circle', x: Number.POSITIVE_INFINITY, y: 0, r: 1 },
      { op: 'circle', x: 2e6, y: 0, r: 1 },
      { op: 'circle', x: 0, y: 0, r: -1 },
      { op: 'circle', x: '1', y: 0, r: 1 },
      { op: 'circle', x: null, y: 0, r: 1 },
      { op: 'rect', x: 0, y: 0, w: 1, h: 1, color: 'red' },
      { op: 'rect', x: 0, y: 0, w: 1, h: 1, color: '#12345' },
      { op: 'rect', x: 0, y: 0, w: 1, h: 1, alpha: 1.5 },
      { op: 'rect', x: 0, y: 0, w: 1, h: 1, blend: 'difference' },
      { op: 'rect', x: 0, y: 0, w: 1, h: 1, transform: [1, 0, 0, 1, 0] },
      { op: 'rect', x: 0, y: 0, w: 1, h: 1, onload: 'x' },
      { op: 'image', src: 'x.png' },
      { x: 0 },
      null,
      'clear',
    ];
    for (const cmd of bad) {
      const r = validateDisplayList([cmd]);
      assert.equal(code(r), 'invalid-command', `should refuse ${JSON.stringify(cmd)}`);
      if (!r.ok) assert.match(r.error, /^command 0/);
    }
  });

  it('says what was returned when it is not a list', () => {
    for (const v of [undefined, null, {}, 'x', 3]) {
      const r = validateDisplayList(v);
      assert.equal(code(r), 'not-a-list');
    }
  });

  it('checks the serialized size before parsing, and refuses text that is not JSON', () => {
    const big = `[${' '.repeat(MAX_DISPLAY_LIST_BYTES)}]`;
    assert.equal(code(parseDisplayList(big)), 'too-large');
    assert.equal(code(parseDisplayList('[{"op":"clear"}')), 'not-json');
    assert.equal(code(parseDisplayList('[{"op":"clear"}]')), 'ok');
  });

  it('parses JSON "__proto__" keys as data, never as a prototype, and refuses them as unknown fields', () => {
    const r = parseDisplayList('[{"op":"clear","__proto__":{"polluted":true}}]');
    assert.equal(code(r), 'invalid-command');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('describes a composed frame', () => {
    const frame = {
      index: 3,
      time: 1.5,
      beat: 3,
      tempo: 120,
      width: 1920,
      height: 1080,
      layers: [{ id: 'com.example.a', commands: [{ op: 'clear' }] }],
    };
    assert.ok(ComposedFrame.safeParse(frame).success);
    assert.ok(!ComposedFrame.safeParse({ ...frame, layers: [{ id: '', commands: [] }] }).success);
  });
});
