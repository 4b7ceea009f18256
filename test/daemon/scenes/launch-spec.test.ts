import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { launchLine, launchText } from '../../../daemon/cli/launch-line.ts';
import type { LaunchStatus } from '../../../daemon/scenes/fade-view.ts';
import { glides, interpolate } from '../../../daemon/scenes/interpolate.ts';
import {
  decodeLaunch,
  encodeLaunch,
  governs,
  type LaunchRecord,
} from '../../../daemon/scenes/launch-record.ts';
import { formatFade, launchOptions, parseFade } from '../../../daemon/scenes/launch-spec.ts';

// The words `--fade` and `--at` take (CLI, control socket and OSC share them), the arithmetic
// of a fade, and the launch record every laptop renders from.

describe('parseFade and launchOptions', () => {
  it('reads seconds, milliseconds, beats and 0', () => {
    assert.deepEqual(parseFade('2s'), { unit: 'ms', length: 2000 });
    assert.deepEqual(parseFade('1.5s'), { unit: 'ms', length: 1500 });
    assert.deepEqual(parseFade('500ms'), { unit: 'ms', length: 500 });
    assert.deepEqual(parseFade('4b'), { unit: 'beats', length: 4 });
    assert.deepEqual(parseFade('0.5b'), { unit: 'beats', length: 0.5 });
    assert.deepEqual(parseFade('0'), { unit: 'ms', length: 0 });
  });
  it('refuses a bare number, negatives, other units and absurd lengths', () => {
    for (const bad of ['2', '-1s', 'abc', '', '4bars', '1e3s', '4097b', '86400001ms', 'NaNs', '2 s'])
      assert.equal(parseFade(bad), undefined, bad);
  });
  it('prints fades the way they are typed', () => {
    assert.equal(formatFade({ unit: 'ms', length: 2000 }), '2s');
    assert.equal(formatFade({ unit: 'ms', length: 250 }), '250ms');
    assert.equal(formatFade({ unit: 'beats', length: 4 }), '4b');
    assert.equal(formatFade({ unit: 'ms', length: 0 }), 'none');
  });
  it('defaults to now with no fade, and names what is wrong', () => {
    assert.deepEqual(launchOptions(undefined, undefined), {
      ok: true,
      fade: { unit: 'ms', length: 0 },
      at: 'now',
    });
    const f = launchOptions('2', 'bar');
    assert.equal(f.ok, false);
    assert.equal(!f.ok && f.code, 'scene-bad-fade');
    const a = launchOptions('2s', 'soon');
    assert.equal(!a.ok && a.code, 'scene-bad-at');
    assert.match(!a.ok ? a.error : '', /bar, beat or now/);
  });
});

describe('interpolate', () => {
  it('glides floats linearly and clamps the fraction', () => {
    assert.equal(interpolate(0, 10, 0.25), 2.5);
    assert.equal(interpolate(0, 10, -1), 0);
    assert.equal(interpolate(0, 10, 2), 10);
    assert.equal(interpolate(1, 0.3, 1), 0.3, 'the end is the target exactly');
    assert.equal(interpolate(0, 10, Number.NaN), 0, 'NaN is not started, never a NaN value');
  });
  it('glides colours per channel, alpha included, rounded to 8 bits', () => {
    assert.equal(interpolate('#000000ff', '#ff804000', 0.5), '#80402080');
    assert.equal(interpolate('#000000ff', '#ffffffff', 0), '#000000ff');
  });
  it('gives the target for what cannot glide', () => {
    assert.equal(interpolate('verse', 'chorus', 0.5), 'chorus');
    assert.equal(interpolate(1, '#ffffffff', 0.5), '#ffffffff');
  });
  it('glides floats and colours, steps the rest and /tempo', () => {
    assert.equal(glides('/a', { type: 'float', min: 0, max: 1 } as never), true);
    assert.equal(glides('/col', { type: 'color' } as never), true);
    assert.equal(glides('/tempo', { type: 'float', min: 20, max: 999 } as never), false);
    for (const type of ['int', 'bool', 'string', 'trigger'])
      assert.equal(glides('/x', { type } as never), false, type);
    assert.equal(glides('/x', undefined), false);
  });
});

describe('the launch record', () => {
  const rec: LaunchRecord = {
    scene: 'chorus.2',
    startBeat: 12,
    startMs: 1_700_000_006_000.25,
    fade: { unit: 'beats', length: 4 },
    after: { t: 1_700_000_000_000, c: 3 },
  };
  it('round-trips and fits one register', () => {
    const text = encodeLaunch(rec);
    assert.ok(text.length <= 256);
    assert.deepEqual(decodeLaunch(text), rec);
    const none = { ...rec, startBeat: null, fade: { unit: 'ms' as const, length: 2000 } };
    assert.deepEqual(decodeLaunch(encodeLaunch(none)), none);
  });
  it('refuses anything it would not have written', () => {
    const good = encodeLaunch(rec);
    for (const bad of [
      '',
      42,
      null,
      good.replace('sl1', 'sl2'),
      good.replace(' beats ', ' bars '),
      good.replace(' 12 ', ' NaN '),
      good.replace(' 12 ', '  12 '),
      `${good} extra`,
      good.replace('chorus.2', 'Bad/Name'.repeat(20)),
      good.replace(' 4 ', ' -4 '),
    ])
      assert.equal(decodeLaunch(bad), undefined, String(bad));
  });
  it("governs exactly the origin's writes between `after` and the record", () => {
    const record = { t: 1_700_000_000_001, c: 5, node: 'A' };
    assert.equal(governs(rec, record, { t: 1_700_000_000_000, c: 4, node: 'A' }), true);
    assert.equal(governs(rec, record, { t: 1_700_000_000_001, c: 4, node: 'A' }), true);
    assert.equal(governs(rec, record, { t: 1_700_000_000_000, c: 3, node: 'A' }), false, 'before');
    assert.equal(governs(rec, record, { t: 1_700_000_000_001, c: 5, node: 'A' }), false, 'the record');
    assert.equal(governs(rec, record, { t: 1_700_000_000_001, c: 6, node: 'A' }), false, 'after');
    assert.equal(governs(rec, record, { t: 1_700_000_000_000, c: 4, node: 'B' }), false, 'another origin');
  });
});

describe('launches in words', () => {
  const base: LaunchStatus = {
    scene: 'chorus',
    origin: 'QK7ZD2N-AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGGGGGG',
    state: 'pending',
    startBeat: 132,
    startMs: 0,
    fade: '4b',
    fading: 16,
    startedAt: null,
    leadMs: null,
  };
  it('says what waits, fades or is done, and the status line shows only what is live', () => {
    assert.match(
      launchText(base),
      /^chorus from \S+ on beat 132\.00, fade 4b: waiting \(16 parameter\(s\)\)$/,
    );
    const started = { fromSessionMs: 0, fromOwnMs: 0, sessionMs: 0, beat: 132.0004, lateMs: 0.2, errorMs: 0 };
    assert.match(
      launchText({ ...base, state: 'active', startedAt: started }),
      /fading .*started at beat 132\.000$/,
    );
    assert.match(
      launchText({ ...base, state: 'ignored', note: 'already over when it arrived' }),
      /not rendered \(already over/,
    );
    assert.equal(
      launchLine({ launches: [{ ...base, state: 'done' }], badRecords: 0, cancelled: 0 }),
      undefined,
    );
    assert.match(launchLine({ launches: [base], badRecords: 0, cancelled: 0 })!, /waiting/);
  });
});
