import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import { DEFAULT_PARAMS, ParamMap, ParamSpec } from '../../../daemon/config/params-schema.ts';
import { staticAttributes } from '../../../daemon/oscquery/attributes.ts';
import { checkValue } from '../../../daemon/state/check-value.ts';
import {
  type Coerced,
  canonicalColor,
  coerceArgs,
  coerceText,
  initialValue,
  type Value,
} from '../../../daemon/state/coerce.ts';
import type { OscArg } from '../../../protocols/osc/types.ts';

// Every rule that turns an OSC argument list or the CLI's words into a declared parameter's value.

/** Specs go through the schema so defaults (outOfRange, maxLength) are those a config gets. */
const spec = (input: z.input<typeof ParamSpec>): ParamSpec => ParamSpec.parse(input);

const i = (value: number): OscArg => ({ type: 'i', value });
const h = (value: number): OscArg => ({ type: 'h', value });
const f = (value: number): OscArg => ({ type: 'f', value });
const d = (value: number): OscArg => ({ type: 'd', value });
const s = (value: string): OscArg => ({ type: 's', value });
const T: OscArg = { type: 'T', value: true };
const F: OscArg = { type: 'F', value: false };
const N: OscArg = { type: 'N', value: null };
const I: OscArg = { type: 'I', value: null };
const rgba = (r: number, g: number, b: number, a: number): OscArg => ({ type: 'r', value: { r, g, b, a } });

function expectValue(c: Coerced, value: Value, clamped = false): void {
  assert.deepEqual(c, { ok: true, value, clamped });
}

function expectFail(c: Coerced, code: string): string {
  if (c.ok) assert.fail(`expected failure '${code}', got value ${JSON.stringify(c.value)}`);
  assert.equal(c.code, code);
  assert.equal(typeof c.message, 'string');
  assert.ok(c.message.length > 0);
  return c.message;
}

const fire = (c: Coerced) => expectValue(c, null);
const noop = (c: Coerced) => assert.deepEqual(c, { ok: true, value: null, clamped: false, noop: true });

describe('coerceArgs: float', () => {
  const unit = spec({ type: 'float', min: 0, max: 1 });

  it('accepts i, h, f and d', () => {
    expectValue(coerceArgs(unit, [i(1)]), 1);
    expectValue(coerceArgs(unit, [h(0)]), 0);
    expectValue(coerceArgs(unit, [f(0.25)]), 0.25);
    expectValue(coerceArgs(unit, [d(0.75)]), 0.75);
  });

  it('rejects strings, booleans, nil and blobs as wrong-type', () => {
    assert.match(
      expectFail(coerceArgs(unit, [s('0.5')]), 'wrong-type'),
      /float expects a number, got type 's'/,
    );
    expectFail(coerceArgs(unit, [T]), 'wrong-type');
    expectFail(coerceArgs(unit, [N]), 'wrong-type');
    expectFail(coerceArgs(unit, [{ type: 'b', value: new Uint8Array(4) }]), 'wrong-type');
  });

  it('takes exactly one argument', () => {
    assert.match(expectFail(coerceArgs(unit, []), 'wrong-arity'), /exactly one argument, got 0/);
    expectFail(coerceArgs(unit, [f(0.1), f(0.2)]), 'wrong-arity');
  });

  it('rejects NaN and ±Infinity as not-finite, whatever the range policy', () => {
    expectFail(coerceArgs(unit, [f(Number.NaN)]), 'not-finite');
    expectFail(coerceArgs(unit, [d(Number.POSITIVE_INFINITY)]), 'not-finite');
    expectFail(coerceArgs(spec({ type: 'float' }), [f(Number.NEGATIVE_INFINITY)]), 'not-finite');
    expectFail(coerceArgs(spec({ type: 'float', outOfRange: 'reject' }), [f(Number.NaN)]), 'not-finite');
  });

  it('clamps by default and says so', () => {
    expectValue(coerceArgs(unit, [f(1.5)]), 1, true);
    expectValue(coerceArgs(unit, [f(-0.1)]), 0, true);
    expectValue(coerceArgs(unit, [i(1)]), 1, false); // on the bound is inside
  });

  it('rejects out-of-range values when the policy is reject', () => {
    const tempo = spec({ type: 'float', min: 20, max: 999, outOfRange: 'reject' });
    assert.match(expectFail(coerceArgs(tempo, [f(1000)]), 'out-of-range'), /1000 is outside \[20, 999\]/);
    expectFail(coerceArgs(tempo, [f(19.99)]), 'out-of-range');
    expectValue(coerceArgs(tempo, [f(20)]), 20);
    expectValue(coerceArgs(tempo, [d(999)]), 999);
  });

  it('a one-sided range checks only that side', () => {
    const atLeast = spec({ type: 'float', min: 0, outOfRange: 'reject' });
    expectValue(coerceArgs(atLeast, [f(1e12)]), 1e12);
    assert.match(expectFail(coerceArgs(atLeast, [f(-1)]), 'out-of-range'), /outside \[0, ∞\]/);
    const atMost = spec({ type: 'float', max: 5 });
    expectValue(coerceArgs(atMost, [f(-1e12)]), -1e12);
    expectValue(coerceArgs(atMost, [f(6)]), 5, true);
  });
});

