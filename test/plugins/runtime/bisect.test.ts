import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BisectStep, createBisector } from '../../../plugins/runtime/bisect.ts';

// The bisection as a pure state machine: which plugins each restart runs, which it holds out,
// and when it names a culprit. host.test.ts runs it against a real crashing plugin.

/**
 * Plays a bisection against a host where `culprit` (or nobody) crashes it; `crashes(n)` says
 * whether it does on its n-th run (default: every time, within the probation).
 */
function play(
  all: string[],
  culprit: string | undefined,
  crashes: (n: number) => boolean = () => true,
): BisectStep[] {
  const b = createBisector();
  const steps: BisectStep[] = [];
  let runs = 0;
  let step = b.crashed(all, all);
  for (let i = 0; step && i < 50; i++) {
    steps.push(step);
    if (step.kind !== 'step') break;
    const crash = culprit !== undefined && step.run.includes(culprit) && crashes(++runs);
    step = crash ? b.crashed(all, step.run) : b.survived();
  }
  assert.equal(b.active, false, 'the bisection ends');
  assert.equal(b.held().size, 0);
  return steps;
}

describe('bisection of a crash that names no plugin', () => {
  it('finds the culprit among 8 in at most log2(8) + 1 crashes, holding out only suspects', () => {
    const all = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const culprit of all) {
      const steps = play(all, culprit);
      const last = steps.at(-1)!;
      assert.equal(last.kind, 'found', JSON.stringify(steps));
      if (last.kind === 'found') {
        assert.equal(last.culprit, culprit);
        assert.deepEqual(
          [...last.run].sort(),
          all.filter((x) => x !== culprit),
        );
      }
      const crashes = steps.filter((s) => s.kind === 'step' && s.run.includes(culprit)).length;
      assert.ok(crashes <= 4, `${culprit}: ${crashes} crashes`);
      for (const s of steps) {
        if (s.kind !== 'step') continue;
        // Every plugin is either running or held, and only suspects are ever held.
        assert.deepEqual([...s.run, ...s.held].sort(), all);
        for (const h of s.held) assert.ok(s.suspects.includes(h));
      }
    }
  });

  it('a slow culprit (it crashes the host only on every third run) is found, and no innocent is ever blamed', () => {
    const all = ['a', 'b', 'c', 'd', 'e'];
    for (const culprit of all) {
      for (let round = 0; round < 20; round++) {
        const steps = play(all, culprit, (n) => n % 3 === 0);
        const last = steps.at(-1)!;
        // Quiet steps may end it blaming nobody; a new bisection would follow the next crash.
        if (last.kind === 'found') assert.equal(last.culprit, culprit);
        else assert.equal(last.kind, 'cleared');
      }
    }
  });

  it('a single plugin is blamed only after it crashes the host a second time', () => {
    const steps = play(['solo'], 'solo');
    assert.deepEqual(
      steps.map((s) => s.kind),
      ['step', 'found'],
    );
    assert.deepEqual(steps[0], { kind: 'step', step: 1, run: ['solo'], held: [], suspects: ['solo'] });
  });

  it('a crash that does not come back (an operator’s kill) blames nobody and ends with everyone running', () => {
    const steps = play(['a', 'b', 'c'], undefined);
    const last = steps.at(-1)!;
    assert.equal(last.kind, 'cleared');
    assert.deepEqual([...last.run].sort(), ['a', 'b', 'c']);
  });

  it('a crash that shares no plugin with the earlier ones blames nobody', () => {
    const b = createBisector();
    assert.equal(b.crashed(['a', 'b'], ['a', 'b'])?.kind, 'step');
    // Step 1 runs a, holds b; a is then quarantined for its own faults, and the host crashes
    // again with nothing of the suspects running.
    assert.equal(b.crashed(['b'], [])?.kind, 'cleared');
    assert.equal(b.active, false);
  });

  it('a first crash with no plugin running starts nothing; abandon() ends a bisection', () => {
    const b = createBisector();
    assert.equal(b.crashed([], []), undefined);
    assert.equal(b.active, false);
    b.crashed(['a', 'b'], ['a', 'b']);
    assert.equal(b.active, true);
    assert.deepEqual([...b.held()], ['b']);
    b.abandon();
    assert.equal(b.active, false);
    assert.equal(b.held().size, 0);
  });
});
