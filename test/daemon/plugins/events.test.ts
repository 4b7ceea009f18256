import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { securityLogger } from '../../../daemon/log.ts';
import { createEventLog } from '../../../daemon/plugins/events.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

describe('plugin event log', () => {
  function setup() {
    const { log, lines } = captureLogger();
    let t = 0;
    const events = createEventLog({ log, security: securityLogger(log), intervalMs: 1000, now: () => t });
    return { events, lines, advance: (ms: number) => (t += ms) };
  }

  it('logs a repeated fault once per interval per plugin, with the number suppressed', () => {
    const s = setup();
    for (let i = 0; i < 60; i++)
      s.events.record({ kind: 'overrun', plugin: 'com.example.a', reason: 'slow' });
    s.events.record({ kind: 'overrun', plugin: 'com.example.b', reason: 'slow' });
    assert.equal(s.lines.length, 2);
    s.advance(1000);
    s.events.record({ kind: 'overrun', plugin: 'com.example.a', reason: 'slow' });
    assert.equal(s.lines.length, 3);
    assert.equal(s.lines[2]!.suppressed, 59);
    assert.equal(s.lines[2]!.event, 'plugin.overrun');
    assert.deepEqual(s.events.counts(), { overrun: 62 });
  });

  it('marks permission breaches, escapes and quarantines as security events, and never limits quarantines', () => {
    const s = setup();
    s.events.record({
      kind: 'undeclared-write',
      plugin: 'com.example.a',
      reason: 'wrote /tempo',
      items: ['/tempo'],
    });
    s.events.record({ kind: 'escape', plugin: 'com.example.a', reason: 'cpu outside frames' });
    s.events.record({ kind: 'quarantine', plugin: 'com.example.a', reason: 'too many restarts' });
    s.events.record({ kind: 'quarantine', plugin: 'com.example.a', reason: 'too many restarts' });
    s.events.record({ kind: 'exception', plugin: 'com.example.a', reason: 'boom' });
    const byEvent = (e: string) => s.lines.filter((l) => l.event === e);
    assert.equal(byEvent('plugin.undeclared-write')[0]!.security, true);
    assert.deepEqual(byEvent('plugin.undeclared-write')[0]!.items, ['/tempo']);
    assert.equal(byEvent('plugin.escape')[0]!.security, true);
    assert.equal(byEvent('plugin.quarantine').length, 2);
    assert.ok(byEvent('plugin.quarantine').every((l) => l.security === true && l.level === 50));
    assert.equal(byEvent('plugin.exception')[0]!.security, undefined);
  });

  it('writes plugin log lines tagged with the plugin, at a bounded rate', () => {
    const s = setup();
    s.events.record({ kind: 'log', plugin: 'com.example.a', reason: 'frame', items: ['hello', 'world'] });
    s.events.record({ kind: 'log', plugin: 'com.example.a', reason: 'frame', items: ['dropped'] });
    assert.equal(s.lines.length, 1);
    assert.equal(s.lines[0]!.msg, 'com.example.a: hello | world');
    assert.equal(s.lines[0]!.plugin, 'com.example.a');
    s.advance(100);
    s.events.record({ kind: 'log', plugin: 'com.example.a', reason: 'frame', items: ['again'] });
    assert.equal(s.lines.length, 2);
  });
});
