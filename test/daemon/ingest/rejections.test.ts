import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

it('logs once per reason and source per interval, with extra fields and its own event name', () => {
  let clock = 0;
  const { log, lines } = captureLogger();
  const r = createRejections({
    log,
    security: securityLogger(log),
    intervalMs: 1000,
    now: () => clock,
    channel: 'link',
  });
  r.reject('blocked', '10.0.0.1', 'refused', { presented: 'AAA' });
  r.reject('blocked', '10.0.0.1', 'refused', { presented: 'BBB' });
  r.reject('blocked', '10.0.0.2', 'refused', { presented: 'CCC' });
  clock = 1000;
  r.reject('blocked', '10.0.0.1', 'refused', { presented: 'DDD' });
  assert.deepEqual(
    lines.map((l) => [l.event, l.source, l.presented, l.suppressed, l.security]),
    [
      ['peer.refused', '10.0.0.1', 'AAA', 0, true],
      ['peer.refused', '10.0.0.2', 'CCC', 0, true],
      ['peer.refused', '10.0.0.1', 'DDD', 1, true],
    ],
  );
  assert.equal(r.total(), 4);
  assert.deepEqual(r.counts(), { blocked: 4 });
});
