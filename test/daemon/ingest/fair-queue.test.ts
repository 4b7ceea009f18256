import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFairQueue, type FairQueueInit } from '../../../daemon/ingest/fair-queue.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';

// The fair queue with a manual event loop (`turn()` runs what was deferred) and a fake clock:
// every wait is counted in work units, never in time.

type Job = { src: string; n: number; cost?: number };

/** `usPerUnit`: how long a unit of work takes on the fake clock (default 10 µs when `turnMs` is set, else 0). */
function setup({ usPerUnit: perUnit, ...opts }: Partial<FairQueueInit<Job>> & { usPerUnit?: number } = {}) {
  const clock = createFakeClock();
  const deferred: (() => void)[] = [];
  const ran: (Job & { waited: number })[] = [];
  const dropped: (Job & { cost: number })[] = [];
  // Time the work itself takes: each unit run moves this on by `usPerUnit`.
  let worked = 0;
  const usPerUnit = perUnit ?? (opts.turnMs === undefined ? 0 : 10);
  const q = createFairQueue<Job>({
    quantum: 64,
    unitsPerTurn: 1000,
    turnMs: Number.POSITIVE_INFINITY,
    maxQueuedUnits: 100_000,
    cpuShare: 1,
    burstMs: 1e9,
    run: (job, _key, waited) => {
      ran.push({ ...job, waited });
      worked += ((job.cost ?? 0) * usPerUnit) / 1000;
    },
    onDrop: (job, _key, cost) => dropped.push({ ...job, cost }),
    now: () => clock.now() + worked,
    timers: clock.timers,
    defer: (fn) => deferred.push(fn),
    ...opts,
  });
  /** One turn of the event loop: what was deferred before it runs. */
  const turn = () => {
    for (const fn of deferred.splice(0)) fn();
  };
  const settle = (max = 10_000) => {
    for (let i = 0; i < max && deferred.length > 0; i++) turn();
    assert.equal(deferred.length, 0, 'the queue drains');
  };
  return { q, ran, dropped, turn, settle, clock, deferred };
}

/** Drains the queue and checks the performer's 40 moves all ran, in order. */
function performerMoves(s: ReturnType<typeof setup>) {
  s.settle();
  const moves = s.ran.filter((r) => r.src === 'performer');
  assert.deepEqual(
    moves.map((r) => r.n),
    Array.from({ length: 40 }, (_, i) => i + 1),
    'all 40 apply, in order',
  );
  return moves;
}