describe('coerceArgs: int', () => {
  const scene = spec({ type: 'int', min: 0, max: 127, outOfRange: 'reject' });

  it('accepts i and h, and f/d when they hold a whole number', () => {
    expectValue(coerceArgs(scene, [i(5)]), 5);
    expectValue(coerceArgs(scene, [h(6)]), 6);
    expectValue(coerceArgs(scene, [f(7)]), 7);
    expectValue(coerceArgs(scene, [d(8)]), 8);
  });

  it('rejects fractions as wrong-type', () => {
    assert.match(expectFail(coerceArgs(scene, [f(0.5)]), 'wrong-type'), /whole number, got 0.5/);
    expectFail(coerceArgs(scene, [d(3.25)]), 'wrong-type');
  });

  it('rejects strings as wrong-type', () => {
    expectFail(coerceArgs(scene, [s('3')]), 'wrong-type');
  });

  it('rejects NaN and Infinity as not-finite (not as wrong-type)', () => {
    expectFail(coerceArgs(scene, [f(Number.NaN)]), 'not-finite');
    expectFail(coerceArgs(scene, [d(Number.POSITIVE_INFINITY)]), 'not-finite');
  });

  it('applies the range policy', () => {
    expectFail(coerceArgs(scene, [i(128)]), 'out-of-range');
    expectFail(coerceArgs(scene, [i(-1)]), 'out-of-range');
    const clamped = spec({ type: 'int', min: 0, max: 127 });
    expectValue(coerceArgs(clamped, [i(500)]), 127, true);
    expectValue(coerceArgs(clamped, [f(-4)]), 0, true);
  });
});

describe('coerceArgs: bool', () => {
  const b = spec({ type: 'bool' });

  it('takes T and F', () => {
    expectValue(coerceArgs(b, [T]), true);
    expectValue(coerceArgs(b, [F]), false);
  });

  it('takes numbers: zero is false, anything else true', () => {
    expectValue(coerceArgs(b, [i(0)]), false);
    expectValue(coerceArgs(b, [f(0)]), false);
    expectValue(coerceArgs(b, [i(1)]), true);
    expectValue(coerceArgs(b, [f(0.5)]), true);
    expectValue(coerceArgs(b, [d(-2)]), true);
  });

  it('rejects strings and nil, and wrong arity', () => {
    expectFail(coerceArgs(b, [s('true')]), 'wrong-type');
    expectFail(coerceArgs(b, [N]), 'wrong-type');
    expectFail(coerceArgs(b, []), 'wrong-arity');
    expectFail(coerceArgs(b, [T, F]), 'wrong-arity');
  });
});

describe('coerceArgs: string', () => {
  const str = spec({ type: 'string', maxLength: 5 });

  it('takes s, S and c', () => {
    expectValue(coerceArgs(str, [s('hello')]), 'hello');
    expectValue(coerceArgs(str, [{ type: 'S', value: 'sym' }]), 'sym');
    expectValue(coerceArgs(str, [{ type: 'c', value: 'x' }]), 'x');
    expectValue(coerceArgs(str, [s('')]), '');
  });

  it('rejects strings longer than maxLength as out-of-range', () => {
    assert.match(expectFail(coerceArgs(str, [s('hello!')]), 'out-of-range'), /6 characters, more than 5/);
  });

  it('defaults maxLength to 256', () => {
    const dflt = spec({ type: 'string' });
    expectValue(coerceArgs(dflt, [s('x'.repeat(256))]), 'x'.repeat(256));
    expectFail(coerceArgs(dflt, [s('x'.repeat(257))]), 'out-of-range');
  });

  it('rejects numbers', () => {
    expectFail(coerceArgs(str, [i(1)]), 'wrong-type');
  });
});

