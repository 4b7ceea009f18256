import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createOffsetEstimator } from '../../../daemon/sync/clock.ts';
import { prng } from '../../helpers/prng.ts';

// The per-peer offset estimator fed with exchanges whose true offset and path delays the test
// chooses, and the session clock's leader choice and beat arithmetic with an injected clock.

/**
 * One ping/pong exchange with a peer whose clock reads `offset` ms ahead of ours: the ping
 * takes `out` ms, the peer turns it round in `turn` ms, the pong takes `back` ms.
 */
function exchange(t1: number, offset: number, out: number, turn: number, back: number) {
  const t2 = t1 + out + offset;
  const t3 = t2 + turn;
  const t4 = t1 + out + turn + back;
  return [t1, t2, t3, t4] as const;
}

describe('offset estimator', () => {
  it('recovers a known offset from fast symmetric exchanges mixed with slow asymmetric ones', () => {
    const e = createOffsetEstimator();
    const offset = 1234.5;
    let t = 1_000_000;
    for (let i = 0; i < 32; i++) {
      // Every third exchange is held up one way (a busy event loop, a queued datagram).
      const slow = i % 3 === 0;
      e.add(...exchange(t, offset, slow ? 40 + i : 0.5, 0.2, slow ? 1 : 0.5));
      t += 100;
    }
    const est = e.estimate()!;
    assert.equal(est.samples, 32);
    assert.equal(est.offsetMs, offset, 'the fast half is symmetric: exact');
    assert.equal(est.errorMs, 0.5, 'half the fastest round trip');
  });

  it('for random delays, asymmetry and outliers, errs by at most half the slowest round trip it used', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.double({ min: -1e7, max: 1e7, noNaN: true }),
        fc.integer({ min: 1, max: 64 }),
        (seed, offset, n) => {
          const rand = prng(seed);
          const e = createOffsetEstimator();
          const delays: number[] = [];
          let t = 1.7e12;
          for (let i = 0; i < n; i++) {
            // Most exchanges: 0.2–1 ms each way with a little asymmetry; a third are outliers
            // held up by up to 200 ms in one direction only.
            const base = 0.2 + rand() * 0.8;
            const outlier = rand() < 0.33 ? rand() * 200 : 0;
            const outbound = rand() < 0.5;
            const out = base + (outbound ? outlier : 0);
            const back = base + rand() * 0.1 + (outbound ? 0 : outlier);
            e.add(...exchange(t, offset, out, rand() * 2, back));
            delays.push(out + back);
            t += 50 + rand() * 100;
          }
          const kept = delays.slice(-32);
          const used = kept.sort((a, b) => a - b).slice(0, Math.max(1, kept.length >> 1));
          const est = e.estimate()!;
          assert.equal(est.samples, kept.length);
          // Each sample is off by at most half its round trip; the median of the fast half
          // therefore by at most half the slowest round trip among the fast half.
          const bound = used.at(-1)! / 2 + 1e-6 * Math.max(1, Math.abs(offset));
          assert.ok(
            Math.abs(est.offsetMs - offset) <= bound,
            `offset ${est.offsetMs} vs ${offset}, bound ${bound}`,
          );
          assert.ok(est.errorMs >= 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('errorMs bounds the error, as documented, when the fast samples lean the same way', () => {
    // Two quick exchanges both queued on the way out (1 ms and 3 ms one way, nothing back) and
    // two slow ones. The fast half is the first two: offsets +0.5 and +1.5 from the truth, so the
    // estimate (their median) is 1 ms off. OffsetEstimate.errorMs is documented as a bound on
    // that error.
    const e = createOffsetEstimator();
    const offset = 500;
    e.add(...exchange(1000, offset, 1, 0, 0));
    e.add(...exchange(2000, offset, 3, 0, 0));
    e.add(...exchange(3000, offset, 50, 0, 50));
    e.add(...exchange(4000, offset, 60, 0, 40));
    const est = e.estimate()!;
    assert.equal(est.offsetMs, offset + 1);
    assert.ok(
      est.errorMs >= Math.abs(est.offsetMs - offset),
      `estimate ${est.offsetMs} is ${Math.abs(est.offsetMs - offset)} ms off but errorMs says ${est.errorMs}`,
    );
  });

  it('ignores exchanges with a negative delay or a non-finite time', () => {
    const e = createOffsetEstimator();
    // t4 before t1: the clock stepped back mid-exchange.
    e.add(1000, 5000, 5001, 990);
    // The peer's turnaround longer than our whole round trip.
    e.add(1000, 5000, 5100, 1050);
    e.add(1000, Number.NaN, 5001, 1002);
    e.add(1000, 5000, Number.POSITIVE_INFINITY, 1002);
    assert.equal(e.estimate(), undefined);
    e.add(...exchange(2000, 4000, 1, 0, 1));
    const est = e.estimate()!;
    assert.equal(est.samples, 1);
    assert.equal(est.offsetMs, 4000);
    e.add(3000, 7000, 7001, 2999);
    assert.equal(e.estimate()!.samples, 1, 'still one');
  });

  it('keeps only the most recent 32 samples, so an old offset ages out', () => {
    const e = createOffsetEstimator();
    let t = 0;
    for (let i = 0; i < 32; i++, t += 10) e.add(...exchange(t, 100, 1, 0, 1));
    assert.equal(e.estimate()!.offsetMs, 100);
    for (let i = 0; i < 32; i++, t += 10) e.add(...exchange(t, 250, 1, 0, 1));
    assert.deepEqual(e.estimate(), { offsetMs: 250, errorMs: 1, samples: 32 });
  });
});
