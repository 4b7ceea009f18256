import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRateLimiter } from '../../../daemon/ingest/token-bucket.ts';

// The per-source buckets, on a clock the test holds. The OSC path hands each check the time it
// read once for the packet (issue 18), so `take` must refill from that time, not read its own.

describe('rate limiter (token buckets per source)', () => {
  it('refills from the time the caller read when it gives one, and from its own clock otherwise', () => {
    let clock = 0;
    const limiter = createRateLimiter({ ratePerSecond: 1000, burst: 10, now: () => clock });
    for (let i = 0; i < 10; i++) assert.equal(limiter.take('a', 1), true);
    assert.equal(limiter.take('a', 1), false, 'the burst is spent');
    assert.equal(limiter.take('a', 1, 5), true, 'given 5 ms later: 5 tokens back');
    for (let i = 0; i < 4; i++) assert.equal(limiter.take('a', 1, 5), true);
    assert.equal(limiter.take('a', 1, 5), false, 'no more than the 5 ms earned');
    clock = 8;
    assert.equal(limiter.take('a', 3), true, 'its own clock, 3 ms after the last time it was given');
    assert.equal(limiter.take('a', 1), false);
  });

  it('a time earlier than the last refill earns nothing and takes nothing back', () => {
    const limiter = createRateLimiter({ ratePerSecond: 1000, burst: 4, now: () => 100 });
    assert.equal(limiter.take('a', 2, 100), true);
    assert.equal(limiter.take('a', 1, 99), true);
    assert.equal(limiter.take('a', 1, 99), true, 'the two tokens left at 100 are still there at 99');
    assert.equal(limiter.take('a', 1, 50), false);
    assert.equal(limiter.take('a', 1, 101), true, 'one token for the 1 ms after 100');
  });

  it('keeps each source to its own bucket, and a cost above what is left takes nothing', () => {
    const limiter = createRateLimiter({ ratePerSecond: 1000, burst: 10, now: () => 0 });
    assert.equal(limiter.take('a', 8), true);
    assert.equal(limiter.take('a', 3), false, 'refused whole');
    assert.equal(limiter.take('a', 2), true, 'what was refused was not taken');
    assert.equal(limiter.take('b', 10), true, 'b has its own burst');
  });
});
