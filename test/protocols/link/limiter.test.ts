import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSourceLimiter } from '../../../protocols/link/limiter.ts';

describe('Link per-source limiter', () => {
  it('lets a burst through, then the rate, per source', () => {
    const l = createSourceLimiter(100, 10);
    let ok = 0;
    for (let i = 0; i < 50; i++) if (l.admit('10.0.0.2', 0)) ok++;
    assert.equal(ok, 10);
    assert.ok(l.admit('10.0.0.3', 0), 'another source has its own bucket');
    assert.ok(!l.admit('10.0.0.2', 5_000), 'half a token after 5 ms');
    assert.ok(l.admit('10.0.0.2', 10_000), 'one token after 10 ms');
  });

  it('tracks at most maxSources until a sweep drops the quiet ones', () => {
    const l = createSourceLimiter(100, 10, 3);
    for (const s of ['a', 'b', 'c']) assert.ok(l.admit(s, 0));
    assert.ok(!l.admit('d', 0), 'a fourth source is refused while three are tracked');
    l.sweep(1_000_000);
    assert.equal(l.size(), 0);
    assert.ok(l.admit('d', 1_000_000));
  });
});
