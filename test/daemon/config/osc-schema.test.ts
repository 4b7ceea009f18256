import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../daemon/config/load.ts';

// The OSC limits in the config: their defaults, and the combinations refused with a sentence that
// names the field and says what to change.

function refused(osc: unknown): string {
  const r = parseConfig({ osc }, 'test.json');
  if (r.ok) assert.fail(`expected ${JSON.stringify(osc)} to be refused`);
  return r.error;
}

describe('osc limits in the config', () => {
  it('defaults: work units per source and in all, per-source TCP slots, idle and stall limits', () => {
    const r = parseConfig({}, 'test.json');
    assert.ok(r.ok);
    const osc = r.config.osc;
    assert.deepEqual(osc.rateLimit, { unitsPerSecond: 25_000, burst: 10_000 });
    assert.deepEqual(osc.fairness, {
      cpuShare: 0.5,
      burstMs: 50,
      quantum: 256,
      unitsPerTurn: 4096,
      turnMs: 0.5,
      maxQueuedUnits: 65_536,
    });
    assert.deepEqual(
      [osc.maxTcpConnections, osc.maxTcpConnectionsPerSource, osc.tcpIdleSeconds, osc.tcpStallSeconds],
      [32, 8, 900, 10],
    );
  });

  it('refuses a burst no queue could hold', () => {
    assert.match(
      refused({ rateLimit: { burst: 100_000 } }),
      /osc\.rateLimit\.burst \(100000\) is more than osc\.fairness\.maxQueuedUnits \(65536\)/,
    );
  });

  it('refuses an idle limit that would cut a listening subscriber off', () => {
    assert.match(
      refused({ tcpIdleSeconds: 300 }),
      /osc\.tcpIdleSeconds \(300\) must exceed osc\.feedback\.subscriptionTtlSeconds \(600\)/,
    );
    const r = parseConfig(
      { osc: { tcpIdleSeconds: 300, feedback: { subscriptionTtlSeconds: 120 } } },
      'test.json',
    );
    assert.ok(r.ok, 'fine once subscriptions are renewed more often');
  });

  it('refuses a share of the time outside (0, 1]', () => {
    assert.match(refused({ fairness: { cpuShare: 0 } }), /osc\.fairness\.cpuShare/);
    assert.match(refused({ fairness: { cpuShare: 1.5 } }), /osc\.fairness\.cpuShare/);
  });
});
