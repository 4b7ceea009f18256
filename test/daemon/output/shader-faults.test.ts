import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createShaderFaults, type ShaderFault } from '../../../daemon/output/shader-faults.ts';

// What a page's fault report does in the daemon: compile errors quarantine at once, losses after
// three in a minute, reports about plugins not running or not well formed are ignored, and a page
// cannot flood the daemon.

function setup(running = ['a', 'b'], repeat = 3) {
  let now = 0;
  const faults: ShaderFault[] = [];
  const quarantined: Array<[string, string]> = [];
  const f = createShaderFaults({
    running: (id) => running.includes(id),
    now: () => now,
    onFault: (x) => faults.push(x),
    onQuarantine: (id, why) => quarantined.push([id, why]),
    repeat,
  });
  const say = (fault: Record<string, unknown>, remote = '127.0.0.1') =>
    f.report(JSON.stringify({ fault }), remote);
  return { f, faults, quarantined, say, advance: (ms: number) => (now += ms) };
}

describe('shader faults from pages', () => {
  it("a compile error quarantines the plugin at once, with the compiler's message", () => {
    const s = setup();
    s.say({ plugin: 'a', shader: 0, kind: 'compile', message: "ERROR: 0:3: 'nope' : undeclared identifier" });
    assert.equal(s.faults.length, 1);
    assert.deepEqual(
      s.quarantined.map((q) => q[0]),
      ['a'],
    );
    assert.match(s.quarantined[0]![1], /shader 0 failed to compile: ERROR: 0:3: 'nope'/);
    s.say({ plugin: 'a', shader: 0, kind: 'compile', message: 'again' });
    assert.equal(s.quarantined.length, 1, 'once');
  });

  it('context losses quarantine after three within a minute; spread out they do not', () => {
    const s = setup();
    const lost = { plugin: 'b', shader: 0, kind: 'context-lost', message: 'lost' };
    s.say(lost);
    s.advance(40_000);
    s.say(lost);
    s.advance(40_000);
    s.say(lost); // the first is over a minute old now
    assert.equal(s.quarantined.length, 0);
    s.advance(1000);
    s.say(lost);
    assert.deepEqual(
      s.quarantined.map((q) => q[0]),
      ['b'],
    );
    assert.match(s.quarantined[0]![1], /3 shader faults within 60 s, the last context-lost/);
  });

  it('ignores garbage, unknown fields, plugins not running, and more than ten reports a second from one page', () => {
    const s = setup();
    s.f.report('not json', 'x');
    s.f.report(
      JSON.stringify({ fault: { plugin: 'a', shader: 0, kind: 'compile', message: 'm', extra: 1 } }),
      'x',
    );
    s.f.report(JSON.stringify({ fault: { plugin: 'a', shader: 0, kind: 'explode', message: 'm' } }), 'x');
    s.say({ plugin: 'ghost', shader: 0, kind: 'compile', message: 'm' });
    assert.equal(s.faults.length, 0);
    const patient = setup(['b'], 100);
    for (let i = 0; i < 30; i++)
      patient.say({ plugin: 'b', shader: 0, kind: 'too-slow', message: 'm' }, 'flood');
    assert.equal(patient.faults.length, 10, 'ten heard in that second');
    patient.say({ plugin: 'b', shader: 0, kind: 'too-slow', message: 'm' }, 'another page');
    patient.advance(1000);
    patient.say({ plugin: 'b', shader: 0, kind: 'too-slow', message: 'm' }, 'flood');
    assert.equal(patient.faults.length, 12, 'another page, and the next second, are heard');
  });
});
