import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHostStatsBook } from '../../../plugins/runtime/host-stats.ts';
import { type PluginSpec, type PluginStats, zeroCounters } from '../../../plugins/runtime/types.ts';

// The daemon's book of plugin counters across plugin-host children. A crashed child's counts
// carry over into the next; a planned renewal's successor counted frames while it warmed up,
// which nobody saw (the old child was the show), and those must not be counted twice. Through
// the real host a warm-up always hands over on the first frame (every plugin makes a layer), so
// the subtraction is exercised here, on the book itself.

const spec = (id: string) => ({ manifest: { id, version: '1.0.0' } }) as unknown as PluginSpec;
const stats = (id: string, counts: Partial<PluginStats>): PluginStats => ({
  id,
  version: '1.0.0',
  state: 'running',
  ...zeroCounters(),
  fps: 60,
  cpuMs: 0.5,
  lastError: null,
  ...counts,
});
const shown = (book: ReturnType<typeof createHostStatsBook>) =>
  book.plugins([spec('a'), spec('b')], new Set(), new Set());

describe('plugin host stats book', () => {
  it("takes a successor's warm-up counts off, so a renewal counts each frame the show saw once", () => {
    const book = createHostStatsBook();
    book.report([stats('a', { frames: 100, overruns: 2, late: 4 }), stats('b', { frames: 90 })], 5, 1);
    // The successor's last report before it took over: 30 frames of a, 28 of b, drawn unseen.
    book.childEnded(true, {
      plugins: [stats('a', { frames: 30, overruns: 1, late: 1 }), stats('b', { frames: 28 })],
      droppedFrames: 2,
      trimmedFrames: 0,
    });
    // Its counters go on from there: 10 and 12 frames more, seen.
    book.report([stats('a', { frames: 40, overruns: 1, late: 1 }), stats('b', { frames: 40 })], 2, 0);
    const [a, b] = shown(book);
    assert.deepEqual(
      { frames: a!.frames, overruns: a!.overruns, late: a!.late },
      { frames: 110, overruns: 2, late: 4 },
    );
    assert.equal(b!.frames, 102);
    assert.equal(book.totals().droppedFrames, 5);
    assert.equal(book.totals().trimmedFrames, 1);
  });

  it("keeps a crashed child's counts and adds the next child's whole", () => {
    const book = createHostStatsBook();
    book.report([stats('a', { frames: 100, overruns: 3, restarts: 1 }), stats('b', { frames: 90 })], 5, 1);
    book.childEnded();
    book.report([stats('a', { frames: 20 }), stats('b', { frames: 20 })], 1, 0);
    const [a, b] = shown(book);
    assert.deepEqual(
      { frames: a!.frames, overruns: a!.overruns, restarts: a!.restarts },
      { frames: 120, overruns: 3, restarts: 1 },
    );
    assert.equal(b!.frames, 110);
    assert.equal(book.totals().droppedFrames, 6);
  });

  it('shows fps and CPU a frame through a handover until the successor reports, and zero after a crash', () => {
    const renewed = createHostStatsBook();
    renewed.report([stats('a', { frames: 10, fps: 59, cpuMs: 0.7 })], 0, 0);
    renewed.childEnded(true, { plugins: [], droppedFrames: 0, trimmedFrames: 0 });
    const [a] = shown(renewed);
    assert.deepEqual(
      { fps: a!.fps, cpuMs: a!.cpuMs, frames: a!.frames },
      { fps: 59, cpuMs: 0.7, frames: 10 },
    );

    const crashed = createHostStatsBook();
    crashed.report([stats('a', { frames: 10, fps: 59, cpuMs: 0.7 })], 0, 0);
    crashed.childEnded();
    const [c] = shown(crashed);
    assert.deepEqual({ fps: c!.fps, cpuMs: c!.cpuMs, frames: c!.frames }, { fps: 0, cpuMs: 0, frames: 10 });
  });
});
