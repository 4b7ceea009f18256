import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { followLink, OWN_TOLERANCE_MS, tempoDiffers } from '../../daemon/ableton-link/follow.ts';
import type { ClockReading } from '../../daemon/clock/session-clock.ts';
import { beatAt, phase, type Timeline } from '../../daemon/clock/timeline.ts';
import { beatAtHost, type HostTimeline } from '../../protocols/link/peer.ts';

// hana's timeline from Link's: same tempo, Link's phase, hana's own beat count.

const link: HostTimeline = { bpm: 120, microsPerBeat: 500_000, beatOrigin: 1001.25, timeOrigin: 5_000_000 };
const at = { hostUs: 9_000_000, wallOffsetMs: 1_700_000_000_000 };
const wall = (hostUs: number) => hostUs / 1000 + at.wallOffsetMs;

function reading(tl: Timeline | null, basis: ClockReading['basis'] = 'self'): ClockReading {
  const base = {
    timeMs: wall(at.hostUs),
    offsetMs: 0,
    basis,
    errorMs: 0,
    estimateAgeMs: null,
    tempo: tl?.tempo ?? 120,
  };
  return tl
    ? { ...base, timeline: tl, leader: 'x', leaderLinked: true, beat: beatAt(tl, base.timeMs), phase: 0 }
    : { ...base, timeline: null, leader: null, leaderLinked: false, beat: null, phase: null };
}

describe('following the Link session', () => {
  it('with no shared beat yet, takes Link’s beat as it is', () => {
    const tl = followLink(link, reading(null), at, 4)!;
    assert.equal(tl.tempo, 120);
    assert.ok(Math.abs(beatAt(tl, wall(at.hostUs)) - beatAtHost(link, at.hostUs)) < 1e-9);
  });

  it("keeps hana's count and takes Link's phase: the nearest beat with the same phase", () => {
    const hana: Timeline = { tempo: 100, beatOrigin: 17.1, timeOrigin: wall(at.hostUs) };
    const tl = followLink(link, reading(hana), at, 4)!;
    const b = beatAt(tl, wall(at.hostUs));
    const linkBeat = beatAtHost(link, at.hostUs);
    assert.ok(Math.abs(b - 17.1) <= 2, `beat ${b} moved more than half a bar`);
    assert.ok(Math.abs(phase(b, 4) - phase(linkBeat, 4)) < 1e-9);
    // A second later both lines are still in phase.
    const later = at.hostUs + 1_000_000;
    assert.ok(Math.abs(phase(beatAt(tl, wall(later)), 4) - phase(beatAtHost(link, later), 4)) < 1e-9);
  });

  it('leaves a timeline that already follows alone; tighter when this daemon leads', () => {
    const tl = followLink(link, reading(null), at, 4)!;
    assert.equal(followLink(link, reading(tl), at, 4), undefined);
    const shifted = { ...tl, beatOrigin: tl.beatOrigin + (2 * OWN_TOLERANCE_MS) / 500 }; // 0.1 ms at 500 ms a beat
    assert.notEqual(followLink(link, reading(shifted, 'self'), at, 4), undefined);
    assert.equal(followLink(link, reading(shifted, 'leader'), at, 4), undefined);
  });

  it('compares tempos as Link carries them, in whole µs per beat', () => {
    assert.ok(!tempoDiffers(133, { ...link, bpm: 60e6 / 451128, microsPerBeat: 451128 }));
    assert.ok(tempoDiffers(134, { ...link, bpm: 60e6 / 451128, microsPerBeat: 451128 }));
    assert.ok(!tempoDiffers(999, { ...link, bpm: 60e6 / 60060, microsPerBeat: 60060 }));
  });
});
