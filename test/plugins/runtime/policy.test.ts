import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFaultTracker, DEFAULT_POLICY } from '../../../plugins/runtime/policy.ts';

describe('fault policy', () => {
  const policy = {
    faultsToRestart: 3,
    faultWindowFrames: 5,
    maxRestarts: 2,
    windowMs: 10_000,
    backoffMs: 100,
    maxBackoffMs: 250,
  };

  it('lets isolated faults pass and restarts once the window holds enough of them', () => {
    const t = 0;
    const f = createFaultTracker(policy, () => t);
    assert.deepEqual(f.fault(false), { action: 'continue' });
    assert.deepEqual(f.fault(false), { action: 'continue' });
    f.ok(); // a good frame does not wipe the two faults before it
    assert.deepEqual(f.fault(false), { action: 'restart', delayMs: 100, attempt: 1, faults: 3 });
  });

  it('forgets faults that slid out of the window: one fault in three frames runs forever', () => {
    const f = createFaultTracker(policy, () => 0);
    for (let i = 0; i < 300; i++) {
      assert.deepEqual(f.fault(false), { action: 'continue' }, `frame ${i}`);
      f.ok();
      f.ok();
    }
  });

  it('the attacker: at its limit 4 frames in 5 (one good frame between runs of 4) is restarted, then quarantined', () => {
    let t = 0;
    const f = createFaultTracker(DEFAULT_POLICY, () => t);
    const verdicts: string[] = [];
    for (let frame = 0; frame < 136; frame++) {
      t += 1000 / 60;
      if (frame % 5 === 4) {
        f.ok();
        continue;
      }
      const v = f.fault(false);
      if (v.action !== 'continue') verdicts.push(v.action);
      if (v.action === 'quarantine') break;
    }
    // Under "five in a row" this pattern ran 136 frames with 109 overruns and 0 restarts.
    assert.deepEqual(verdicts, ['restart', 'restart', 'restart', 'quarantine']);
  });

  it('restarts at once when the isolate is gone, with exponential, capped backoff, then quarantines', () => {
    let t = 0;
    const f = createFaultTracker({ ...policy, maxRestarts: 3 }, () => t);
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 100, attempt: 1, faults: 1 });
    t += 1000;
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 200, attempt: 2, faults: 1 });
    t += 1000;
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 250, attempt: 3, faults: 1 });
    t += 1000;
    assert.deepEqual(f.fault(true), { action: 'quarantine', restarts: 3 });
  });

  it('forgets restarts older than the window, and reset() clears everything', () => {
    let t = 0;
    const f = createFaultTracker(policy, () => t);
    f.fault(true);
    f.fault(true);
    t += 10_001;
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 100, attempt: 1, faults: 1 });
    f.fault(true);
    assert.equal(f.fault(true).action, 'quarantine');
    f.reset();
    assert.deepEqual(f.fault(true), { action: 'restart', delayMs: 100, attempt: 1, faults: 1 });
  });

  it('has defaults that quarantine a plugin failing every frame within seconds, not at once', () => {
    assert.ok(DEFAULT_POLICY.faultsToRestart > 1);
    assert.ok(DEFAULT_POLICY.faultsToRestart <= DEFAULT_POLICY.faultWindowFrames);
    assert.ok(DEFAULT_POLICY.maxRestarts >= 1);
    assert.ok(DEFAULT_POLICY.backoffMs * 2 ** DEFAULT_POLICY.maxRestarts < DEFAULT_POLICY.windowMs);
  });
});