describe('coerceArgs: trigger', () => {
  const trig = spec({ type: 'trigger' });

  it('fires with no argument, T, I, N or a nonzero number', () => {
    fire(coerceArgs(trig, []));
    fire(coerceArgs(trig, [T]));
    fire(coerceArgs(trig, [I]));
    fire(coerceArgs(trig, [N]));
    fire(coerceArgs(trig, [i(1)]));
    fire(coerceArgs(trig, [f(0.5)]));
    fire(coerceArgs(trig, [d(-1)]));
  });

  it('treats F and 0 as a release that fires nothing', () => {
    noop(coerceArgs(trig, [F]));
    noop(coerceArgs(trig, [i(0)]));
    noop(coerceArgs(trig, [f(0)]));
    noop(coerceArgs(trig, [h(0)]));
  });

  it('rejects more than one argument and non-numeric, non-boolean types', () => {
    assert.match(expectFail(coerceArgs(trig, [i(1), i(1)]), 'wrong-arity'), /at most one argument, got 2/);
    expectFail(coerceArgs(trig, [s('go')]), 'wrong-type');
    expectFail(coerceArgs(trig, [rgba(1, 2, 3, 4)]), 'wrong-type');
  });
});

describe('coerceArgs: color', () => {
  const col = spec({ type: 'color' });

  it('takes an OSC r (RGBA) argument', () => {
    expectValue(coerceArgs(col, [rgba(255, 0, 16, 128)]), '#ff001080');
    expectValue(coerceArgs(col, [rgba(0, 0, 0, 0)]), '#00000000');
  });

  it('takes "#rrggbb" (alpha ff) and "#rrggbbaa", canonical lower case', () => {
    expectValue(coerceArgs(col, [s('#FF0000')]), '#ff0000ff');
    expectValue(coerceArgs(col, [s('#12345678')]), '#12345678');
    expectValue(coerceArgs(col, [{ type: 'S', value: '#aBcDeF' }]), '#abcdefff');
  });

  it('rejects other strings as wrong-type', () => {
    for (const bad of ['red', '#fff', '#ff00', 'ff0000', '#ff00000', '#gg0000', '#ff0000ff00']) {
      expectFail(coerceArgs(col, [s(bad)]), 'wrong-type');
    }
  });

  it('takes 3 or 4 integers as bytes 0–255', () => {
    expectValue(coerceArgs(col, [i(255), i(0), i(128)]), '#ff0080ff');
    expectValue(coerceArgs(col, [i(1), i(2), i(3), i(4)]), '#01020304');
    expectValue(coerceArgs(col, [h(0), h(0), h(0)]), '#000000ff');
  });

  it('takes 3 or 4 floats (or any mix with a float) as 0–1', () => {
    expectValue(coerceArgs(col, [f(1), f(0), f(0.5)]), '#ff0080ff');
    expectValue(coerceArgs(col, [d(0), d(1), d(0), d(0.5)]), '#00ff0080');
    // One float makes all components fractions: the integer 1 is then full intensity.
    expectValue(coerceArgs(col, [i(1), f(0.5), i(0)]), '#ff8000ff');
  });

  it('rejects components out of range', () => {
    expectFail(coerceArgs(col, [i(256), i(0), i(0)]), 'out-of-range');
    expectFail(coerceArgs(col, [i(-1), i(0), i(0)]), 'out-of-range');
    expectFail(coerceArgs(col, [f(1.01), f(0), f(0)]), 'out-of-range');
    expectFail(coerceArgs(col, [f(0), f(0), f(0), f(-0.1)]), 'out-of-range');
  });

  it('rejects non-finite components', () => {
    expectFail(coerceArgs(col, [f(Number.NaN), f(0), f(0)]), 'not-finite');
    expectFail(coerceArgs(col, [f(0), d(Number.POSITIVE_INFINITY), f(0)]), 'not-finite');
  });

  it('rejects 0, 2 or 5 arguments as wrong-arity', () => {
    expectFail(coerceArgs(col, []), 'wrong-arity');
    expectFail(coerceArgs(col, [i(1), i(2)]), 'wrong-arity');
    expectFail(coerceArgs(col, [i(1), i(2), i(3), i(4), i(5)]), 'wrong-arity');
  });

  it('rejects mixed types and a lone number', () => {
    expectFail(coerceArgs(col, [i(1), s('2'), i(3)]), 'wrong-type');
    expectFail(coerceArgs(col, [i(1)]), 'wrong-type');
    expectFail(coerceArgs(col, [T]), 'wrong-type');
  });
});

