import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startRuntimeStats } from '../../daemon/runtime-stats.ts';

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
      for (const v of Object.values(s.eventLoopDelayMs)) assert.ok(Number.isFinite(v) && v >= 0);
    } finally {
      stats.close();
    }
  });
});
