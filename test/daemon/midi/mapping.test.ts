import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MidiMapping } from '../../../daemon/config/midi-schema.ts';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import {
  type CompiledMapping,
  type ControlEvent,
  compileMapping,
  devicePattern,
  mapEvent,
  positionFor,
} from '../../../daemon/midi/mapping.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';

const registry = createRegistry(DEFAULT_PARAMS);

function compiled(m: Record<string, unknown>): CompiledMapping {
  const r = compileMapping(MidiMapping.parse(m), 'config:1', 'config', registry);
  if (!r.ok) throw new Error(r.error);
  return r.mapping;
}

const ev = (
  value: number,
  resolution: 127 | 16383 = 127,
  pressed = value > resolution / 2,
): ControlEvent => ({
  device: 'x',
  channel: 0,
  kind: 'cc',
  number: 1,
  value,
  resolution,
  pressed,
});

describe('MIDI mapping curves', () => {
  it('linear spans the parameter range, or an explicit min/max', () => {
    const hue = compiled({ control: 'cc', number: 1, path: '/layer/1/hue' });
    assert.deepEqual(
      [0, 127].map((v) => mapEvent(hue, ev(v), 0)),
      [
        { kind: 'write', value: 0 },
        { kind: 'write', value: 360 },
      ],
    );
    const narrow = compiled({ control: 'cc', number: 1, path: '/layer/1/hue', min: 90, max: 180 });
    assert.deepEqual(mapEvent(narrow, ev(127), 0), { kind: 'write', value: 180 });
    const scene = compiled({ control: 'cc', number: 1, path: '/scene' });
    assert.deepEqual(mapEvent(scene, ev(64), 0), { kind: 'write', value: 64 }, 'int rounds');
  });

  it('exponential gives fine control at the low end', () => {
    const c = compiled({
      control: 'cc',
      number: 1,
      path: '/master/opacity',
      curve: 'exponential',
      exponent: 2,
    });
    const half = mapEvent(c, ev(8191.5, 16383), 0);
    assert.ok(half.kind === 'write' && Math.abs((half.value as number) - 0.25) < 1e-9);
  });

  it('positionFor is the inverse of the curve (round trip within one step)', () => {
    fc.assert(
      fc.property(fc.constantFrom('linear', 'exponential'), fc.nat(16383), (curve, raw) => {
        const c = compiled({ control: 'cc14', number: 1, path: '/layer/1/hue', curve });
        const m = mapEvent(c, ev(raw, 16383), 0);
        assert.equal(m.kind, 'write');
        const back = positionFor(c, m.kind === 'write' ? m.value : 0, 16383)!;
        assert.ok(Math.abs(back - raw) <= 1, `${raw} → ${back}`);
      }),
    );
  });

  it('shows booleans and toggles as fully on or off', () => {
    const c = compiled({ control: 'note', number: 1, path: '/master/blackout' });
    assert.equal(c.curve, 'toggle');
    assert.equal(positionFor(c, true, 127), 127);
    assert.equal(positionFor(c, false, 127), 0);
    assert.equal(
      positionFor(compiled({ control: 'note', number: 2, path: '/strobe' }), null, 127),
      undefined,
    );
  });

  it('toggles a float between its ends', () => {
    const c = compiled({ control: 'note', number: 1, path: '/master/opacity', curve: 'toggle' });
    assert.deepEqual(mapEvent(c, ev(100), 0.2), { kind: 'write', value: 1 });
    assert.deepEqual(mapEvent(c, ev(100), 0.9), { kind: 'write', value: 0 });
    assert.deepEqual(mapEvent(c, ev(0, 127, false), 0.9), { kind: 'none' });
  });
});

describe('device patterns', () => {
  it('match case-insensitively with * and treat other characters literally', () => {
    const p = devicePattern('nanoKONTROL2*');
    assert.equal(p('nanoKONTROL2 MIDI 1 20:0'), true);
    assert.equal(p('NANOkontrol2'), true);
    assert.equal(p('my nanoKONTROL2'), false);
    assert.equal(devicePattern('a.b (1)')('a.b (1)'), true);
    assert.equal(devicePattern('a.b (1)')('axb (1)'), false);
  });
});

describe('mapping schema', () => {
  it('requires a number except for pitch bend, within the control’s range', () => {
    assert.equal(MidiMapping.safeParse({ control: 'cc', path: '/scene' }).success, false);
    assert.equal(MidiMapping.safeParse({ control: 'pitchbend', path: '/scene' }).success, true);
    assert.equal(MidiMapping.safeParse({ control: 'cc14', number: 32, path: '/scene' }).success, false);
    assert.equal(MidiMapping.safeParse({ control: 'nrpn', number: 16383, path: '/scene' }).success, true);
  });
});