describe('canonicalColor', () => {
  it('normalises to lower-case #rrggbbaa or returns undefined', () => {
    assert.equal(canonicalColor('#ABCDEF'), '#abcdefff');
    assert.equal(canonicalColor('#abcdef01'), '#abcdef01');
    assert.equal(canonicalColor('abcdef'), undefined);
    assert.equal(canonicalColor('#abc'), undefined);
    assert.equal(canonicalColor(' #abcdef'), undefined);
  });
});

describe('coerceText (CLI words)', () => {
  it('reads decimal, negative, signed and exponent numbers for floats', () => {
    const fl = spec({ type: 'float' });
    expectValue(coerceText(fl, ['0.5']), 0.5);
    expectValue(coerceText(fl, ['-3']), -3);
    expectValue(coerceText(fl, ['+2']), 2);
    expectValue(coerceText(fl, ['.25']), 0.25);
    expectValue(coerceText(fl, ['-.5']), -0.5);
    expectValue(coerceText(fl, ['1e3']), 1000);
    expectValue(coerceText(fl, ['2.5E-1']), 0.25);
    expectValue(coerceText(fl, [' 4 ']), 4);
  });

  it('applies the same range policy as OSC input', () => {
    const tempo = spec({ type: 'float', min: 20, max: 999, outOfRange: 'reject' });
    expectValue(coerceText(tempo, ['128']), 128);
    expectFail(coerceText(tempo, ['5']), 'out-of-range');
    const unit = spec({ type: 'float', min: 0, max: 1 });
    expectValue(coerceText(unit, ['2']), 1, true);
  });

  it('reports inf and nan as not-finite, words as wrong-type, several words as wrong-arity', () => {
    const fl = spec({ type: 'float' });
    expectFail(coerceText(fl, ['inf']), 'not-finite');
    expectFail(coerceText(fl, ['-Infinity']), 'not-finite');
    expectFail(coerceText(fl, ['NaN']), 'not-finite');
    expectFail(coerceText(fl, ['half']), 'wrong-type');
    expectFail(coerceText(fl, ['0x10']), 'wrong-type');
    expectFail(coerceText(fl, ['1', '2']), 'wrong-arity');
    expectFail(coerceText(fl, []), 'wrong-arity');
  });

  it('reads ints and rejects fractions', () => {
    const n = spec({ type: 'int' });
    expectValue(coerceText(n, ['-3']), -3);
    expectValue(coerceText(n, ['3.0']), 3);
    expectFail(coerceText(n, ['0.5']), 'wrong-type');
  });

  it('reads true/on/yes and false/off/no (any case) and numbers for bools', () => {
    const b = spec({ type: 'bool' });
    for (const w of ['true', 'on', 'yes', 'TRUE', 'On']) expectValue(coerceText(b, [w]), true);
    for (const w of ['false', 'off', 'no', 'OFF']) expectValue(coerceText(b, [w]), false);
    expectValue(coerceText(b, ['1']), true);
    expectValue(coerceText(b, ['0']), false);
    expectFail(coerceText(b, ['maybe']), 'wrong-type');
    expectFail(coerceText(b, ['on', 'off']), 'wrong-arity');
  });

  it('says what a type takes in CLI words, not OSC type tags', () => {
    const b = coerceText(spec({ type: 'bool' }), ['maybe']);
    assert.ok(!b.ok);
    assert.equal(b.message, '"maybe" is not a bool value: give true or false (also on/off, yes/no, 1/0)');
    const f = coerceText(spec({ type: 'float' }), ['1', '2']);
    assert.ok(!f.ok);
    assert.equal(f.message, '"1" "2" is not a float value: give a number, e.g. 0.5');
    const c = coerceText(spec({ type: 'color' }), ['red']);
    assert.ok(!c.ok);
    assert.doesNotMatch(c.message, /type '|expects/);
  });

  it('joins several words into one string and checks its length', () => {
    const str = spec({ type: 'string', maxLength: 11 });
    expectValue(coerceText(str, ['hello', 'world']), 'hello world');
    expectValue(coerceText(str, ['42']), '42');
    expectValue(coerceText(str, []), '');
    expectFail(coerceText(str, ['hello', 'world!']), 'out-of-range');
  });

  it('reads colours from "#rrggbb" text or 3–4 numbers', () => {
    const col = spec({ type: 'color' });
    expectValue(coerceText(col, ['#FF0000']), '#ff0000ff');
    expectValue(coerceText(col, ['#00ff0080']), '#00ff0080');
    expectValue(coerceText(col, ['255', '0', '0']), '#ff0000ff');
    expectValue(coerceText(col, ['1.0', '0', '0', '0.5']), '#ff000080');
    expectFail(coerceText(col, ['red']), 'wrong-type');
    expectFail(coerceText(col, ['255', '0']), 'wrong-arity');
    expectFail(coerceText(col, ['300', '0', '0']), 'out-of-range');
  });

  it('fires a trigger with no words or a nonzero number; 0 is a release', () => {
    const trig = spec({ type: 'trigger' });
    fire(coerceText(trig, []));
    fire(coerceText(trig, ['1']));
    noop(coerceText(trig, ['0']));
    expectFail(coerceText(trig, ['go']), 'wrong-type');
    expectFail(coerceText(trig, ['1', '1']), 'wrong-arity');
  });
});

describe('initialValue', () => {
  it('uses the declared default when there is one', () => {
    assert.equal(initialValue(spec({ type: 'float', min: 0, max: 1, default: 0.75 })), 0.75);
    assert.equal(initialValue(spec({ type: 'int', default: -4 })), -4);
    assert.equal(initialValue(spec({ type: 'bool', default: true })), true);
    assert.equal(initialValue(spec({ type: 'string', default: 'intro' })), 'intro');
  });

  it('is 0 for numbers when the range allows it', () => {
    assert.equal(initialValue(spec({ type: 'float' })), 0);
    assert.equal(initialValue(spec({ type: 'float', min: -1, max: 1 })), 0);
    assert.equal(initialValue(spec({ type: 'int', min: 0, max: 127 })), 0);
  });

  it('is the bound nearest to 0 when the range excludes 0', () => {
    assert.equal(initialValue(spec({ type: 'float', min: 20, max: 999 })), 20);
    assert.equal(initialValue(spec({ type: 'float', min: 20 })), 20);
    assert.equal(initialValue(spec({ type: 'int', min: -10, max: -5 })), -5);
    assert.equal(initialValue(spec({ type: 'int', max: -3 })), -3);
  });

  it('is false, "", null for bool, string, trigger without defaults', () => {
    assert.equal(initialValue(spec({ type: 'bool' })), false);
    assert.equal(initialValue(spec({ type: 'string' })), '');
    assert.equal(initialValue(spec({ type: 'trigger' })), null);
  });

  it('is canonical #rrggbbaa for colours, opaque black by default', () => {
    assert.equal(initialValue(spec({ type: 'color' })), '#000000ff');
    assert.equal(initialValue(spec({ type: 'color', default: '#FFFFFF' })), '#ffffffff');
    assert.equal(initialValue(spec({ type: 'color', default: '#11223344' })), '#11223344');
  });
});

describe('string parameters with values (an enum)', () => {
  const blend = {
    type: 'string' as const,
    maxLength: 16,
    values: ['normal', 'add', 'multiply', 'screen'],
  };
  it('accepts only the declared strings, from OSC, text and peers alike', () => {
    assert.deepEqual(coerceArgs(blend, [{ type: 's', value: 'add' }]), {
      ok: true,
      value: 'add',
      clamped: false,
    });
    const bad = coerceArgs(blend, [{ type: 's', value: 'overlay' }]);
    assert.equal(bad.ok, false);
    assert.equal(!bad.ok && bad.code, 'out-of-range');
    assert.match(!bad.ok ? bad.message : '', /"overlay" is not one of normal, add, multiply, screen/);
    assert.equal(coerceText(blend, ['Add']).ok, false, 'case matters: the page draws exactly these');
    assert.equal(checkValue(blend, 'screen').ok, true);
    const peer = checkValue(blend, 'dodge');
    assert.equal(!peer.ok && peer.code, 'out-of-range');
  });
  it('the default configuration declares /layer/N/blend and /layer/N/deck as enums, and OSCQuery shows VALS', () => {
    const params = ParamMap.parse(DEFAULT_PARAMS);
    const deck = params['/layer/1/deck']!;
    assert.ok(deck.type === 'string' && deck.values?.join() === 'a,b');
    assert.deepEqual(staticAttributes('/layer/1/blend', params['/layer/1/blend']!).RANGE, [
      { VALS: ['normal', 'add', 'multiply', 'screen'] },
    ]);
    assert.equal(
      ParamMap.safeParse({ '/x': { type: 'string', default: 'c', values: ['a', 'b'] } }).success,
      false,
      'a default outside the values is a configuration error',
    );
  });
});
