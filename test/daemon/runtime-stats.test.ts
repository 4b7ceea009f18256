import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOOP_WATCH_MS, startRuntimeStats } from '../../daemon/runtime-stats.ts';
import { manualTimers } from '../plugins/runtime/manual-timers.ts';

// status.runtime is what the soak reads to call a daemon leaking: a timer set must show, a
// timer cleared must go, and the numbers must be numbers.

describe('runtime stats', () => {
  it('counts a timer while it is pending and not after it is cleared', () => {
    const stats = startRuntimeStats();
    try {
      const before = stats.status().timers;
      const timers = Array.from({ length: 5 }, () => setTimeout(() => {}, 60_000));
      const during = stats.status();
      assert.equal(during.timers, before + 5);
      assert.equal(during.activeResources.Timeout! >= 5, true);
      assert.equal(during.activeResourcesTotal >= during.timers, true);
      for (const t of timers) clearTimeout(t);
      assert.equal(stats.status().timers, before);
    } finally {
      stats.close();
    }
  });

  it('reports heap, RSS and event-loop delay as finite numbers', () => {
    const stats = startRuntimeStats();
    try {
      const s = stats.status();
      assert.ok(s.heapUsedBytes > 0 && s.rssBytes >= s.heapUsedBytes);
      assert.ok(
        s.heapTotalBytes >= s.heapUsedBytes && s.newSpaceBytes > 0 && s.newSpaceBytes < s.heapTotalBytes,
      );
      assert.ok(s.externalBytes > 0);
      for (const v of Object.values(s.eventLoopDelayMs)) assert.ok(Number.isFinite(v) && v >= 0);
    } finally {
      stats.close();
    }
  });

  // Issue 18: at 20 ms resolution the histogram woke an idle daemon 50 times a second, more
  // than anything else in it, for a figure nobody had asked for.
  it('measures event-loop delay only while status is read, and stops a minute after the last read', () => {
    const calls: string[] = [];
    const monitor = () => ({
      enable: () => calls.push('enable') > 0,
      disable: () => calls.push('disable') > 0,
      reset: () => {},
      mean: 2e6,
      max: 5e6,
      percentile: () => 4e6,
    });
    const timers = manualTimers();
    let t = 0;
    const stats = startRuntimeStats({ monitor, timers, now: () => t });
    try {
      assert.deepEqual(calls, [], 'nothing runs before anyone asks');
      assert.deepEqual(
        stats.status().eventLoopDelayMs,
        { mean: 0, p99: 0, max: 0 },
        'the first read starts it',
      );
      assert.deepEqual(calls, ['enable']);
      t += 10_000;
      assert.deepEqual(stats.status().eventLoopDelayMs, { mean: 2, p99: 4, max: 5 });
      t = LOOP_WATCH_MS; // the stop check comes a minute after the first read: read 50 s ago
      timers.runNext();
      assert.deepEqual(calls, ['enable'], 'read within the minute: it keeps running');
      t = 10_000 + LOOP_WATCH_MS;
      timers.runNext();
      assert.deepEqual(calls, ['enable', 'disable'], 'a minute without a read stops it');
      assert.equal(timers.pending().length, 0, 'and no timer is left');
      stats.status();
      assert.deepEqual(calls, ['enable', 'disable', 'enable'], 'the next read starts it again');
    } finally {
      stats.close();
    }
  });
});
