import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Value } from '../../../daemon/state/coerce.ts';
import { compareStamps, type Stamp } from '../../../daemon/state/hlc.ts';
import { compareWrites, PERSON_LEAD_MS, sameValue, valueKey } from '../../../daemon/state/write-order.ts';
import { arbValue } from './arbitraries.ts';

// The one order every daemon ranks two writes of a path by. If two distinct values shared a
// canonical text, or the order were not total, two daemons holding both sides of an
// equivocation could keep different winners for good.

type W = { stamp: Stamp; value: Value };

// Few times, counters and writers, so equal stamps (and so the value tie-break) come up often.
const arbStamp: fc.Arbitrary<Stamp> = fc.record({
  t: fc.constantFrom(0, 1, 1_763_800_000_000),
  c: fc.constantFrom(0, 1),
  node: fc.constantFrom('A', 'B'),
});
const arbSmallValue = fc.oneof(
  arbValue,
  fc.constantFrom<Value>(0, -0, 1, true, false, '1', 'true', '', 'n', null),
);
const arbWrite: fc.Arbitrary<W> = fc.record({ stamp: arbStamp, value: arbSmallValue });

const sign = (n: number) => (n > 0 ? 1 : n < 0 ? -1 : 0);
const show = (w: W) =>
  `${JSON.stringify(w.stamp)} ${Object.is(w.value, -0) ? '-0' : JSON.stringify(w.value)}`;

