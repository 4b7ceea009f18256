import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SyncConfig } from '../../../daemon/config/sync-schema.ts';
import {
  compareStamps,
  createHlc,
  DEFAULT_MAX_DRIFT_MS,
  type HlcMark,
  type Stamp,
  ZERO_STAMP,
} from '../../../daemon/state/hlc.ts';

// The hybrid logical clock with an injected wall clock: every case is deterministic.

function fakeClock(start: number) {
  let now = start;
  return {
    now: () => now,
    set: (t: number) => {
      now = t;
    },
  };
}

const stamp = (t: number, c: number, node: string): Stamp => ({ t, c, node });

describe('compareStamps', () => {
  it('orders by time, then counter, then node ID', () => {
    assert.equal(compareStamps(stamp(1, 9, 'z'), stamp(2, 0, 'a')), -1);
    assert.equal(compareStamps(stamp(2, 0, 'a'), stamp(1, 9, 'z')), 1);
    assert.equal(compareStamps(stamp(5, 1, 'z'), stamp(5, 2, 'a')), -1);
    assert.equal(compareStamps(stamp(5, 2, 'a'), stamp(5, 1, 'z')), 1);
    assert.equal(compareStamps(stamp(5, 2, 'a'), stamp(5, 2, 'b')), -1);
    assert.equal(compareStamps(stamp(5, 2, 'b'), stamp(5, 2, 'a')), 1);
    assert.equal(compareStamps(stamp(5, 2, 'a'), stamp(5, 2, 'a')), 0);
  });

  it('ZERO_STAMP is below every real stamp and frozen', () => {
    assert.equal(compareStamps(ZERO_STAMP, stamp(0, 0, 'a')), -1);
    assert.equal(compareStamps(ZERO_STAMP, stamp(1, 0, '')), -1);
    assert.equal(compareStamps(ZERO_STAMP, ZERO_STAMP), 0);
    assert.equal(Object.isFrozen(ZERO_STAMP), true);
  });

  const arbStamp = fc.record({
    t: fc.integer({ min: 0, max: 5 }),
    c: fc.integer({ min: 0, max: 3 }),
    node: fc.constantFrom('', 'a', 'b', 'ab'),
  });

  it('property: a total order (antisymmetric, transitive, zero only for equal stamps)', () => {
    fc.assert(
      fc.property(arbStamp, arbStamp, arbStamp, (a, b, c) => {
        const ab = compareStamps(a, b);
        assert.equal(compareStamps(b, a), -ab || 0);
        assert.equal(ab === 0, a.t === b.t && a.c === b.c && a.node === b.node);
        if (ab <= 0 && compareStamps(b, c) <= 0) assert.ok(compareStamps(a, c) <= 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: sorting with it agrees with sorting by (t, c, node)', () => {
    fc.assert(
      fc.property(fc.array(arbStamp, { maxLength: 20 }), (stamps) => {
        const key = (s: Stamp) => `${String(s.t).padStart(2, '0')}|${s.c}|${s.node}`;
        const byKey = [...stamps].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
        assert.deepEqual([...stamps].sort(compareStamps), byKey);
      }),
    );
  });
});

describe('createHlc: tick', () => {
  it('follows the wall clock while it advances, counter reset', () => {
    const clock = fakeClock(1000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    assert.equal(hlc.node, 'n1');
    assert.deepEqual(hlc.tick(), { t: 1000, c: 0, node: 'n1' });
    clock.set(1005);
    assert.deepEqual(hlc.tick(), { t: 1005, c: 0, node: 'n1' });
  });

  it('counts up when the wall clock stands still', () => {
    const clock = fakeClock(1000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    const stamps = [hlc.tick(), hlc.tick(), hlc.tick()];
    assert.deepEqual(
      stamps.map((s) => [s.t, s.c]),
      [
        [1000, 0],
        [1000, 1],
        [1000, 2],
      ],
    );
  });

  it('never goes backwards when the wall clock does', () => {
    const clock = fakeClock(1000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    const a = hlc.tick();
    clock.set(400);
    const b = hlc.tick();
    assert.deepEqual(b, { t: 1000, c: 1, node: 'n1' });
    assert.equal(compareStamps(a, b), -1);
    clock.set(1000);
    assert.deepEqual(hlc.tick(), { t: 1000, c: 2, node: 'n1' });
    clock.set(1001);
    assert.deepEqual(hlc.tick(), { t: 1001, c: 0, node: 'n1' });
  });

  it('peek shows the last stamp without advancing', () => {
    const clock = fakeClock(50);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    assert.deepEqual(hlc.peek(), { t: 0, c: 0, node: 'n1' });
    hlc.tick();
    clock.set(60);
    assert.deepEqual(hlc.peek(), { t: 50, c: 0, node: 'n1' });
    assert.deepEqual(hlc.peek(), { t: 50, c: 0, node: 'n1' });
  });

  it('uses Date.now when no clock is injected', () => {
    const hlc = createHlc({ node: 'n1' });
    const before = Date.now();
    const s = hlc.tick();
    assert.ok(s.t >= before && s.t <= Date.now());
  });
});

describe('createHlc: observe', () => {
  it('jumps to a remote stamp ahead of us, one past its counter', () => {
    const clock = fakeClock(1000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    hlc.tick();
    assert.equal(hlc.observe(stamp(1500, 3, 'n2')), true);
    assert.deepEqual(hlc.peek(), { t: 1500, c: 4, node: 'n1' });
    // The next local event is after the observed one although the wall clock is behind it.
    const next = hlc.tick();
    assert.deepEqual(next, { t: 1500, c: 5, node: 'n1' });
    assert.equal(compareStamps(next, stamp(1500, 3, 'n2')), 1);
  });

  it('counts up past a remote stamp behind us', () => {
    const clock = fakeClock(1000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    hlc.tick(); // (1000, 0)
    assert.equal(hlc.observe(stamp(900, 7, 'n2')), true);
    assert.deepEqual(hlc.peek(), { t: 1000, c: 1, node: 'n1' });
  });

  it('takes the larger counter plus one when both have the same time', () => {
    const clock = fakeClock(1000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    hlc.tick();
    hlc.tick(); // (1000, 1)
    assert.equal(hlc.observe(stamp(1000, 5, 'n2')), true);
    assert.deepEqual(hlc.peek(), { t: 1000, c: 6, node: 'n1' });
    assert.equal(hlc.observe(stamp(1000, 2, 'n2')), true);
    assert.deepEqual(hlc.peek(), { t: 1000, c: 7, node: 'n1' });
  });

  it('follows the wall clock when it is ahead of both', () => {
    const clock = fakeClock(1000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    hlc.tick();
    clock.set(2000);
    assert.equal(hlc.observe(stamp(1500, 9, 'n2')), true);
    assert.deepEqual(hlc.peek(), { t: 2000, c: 0, node: 'n1' });
  });

  it('refuses a remote stamp too far ahead and leaves the clock untouched', () => {
    const clock = fakeClock(10_000);
    const hlc = createHlc({ node: 'n1', now: clock.now, maxDriftMs: 500 });
    hlc.tick();
    const before = hlc.peek();
    assert.equal(hlc.observe(stamp(10_501, 0, 'n2')), false);
    assert.deepEqual(hlc.peek(), before);
    assert.deepEqual(hlc.tick(), { t: 10_000, c: 1, node: 'n1' });
    // Exactly at the limit is still accepted.
    assert.equal(hlc.observe(stamp(10_500, 0, 'n2')), true);
    assert.deepEqual(hlc.peek(), { t: 10_500, c: 1, node: 'n1' });
  });

  it('allows 2 s of drift by default (sync.maxDriftMs takes its default from the same constant)', () => {
    const clock = fakeClock(1_000_000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    assert.equal(hlc.maxDriftMs, DEFAULT_MAX_DRIFT_MS);
    assert.equal(SyncConfig.parse({}).maxDriftMs, DEFAULT_MAX_DRIFT_MS);
    assert.equal(hlc.observe(stamp(1_002_001, 0, 'n2')), false);
    assert.deepEqual(hlc.peek(), { t: 0, c: 0, node: 'n1' });
    assert.equal(hlc.observe(stamp(1_002_000, 0, 'n2')), true);
    assert.deepEqual(hlc.peek(), { t: 1_002_000, c: 1, node: 'n1' });
  });

  it('the observer attack of issue 12: a stamp 59.5 s ahead is refused and the next local write is stamped now', () => {
    const clock = fakeClock(1_000_000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    assert.equal(hlc.admits(stamp(1_059_500, 0, 'observer')), false);
    assert.equal(hlc.observe(stamp(1_059_500, 0, 'observer')), false);
    assert.deepEqual(hlc.tick(), { t: 1_000_000, c: 0, node: 'n1' });
  });

  it('refuses stamps that are not numbers a clock can hold, clock untouched', () => {
    const clock = fakeClock(1000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    hlc.tick();
    for (const bad of [
      stamp(Number.NaN, 0, 'n2'),
      stamp(Number.NEGATIVE_INFINITY, 0, 'n2'),
      stamp(1000, Number.NaN, 'n2'),
      stamp(1000, -1, 'n2'),
      stamp(1000, 0.5, 'n2'),
      stamp(1000, Number.POSITIVE_INFINITY, 'n2'),
    ]) {
      assert.equal(hlc.observe(bad), false, JSON.stringify(bad));
      assert.deepEqual(hlc.peek(), { t: 1000, c: 0, node: 'n1' });
    }
    assert.deepEqual(hlc.tick(), { t: 1000, c: 1, node: 'n1' });
  });

  it('property: every tick is after the previous tick and after every accepted remote stamp', () => {
    type Step =
      | { kind: 'move'; dt: number }
      | { kind: 'tick' }
      | { kind: 'observe'; ahead: number; c: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('move' as const), dt: fc.integer({ min: -50, max: 50 }) }),
      fc.record({ kind: fc.constant('tick' as const) }),
      fc.record({
        kind: fc.constant('observe' as const),
        ahead: fc.integer({ min: -100, max: 150 }),
        c: fc.integer({ min: 0, max: 10 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const clock = fakeClock(10_000);
        const hlc = createHlc({ node: 'n1', now: clock.now, maxDriftMs: 100 });
        let floor: Stamp = ZERO_STAMP; // the latest stamp a tick must exceed
        for (const s of steps) {
          if (s.kind === 'move') clock.set(clock.now() + s.dt);
          else if (s.kind === 'tick') {
            const t = hlc.tick();
            assert.equal(compareStamps(t, floor), 1, `${JSON.stringify(t)} after ${JSON.stringify(floor)}`);
            assert.ok(t.t >= clock.now());
            floor = t;
          } else {
            const remote = stamp(clock.now() + s.ahead, s.c, 'n2');
            const accepted = hlc.observe(remote);
            assert.equal(accepted, s.ahead <= 100);
            if (accepted && compareStamps(remote, floor) > 0) floor = remote;
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('createHlc: admits and driftOf', () => {
  it('admits answers what observe would, without moving the clock', () => {
    const clock = fakeClock(10_000);
    const hlc = createHlc({ node: 'n1', now: clock.now, maxDriftMs: 500 });
    hlc.tick();
    const before = hlc.peek();
    const cases: Array<[Stamp, boolean]> = [
      [stamp(10_500, 0, 'n2'), true],
      [stamp(10_501, 0, 'n2'), false],
      [stamp(3, 0, 'n2'), true],
      [stamp(Number.NaN, 0, 'n2'), false],
      [stamp(10_000, -1, 'n2'), false],
      [stamp(10_000, 1.5, 'n2'), false],
      [stamp(Number.POSITIVE_INFINITY, 0, 'n2'), false],
    ];
    for (const [s, expected] of cases) {
      assert.equal(hlc.admits(s), expected, JSON.stringify(s));
      assert.deepEqual(hlc.peek(), before, 'admits never moves the clock');
    }
    // The same stamps through observe: the same answers (the clock moves for the accepted ones).
    for (const [s, expected] of cases) assert.equal(hlc.observe(s), expected, JSON.stringify(s));
  });

  it('admits follows the wall clock: a stamp refused now is admitted once wall time catches up', () => {
    const clock = fakeClock(10_000);
    const hlc = createHlc({ node: 'n1', now: clock.now, maxDriftMs: 500 });
    const s = stamp(11_000, 0, 'n2');
    assert.equal(hlc.admits(s), false);
    clock.set(10_500);
    assert.equal(hlc.admits(s), true);
  });

  it('driftOf is the stamp minus our wall clock, negative when it is behind', () => {
    const clock = fakeClock(10_000);
    const hlc = createHlc({ node: 'n1', now: clock.now });
    assert.equal(hlc.driftOf(stamp(11_600, 0, 'n2')), 1600);
    assert.equal(hlc.driftOf(stamp(9_250, 3, 'n2')), -750);
  });
});

describe('createHlc: the high-water mark', () => {
  /** A mark held in memory: what it was asked and what it answered, in order. */
  function memoryMark(floor: number, lease: number) {
    const extended: Array<[number, number]> = [];
    const mark: HlcMark = {
      floor,
      extend(t) {
        extended.push([t, t + lease]);
        return t + lease;
      },
    };
    return { mark, extended };
  }

  it('starts above the floor even when the wall clock is behind it', () => {
    const clock = fakeClock(5_000);
    const { mark } = memoryMark(9_000, 100);
    const hlc = createHlc({ node: 'n1', now: clock.now, mark });
    assert.deepEqual(hlc.tick(), { t: 9_000, c: 1, node: 'n1' });
    assert.deepEqual(hlc.tick(), { t: 9_000, c: 2, node: 'n1' });
  });

  it('extends the lease before a stamp reaches it, and not otherwise', () => {
    const clock = fakeClock(1_000);
    const { mark, extended } = memoryMark(1_000, 100);
    const hlc = createHlc({ node: 'n1', now: clock.now, mark });
    hlc.tick(); // t = 1000 reaches the floor: extend to 1100
    assert.deepEqual(extended, [[1_000, 1_100]]);
    clock.set(1_099);
    hlc.tick();
    assert.equal(extended.length, 1, 'still inside the lease');
    clock.set(1_100);
    hlc.tick();
    assert.deepEqual(extended.at(-1), [1_100, 1_200]);
  });

  it('an observed stamp that moves t past the lease extends it too', () => {
    const clock = fakeClock(1_000);
    const { mark, extended } = memoryMark(1_000, 100);
    const hlc = createHlc({ node: 'n1', now: clock.now, maxDriftMs: 500, mark });
    hlc.tick();
    assert.equal(hlc.observe(stamp(1_400, 2, 'n2')), true);
    assert.deepEqual(extended.at(-1), [1_400, 1_500]);
    assert.equal(hlc.observe(stamp(1_600, 0, 'n2')), false, 'refused: beyond the drift bound');
    assert.equal(extended.length, 2, 'a refused stamp writes nothing');
  });

  it('property: every stamp issued or observed has t below the lease last returned', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('move' as const), dt: fc.integer({ min: -300, max: 300 }) }),
      fc.record({ kind: fc.constant('tick' as const) }),
      fc.record({ kind: fc.constant('observe' as const), ahead: fc.integer({ min: -100, max: 300 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000 }), fc.array(step, { maxLength: 80 }), (floor, steps) => {
        const clock = fakeClock(1_000);
        const { mark, extended } = memoryMark(floor, 50);
        const hlc = createHlc({ node: 'n1', now: clock.now, maxDriftMs: 200, mark });
        const lease = () => extended.at(-1)?.[1] ?? floor;
        for (const s of steps) {
          if (s.kind === 'move') clock.set(Math.max(0, clock.now() + s.dt));
          else if (s.kind === 'tick') {
            const t = hlc.tick();
            assert.ok(t.t >= floor);
            assert.ok(t.t < lease(), `${t.t} issued with the lease at ${lease()}`);
          } else hlc.observe(stamp(clock.now() + s.ahead, 0, 'n2'));
          assert.ok(hlc.peek().t < lease() || (hlc.peek().t === floor && extended.length === 0));
        }
      }),
      { numRuns: 300 },
    );
  });
});
