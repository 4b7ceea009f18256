import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  beatAt,
  nextBoundary,
  nextPhaseMatch,
  phase,
  rebase,
  retempo,
  type Timeline,
  timeAt,
} from '../../../daemon/clock/timeline.ts';
import { arbTempo, arbTimeline, T0 } from './arbitraries.ts';

// The beat line: beat and time both ways, continuity across tempo changes, and Link-style phase
// arithmetic, as examples and as properties over random timelines and times.

const tl = (tempo: number, beatOrigin: number, timeOrigin: number): Timeline => ({
  tempo,
  beatOrigin,
  timeOrigin,
});

const arbOffsetMs = fc.double({ min: -3_600_000, max: 3_600_000, noNaN: true });
const arbQuantum = fc.constantFrom(1, 2, 3, 4, 7, 16, 0.5);
const arbBeat = fc.double({ min: -1e6, max: 1e6, noNaN: true });

describe('beatAt and timeAt', () => {
  it('counts tempo/60 beats a second from the origin, and below it before the origin', () => {
    const t = tl(120, 8, T0);
    assert.equal(beatAt(t, T0), 8);
    assert.equal(beatAt(t, T0 + 1000), 10);
    assert.equal(beatAt(t, T0 + 30_000), 68);
    // Before the origin the line goes on down, as Link's toBeats does: no clamp, no freeze.
    assert.equal(beatAt(t, T0 - 5000), -2);
    assert.equal(timeAt(t, 10), T0 + 1000);
    assert.equal(timeAt(t, -2), T0 - 5000);
  });

  it('are inverse to each other (within a few ulps of epoch ms)', () => {
    fc.assert(
      fc.property(arbTimeline, fc.double({ min: -1e8, max: 1e8, noNaN: true }), (t, dt) => {
        const at = t.timeOrigin + dt;
        const back = timeAt(t, beatAt(t, at));
        assert.ok(Math.abs(back - at) < 1e-3, `time ${at} came back as ${back}`);
      }),
    );
  });
});

describe('retempo', () => {
  it('starts at beat 0 now when there is no timeline', () => {
    assert.deepEqual(retempo(undefined, T0, 128), tl(128, 0, T0));
  });

  it('keeps the beat continuous at the change and only bends its slope', () => {
    const before = tl(120, 0, T0);
    const after = retempo(before, T0 + 10_000, 60);
    assert.deepEqual(after, tl(60, 20, T0 + 10_000));
    assert.equal(beatAt(after, T0 + 11_000), 21);
  });

  it('is continuous at random times, tempos and origins (beat before == beat after within 1e-9)', () => {
    fc.assert(
      fc.property(arbTimeline, fc.double({ min: -1e7, max: 1e7, noNaN: true }), arbTempo, (t, dt, bpm) => {
        const now = t.timeOrigin + dt;
        const next = retempo(t, now, bpm);
        assert.ok(Math.abs(beatAt(next, now) - beatAt(t, now)) <= 1e-9);
        assert.equal(next.tempo, bpm);
      }),
    );
  });

  it('keeps counting across a chain of changes with no jump at any of them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: 0, max: 60_000, noNaN: true }), arbTempo), {
          minLength: 1,
          maxLength: 30,
        }),
        (steps) => {
          let t: Timeline | undefined;
          let now = T0;
          for (const [gap, bpm] of steps) {
            now += gap;
            const before = t ? beatAt(t, now) : 0;
            t = retempo(t, now, bpm);
            assert.ok(Math.abs(beatAt(t, now) - before) <= 1e-9);
          }
        },
      ),
    );
  });

  it('refuses a tempo no timeline can hold: a bug in the caller, thrown', () => {
    for (const bad of [19.99, 1000, Number.NaN, Number.POSITIVE_INFINITY, 0, -120]) {
      assert.throws(() => retempo(undefined, T0, bad), /retempo/);
    }
    assert.throws(() => retempo(undefined, Number.NaN, 120), /retempo/);
  });
});

describe('rebase', () => {
  it('describes the same beat line in a clock offsetMs behind', () => {
    fc.assert(
      fc.property(arbTimeline, arbOffsetMs, fc.double({ min: -1e7, max: 1e7, noNaN: true }), (t, off, dt) => {
        const leaderNow = t.timeOrigin + dt;
        const oursNow = leaderNow - off; // our wall clock reads `off` less than the leader's
        const diff = beatAt(rebase(t, off), oursNow) - beatAt(t, leaderNow);
        // Both sides subtract epoch-sized times; the residue is their rounding, scaled by tempo.
        assert.ok(Math.abs(diff) < 1e-5, `beat moved by ${diff}`);
      }),
    );
  });
});

describe('phase', () => {
  it('is the position in the quantum, in [0, quantum), also for negative beats', () => {
    assert.equal(phase(5.25, 4), 1.25);
    assert.equal(phase(4, 4), 0);
    assert.equal(phase(-0.5, 4), 3.5);
    assert.equal(phase(-4, 4), 0);
    assert.equal(phase(2.75, 1), 0.75);
    assert.equal(phase(-0.25, 1), 0.75);
    assert.equal(phase(-1e-18, 4), 0); // would round to 4 itself
    assert.equal(phase(3, 0), 0);
    assert.equal(phase(3, -4), 0);
    assert.equal(phase(3, Number.NaN), 0);
  });

  it('stays in range and differs from the beat by a whole number of quanta', () => {
    fc.assert(
      fc.property(arbBeat, arbQuantum, (b, q) => {
        const p = phase(b, q);
        assert.ok(p >= 0 && p < q, `phase ${p} of ${b} for quantum ${q}`);
        const k = (b - p) / q;
        assert.ok(Math.abs(k - Math.round(k)) < 1e-6);
      }),
    );
  });
});

describe('nextPhaseMatch and nextBoundary', () => {
  it('finds the next beat with the target phase, the beat itself when it matches (as Link does)', () => {
    assert.equal(nextPhaseMatch(5.25, 0, 4), 8);
    assert.equal(nextPhaseMatch(5.25, 1, 4), 9);
    assert.equal(nextPhaseMatch(5.25, 5.25, 4), 5.25);
    assert.equal(nextPhaseMatch(-1, 0, 4), 0);
    assert.equal(nextPhaseMatch(5.25, 2, 0), 5.25);
  });

  it('nextBoundary is the next bar or beat strictly after, even on a boundary', () => {
    assert.equal(nextBoundary(5.25, 4), 8);
    assert.equal(nextBoundary(8, 4), 12);
    assert.equal(nextBoundary(5.25, 1), 6);
    assert.equal(nextBoundary(-0.5, 4), 0);
    assert.equal(nextBoundary(-4, 4), 0);
  });

  it('as properties: at or after the beat, less than a quantum away, on the asked phase', () => {
    fc.assert(
      fc.property(arbBeat, arbBeat, arbQuantum, (b, target, q) => {
        const m = nextPhaseMatch(b, target, q);
        assert.ok(m >= b && m - b < q);
        const d = Math.abs(phase(m, q) - phase(target, q));
        assert.ok(Math.min(d, q - d) < 1e-6);
        const n = nextBoundary(b, q);
        assert.ok(n > b && n - b <= q + 1e-9);
        const onGrid = phase(n, q);
        assert.ok(Math.min(onGrid, q - onGrid) < 1e-6);
      }),
    );
  });
});
