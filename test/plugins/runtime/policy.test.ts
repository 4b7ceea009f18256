import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFaultTracker, DEFAULT_POLICY } from '../../../plugins/runtime/policy.ts';

describe('fault policy', () => {
  const policy = {
    consecutiveFaults: 3,
    maxRestarts: 2,
    windowMs: 10_000,
    backoffMs: 100,
    maxBackoffMs: 250,
  };

  it('lets isolated faults pass and restarts after a run of them', () => {
    const t = 0;
    const f = createFaultTracker(policy, () => t);
    assert.deepEqual(f.fault(false), { action: 'continue' });
    assert.deepEqual(f.fault(false), { action: 'continue' });
    f.ok(); // a good frame breaks the run
    assert.deepEqual(f.fault(false), { action: 'continue' });
    assert.deepEqual(f.fault(false), { action: 'continue' });
    assert.deepEqual(f.fault(false), { action: 'restart', delayMs: 100, attempt: 1 });
  });

  it('restarts at once when the isolate is gone, with exponential, capped backoff, then quarantines', () => {
    let t = 0;
    const f = createFaultTracker({ ...policy, maxRestarts: 3 }, () => t);
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 100, attempt: 1 });
    t += 1000;
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 200, attempt: 2 });
    t += 1000;
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 250, attempt: 3 });
    t += 1000;
    assert.deepEqual(f.fault(true), { action: 'quarantine', restarts: 3 });
  });

  it('forgets restarts older than the window, and reset() clears everything', () => {
    let t = 0;
    const f = createFaultTracker(policy, () => t);
    f.fault(true);
    f.fault(true);
    t += 10_001;
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 100, attempt: 1 });
    f.fault(true);
    assert.equal(f.fault(true).action, 'quarantine');
    f.reset();
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 100, attempt: 1 });
  });

  it('has defaults that quarantine a plugin failing every frame within seconds, not at once', () => {
    assert.ok(DEFAULT_POLICY.consecutiveFaults > 1);
    assert.ok(DEFAULT_POLICY.maxRestarts >= 1);
    assert.ok(DEFAULT_POLICY.backoffMs * 2 ** DEFAULT_POLICY.maxRestarts < DEFAULT_POLICY.windowMs);
  });
});