describe('valueKey', () => {
  it('gives values a JSON or === check would confuse distinct texts', () => {
    const values: Value[] = [
      1,
      true,
      '1',
      0,
      -0,
      false,
      '0',
      '',
      null,
      'n',
      'null',
      'b1',
      'f1',
      's',
      0.1,
      '0.1',
    ];
    const keys = values.map(valueKey);
    assert.equal(new Set(keys).size, values.length, keys.join(' | '));
    assert.notEqual(valueKey(0), valueKey(-0));
    assert.notEqual(valueKey(1), valueKey(true));
    assert.notEqual(valueKey(1), valueKey('1'));
    assert.notEqual(valueKey(true), valueKey('true'));
  });

  it('is equal exactly when the values are the same value (property)', () => {
    fc.assert(
      fc.property(arbSmallValue, arbSmallValue, (a, b) => {
        assert.equal(valueKey(a) === valueKey(b), Object.is(a, b), `${String(a)} / ${String(b)}`);
        assert.equal(sameValue(a, b), Object.is(a, b));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('compareWrites', () => {
  it('agrees with compareStamps whenever the stamps differ, and is 0 only for the same stamp and value (property)', () => {
    fc.assert(
      fc.property(arbWrite, arbWrite, (a, b) => {
        const s = compareStamps(a.stamp, b.stamp);
        const w = compareWrites(a, b);
        if (s !== 0) assert.equal(w, s, `${show(a)} vs ${show(b)}`);
        assert.equal(w === 0, s === 0 && Object.is(a.value, b.value), `${show(a)} vs ${show(b)}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('is antisymmetric and transitive: a total order (property)', () => {
    fc.assert(
      fc.property(arbWrite, arbWrite, arbWrite, (a, b, c) => {
        assert.ok(sign(compareWrites(a, b)) === -sign(compareWrites(b, a)), `${show(a)} vs ${show(b)}`);
        if (compareWrites(a, b) <= 0 && compareWrites(b, c) <= 0)
          assert.ok(compareWrites(a, c) <= 0, `${show(a)} ≤ ${show(b)} ≤ ${show(c)}`);
      }),
      { numRuns: 5000 },
    );
  });

  it('picks the same winner from any arrival order (property)', () => {
    fc.assert(
      fc.property(
        fc
          .array(arbWrite, { minLength: 1, maxLength: 12 })
          .chain((ws) => fc.tuple(fc.constant(ws), fc.shuffledSubarray(ws, { minLength: ws.length }))),
        ([writes, shuffled]) => {
          const winner = (ws: readonly W[]) =>
            ws.reduce((best, w) => (compareWrites(w, best) > 0 ? w : best));
          const x = winner(writes);
          const y = winner(shuffled);
          assert.ok(compareWrites(x, y) === 0, `${show(x)} vs ${show(y)}`);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('breaks an equivocation (one stamp, two values) the same way on both sides', () => {
    const stamp = { t: 5, c: 0, node: 'A' };
    for (const [x, y] of [
      [11, 222],
      [1, true],
      [0, -0],
      ['1', 1],
      [null, false],
    ] as [Value, Value][]) {
      const a = { stamp, value: x };
      const b = { stamp, value: y };
      assert.notEqual(compareWrites(a, b), 0, `${String(x)} vs ${String(y)}`);
      assert.ok(compareWrites(a, b) === -compareWrites(b, a));
    }
  });
});

describe('compareWrites: a person’s write leads automation by PERSON_LEAD_MS', () => {
  const T = 1_763_800_000_000;
  const person = (t: number, value: Value = 0.25, node = 'A') => ({
    stamp: { t, c: 0, node },
    value,
    human: true,
  });
  const plugin = (t: number, value: Value = 0.7, node = 'B') => ({ stamp: { t, c: 0, node }, value });

  it('ranks a plugin write stamped less than the lead after a person’s below it, and one at or past the lead above', () => {
    assert.ok(compareWrites(person(T), plugin(T + 1)) > 0);
    assert.ok(compareWrites(person(T), plugin(T + PERSON_LEAD_MS - 1)) > 0);
    assert.ok(compareWrites(person(T), plugin(T + PERSON_LEAD_MS)) < 0, 'at the lead, the later stamp');
    assert.ok(compareWrites(person(T), plugin(T + PERSON_LEAD_MS + 1)) < 0);
    assert.ok(compareWrites(person(T), plugin(T - 1)) > 0, 'an earlier plugin write, as ever');
  });

  it('leaves people among themselves, and plugins among themselves, to their stamps', () => {
    assert.ok(compareWrites(person(T, 0.1, 'A'), person(T + 5, 0.2, 'B')) < 0);
    assert.ok(compareWrites(plugin(T, 0.1, 'A'), plugin(T + 5, 0.2, 'B')) < 0);
  });

  // Times around the lead, so the person-before-plugin cases cross it both ways.
  type HW = W & { human?: boolean };
  const arbHuman: fc.Arbitrary<HW> = fc.record({
    stamp: fc.record({
      t: fc.constantFrom(
        T,
        T + 1,
        T + PERSON_LEAD_MS - 1,
        T + PERSON_LEAD_MS,
        T + PERSON_LEAD_MS + 1,
        T + 2 * PERSON_LEAD_MS,
      ),
      c: fc.constantFrom(0, 1),
      node: fc.constantFrom('A', 'B'),
    }),
    value: arbSmallValue,
    human: fc.boolean(),
  });
  const showH = (w: HW) => `${show(w)}${w.human ? ' person' : ' plugin'}`;

  it('is still a total order, 0 only for the same write (property)', () => {
    fc.assert(
      fc.property(arbHuman, arbHuman, arbHuman, (a, b, c) => {
        assert.ok(sign(compareWrites(a, b)) === -sign(compareWrites(b, a)), `${showH(a)} vs ${showH(b)}`);
        if (compareWrites(a, b) <= 0 && compareWrites(b, c) <= 0)
          assert.ok(compareWrites(a, c) <= 0, `${showH(a)} ≤ ${showH(b)} ≤ ${showH(c)}`);
        if (compareWrites(a, b) === 0)
          assert.ok(
            compareStamps(a.stamp, b.stamp) === 0 && Object.is(a.value, b.value),
            `${showH(a)} vs ${showH(b)}`,
          );
      }),
      { numRuns: 5000 },
    );
  });

  it('picks the same winner from any arrival order (property)', () => {
    fc.assert(
      fc.property(
        fc
          .array(arbHuman, { minLength: 1, maxLength: 12 })
          .chain((ws) => fc.tuple(fc.constant(ws), fc.shuffledSubarray(ws, { minLength: ws.length }))),
        ([writes, shuffled]) => {
          const winner = (ws: readonly HW[]) =>
            ws.reduce((best, w) => (compareWrites(w, best) > 0 ? w : best));
          assert.ok(compareWrites(winner(writes), winner(shuffled)) === 0);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