describe('fair queue (deficit round robin)', () => {
  it('runs work at once while nothing waits', () => {
    const s = setup();
    assert.equal(s.q.submit('a', 1, { src: 'a', n: 1 }), 'ran');
    assert.equal(s.q.submit('b', 5, { src: 'b', n: 1 }), 'ran');
    assert.deepEqual(
      s.ran.map((r) => r.n),
      [1, 1],
    );
    assert.equal(s.q.stats().queuedUnits, 0);
  });

  it('schedules no turn for work it runs at once: one yield per unitsPerTurn units, however many turns they spread over', () => {
    const s = setup({ unitsPerTurn: 100 });
    let yields = 0;
    let most = 0;
    // A fader at show rates: each datagram arrives in a turn of its own.
    for (let i = 0; i < 1000; i++) {
      const before = s.ran.length;
      s.q.submit('a', 1, { src: 'a', n: i });
      yields += s.deferred.length;
      s.turn();
      most = Math.max(most, s.ran.length - before);
    }
    s.settle();
    assert.deepEqual(
      s.ran.map((r) => r.n),
      Array.from({ length: 1000 }, (_, i) => i),
      'every one ran, in order',
    );
    assert.ok(yields <= 10, `${yields} turns scheduled for 1000 units at 100 a turn`);
    assert.ok(yields >= 9, 'and still one per unitsPerTurn');
    assert.ok(most <= 100, 'no turn of the loop ran more than unitsPerTurn');
  });

  it('yields the event loop after unitsPerTurn, then goes on next turn', () => {
    const s = setup({ unitsPerTurn: 100 });
    for (let i = 0; i < 10; i++) s.q.submit('a', 30, { src: 'a', n: i });
    assert.equal(s.ran.length, 3, '90 units this turn; the 4th would pass 100');
    s.turn();
    assert.equal(s.ran.length, 6);
    s.settle();
    assert.deepEqual(
      s.ran.map((r) => r.n),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      'one source: first in, first out',
    );
  });

  it('also yields after turnMs of work, however few units that was (a unit can cost 10 µs)', () => {
    const s = setup({ turnMs: 1 });
    // 10 µs a unit: 1 ms is 100 units, well before unitsPerTurn (1000).
    for (let i = 0; i < 10; i++) s.q.submit('a', 30, { src: 'a', n: i, cost: 30 });
    assert.equal(s.ran.length, 4, '300 µs each: the 4th starts at 0.9 ms and ends past 1 ms');
    s.turn();
    assert.equal(s.ran.length, 8);
    s.settle();
    assert.equal(s.ran.length, 10);
  });

  it('a fader among a fan-out flooder waits at most quantum + the largest cost - 1 units of it', () => {
    const s = setup({ unitsPerTurn: 4096 });
    const flood = (i: number) => s.q.submit('flooder', 2000, { src: 'flooder', n: i });
    for (let i = 0; i < 50; i++) flood(i);
    for (let m = 1; m <= 40; m++) {
      s.q.submit('performer', 1, { src: 'performer', n: m });
      flood(100 + m); // the flooder keeps its queue full
      s.turn();
    }
    const moves = performerMoves(s);
    const bound = 64 + 2000 - 1;
    for (const m of moves) assert.ok(m.waited <= bound, `move ${m.n} waited ${m.waited} > ${bound} units`);
    assert.ok(s.q.stats().maxWaitUnits <= bound);
    assert.equal(
      s.ran.filter((r) => r.src === 'flooder').length,
      90,
      'the flooder loses nothing while there is room',
    );
  });

  it('a crowd of flooders: the wait grows with the number of waiting sources, never past the sum', () => {
    const s = setup({ unitsPerTurn: 512 });
    const crowd = Array.from({ length: 10 }, (_, i) => `f${i}`);
    for (let r = 0; r < 20; r++) for (const f of crowd) s.q.submit(f, 300, { src: f, n: r });
    for (let m = 1; m <= 40; m++) {
      s.q.submit('performer', 1, { src: 'performer', n: m });
      s.turn();
    }
    performerMoves(s);
    const bound = crowd.length * (64 + 300 - 1);
    assert.ok(s.q.stats().maxWaitUnits <= bound, `${s.q.stats().maxWaitUnits} > ${bound}`);
    // Served in turn: after the first rounds every flooder has run about as much as the others.
    const perFlooder = crowd.map((f) => s.ran.filter((r) => r.src === f).length);
    assert.deepEqual(
      perFlooder,
      crowd.map(() => 20),
    );
  });

  it('shares fairly: two backlogged sources get equal units per turn whatever their packet sizes', () => {
    const s = setup({ unitsPerTurn: 2000 });
    s.q.submit('z', 2000, { src: 'z', n: 0 }); // fills this turn: everything after waits
    for (let i = 0; i < 3000; i++) s.q.submit('small', 1, { src: 'small', n: i });
    for (let i = 0; i < 100; i++) s.q.submit('big', 50, { src: 'big', n: i });
    const before = s.ran.length;
    s.turn();
    const units = { small: 0, big: 0 };
    for (const r of s.ran.slice(before)) units[r.src as 'small' | 'big'] += r.src === 'small' ? 1 : 50;
    assert.ok(units.small + units.big <= 2000, 'one turn runs at most unitsPerTurn');
    assert.ok(units.small + units.big > 2000 - 50, 'and stops only when the next would not fit');
    assert.ok(Math.abs(units.small - units.big) <= 64 + 50, `split ${units.small} / ${units.big}`);
  });

  it('over maxQueuedUnits the source with the most waiting loses its newest; a newcomer gets in', () => {
    const s = setup({ maxQueuedUnits: 1000 });
    s.q.submit('x', 1, { src: 'x', n: 0 }); // runs at once, the turn has begun
    s.q.submit('x', 1000, { src: 'x', n: 1 }); // would pass the turn: queued
    assert.equal(s.q.stats().queuedUnits, 1000);
    assert.equal(s.q.submit('fader', 1, { src: 'fader', n: 1 }), 'queued', 'the fader gets in');
    assert.deepEqual(
      s.dropped.map((d) => [d.src, d.n, d.cost]),
      [['x', 1, 1000]],
    );
    assert.equal(s.q.submit('x', 999, { src: 'x', n: 2 }), 'queued');
    assert.equal(
      s.q.submit('x', 5, { src: 'x', n: 3 }),
      'dropped',
      'the biggest waiter is itself: its newest goes',
    );
    assert.equal(s.q.stats().dropped, 2);
    s.settle();
    assert.deepEqual(
      s.ran.map((r) => `${r.src}${r.n}`),
      ['x0', 'fader1', 'x2'],
    );
  });

  it('past cpuShare of the time, work waits (a timer, no busy loop) until it is back under', async () => {
    // 100 µs a unit: each 50-unit packet takes 5 ms; half the time, 2 ms of burst.
    const s = setup({ cpuShare: 0.5, burstMs: 2, usPerUnit: 100 });
    const t0 = s.clock.now();
    for (let i = 0; i < 5; i++) s.q.submit('a', 50, { src: 'a', n: i, cost: 50 });
    assert.equal(s.ran.length, 1, 'the first runs (the budget may go into debt by one packet)');
    s.settle();
    assert.equal(s.ran.length, 1, 'nothing more runs while in debt');
    assert.equal(s.clock.pending(), 1, 'one timer until the debt is repaid');
    for (let i = 0; i < 100 && s.ran.length < 5; i++) {
      await s.clock.advance(1);
      s.settle();
    }
    assert.equal(s.ran.length, 5);
    // 25 ms of work at half the time, less the 2 ms burst: at least 46 ms went by in all.
    const elapsed = s.clock.now() - t0 + 25;
    assert.ok(elapsed >= (25 - 2) / 0.5, `${elapsed} ms for 25 ms of work`);
    assert.equal(s.clock.pending(), 0);
  });

  // The OSC path reads the clock once a packet, before decoding, and hands that reading on
  // (issue 18): the decode is OSC work, so it counts against the share like the apply after it.
  it('work submitted with the time its caller read is charged from then, so the work before submit counts too', () => {
    const budgeted = () => {
      const clock = { t: 1000 };
      const q = createFairQueue<number>({
        quantum: 64,
        unitsPerTurn: 1000,
        turnMs: Number.POSITIVE_INFINITY,
        maxQueuedUnits: 1000,
        cpuShare: 0.5,
        burstMs: 1,
        run: () => {},
        onDrop: () => {},
        now: () => clock.t,
        timers: createFakeClock().timers,
        defer: () => {},
      });
      return { q, clock };
    };
    const given = budgeted();
    const readAt = given.clock.t;
    given.clock.t += 3; // 3 ms of decoding between the caller's reading and the submit
    assert.equal(given.q.submit('a', 1, 0, readAt), 'ran');
    // The run itself took no time on this clock: the 3 ms before it put the 1 ms budget in debt.
    assert.equal(given.q.submit('a', 1, 1), 'queued', 'in debt: the next one waits');

    const unsaid = budgeted();
    unsaid.clock.t += 3;
    assert.equal(unsaid.q.submit('a', 1, 0), 'ran');
    assert.equal(unsaid.q.submit('a', 1, 1), 'ran', 'read at submit, the 3 ms before it are not charged');
  });

  it('bounds the number of waiting sources: beyond maxSources the longest queue goes whole', () => {
    const s = setup({ maxSources: 3, unitsPerTurn: 1 });
    s.q.submit('z', 1, { src: 'z', n: 0 }); // begins the turn
    s.q.submit('a', 1, { src: 'a', n: 0 });
    s.q.submit('a', 1, { src: 'a', n: 1 });
    s.q.submit('b', 1, { src: 'b', n: 0 });
    s.q.submit('c', 1, { src: 'c', n: 0 });
    assert.equal(s.q.submit('d', 1, { src: 'd', n: 0 }), 'queued');
    assert.deepEqual(s.dropped.map((d) => `${d.src}${d.n}`).sort(), ['a0', 'a1']);
    assert.equal(s.q.stats().queuedSources, 3);
  });

  it('close() drops what waits and runs nothing more', () => {
    const s = setup({ unitsPerTurn: 1 });
    s.q.submit('a', 1, { src: 'a', n: 0 });
    s.q.submit('a', 1, { src: 'a', n: 1 });
    s.q.close();
    s.settle();
    assert.equal(s.ran.length, 1);
    assert.equal(s.q.submit('a', 1, { src: 'a', n: 2 }), 'dropped');
  });
});
