import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  FPS,
  type PhaseLaptops,
  percentile,
  phaseLaptopsUnavailable,
  samplePhase,
  startPhaseLaptops,
} from '../helpers/phase-laptops.ts';

// Issue 16, "two projectors in phase", on two laptops: two `hana start` daemons, each in its own
// network namespace, linked by DTLS and following the timeline laptop 1 wrote by setting /tempo;
// each daemon's own output page open in a Chromium inside that daemon's namespace. Laptop 2's
// wall clock is set 300 ms off (skewed-clock.ts: the namespaces share the host's clock, so its
// offset to the leader would otherwise be ~0 and not applying it would go unseen), and laptop 1's
// page gets its frames 0-30 ms late at random. Asked for the beat they show at the same
// CLOCK_MONOTONIC instants, the two pages agree within one frame at the 99th percentile.
//
// Checked by breaking it (not committed): with session-clock.ts using no offset to the leader
// the pages differ by ~18 frames (300 ms at 120 bpm); with timeline.js playing each frame on
// arrival (offset from the last frame, no delay, the newest frame) p99 is ~6 frames; with
// renderer.js drawing the last frame to arrive, the last test fails (docs/output.md).

const skip = phaseLaptopsUnavailable();
const SKEW_MS = 300;
const JITTER_MS = 30;
const SAMPLES = 300;

describe('two namespaced laptops’ output pages in phase', { skip }, () => {
  let rig: PhaseLaptops | undefined;
  before(async () => {
    rig = await startPhaseLaptops({
      skewMs: SKEW_MS,
      jitterMs: JITTER_MS,
      say: (line) => console.log(`# ${line}`),
    });
  });
  after(async () => {
    await rig?.close();
  });

  it('laptop 2 follows the leader across its 300 ms clock error', async () => {
    const [one, two] = await rig!.clocks();
    assert.equal(one!.basis, 'self', 'laptop 1 wrote the timeline and leads');
    assert.equal(two!.basis, 'leader');
    // The skew is really there, so the next test would see a daemon that ignored it.
    assert.ok(
      Math.abs(two!.offsetMs + SKEW_MS) < 20,
      `laptop 2's offset to the leader is about -${SKEW_MS} ms (${two!.offsetMs})`,
    );
  });

  it('the beat the two pages show at the same instants differs by less than one frame (p99)', async () => {
    const laptops = rig!.laptops;
    for (const l of laptops)
      assert.ok(
        l.clock.errorMs < 1000 / FPS / 4,
        `the page's clock is placed on CLOCK_MONOTONIC within a quarter frame (±${l.clock.errorMs.toFixed(2)} ms)`,
      );
    const s = await samplePhase(laptops, { count: SAMPLES, intervalMs: 10, deadlineMs: 90_000 });
    const p50 = percentile(s.frames, 0.5);
    const p99 = percentile(s.frames, 0.99);
    const ms = (frames: number) => ((frames * 1000) / FPS).toFixed(2);
    console.log(
      `# phase difference between the two laptops' pages over ${s.frames.length} instants: ` +
        `p50 ${p50.toFixed(3)} frames (${ms(p50)} ms), p99 ${p99.toFixed(3)} frames (${ms(p99)} ms), ` +
        `max ${Math.max(...s.frames).toFixed(3)} frames; pages placed on CLOCK_MONOTONIC within ` +
        `±${Math.max(...s.clockErrorMs).toFixed(2)} ms, moved ${s.clockMovedMs.map((x) => x.toFixed(3)).join(', ')} ms`,
    );
    assert.ok(s.frames.length >= 100, `enough instants sampled (${s.frames.length})`);
    for (const moved of s.clockMovedMs)
      assert.ok(
        Math.abs(moved) < 1000 / FPS / 4,
        `a page's clock stayed where it was measured (${moved} ms)`,
      );
    assert.ok(p99 < 1, `p99 ${p99.toFixed(3)} frames is under one frame`);
  });

  it('each canvas shows the frame its timeline names, not the last to arrive', async () => {
    // Read at the instants above. By the timeline the frame on screen is behind the beat the
    // timeline names by 0 to about two frames (the frame interval, the screen refresh) and ahead
    // of it only when every frame held arrived too late; drawn on arrival it is ahead of it most
    // of the time, since the timeline plays 40 ms behind the fastest frame.
    const s = await samplePhase(rig!.laptops, { count: 100, intervalMs: 10, deadlineMs: 60_000 });
    const ahead = s.lags.map((l) => l.filter((x) => x < 0).length / l.length);
    const medians = s.lags.map((l) => percentile(l, 0.5));
    console.log(
      `# frame on screen behind the timeline's beat, per page: median ${medians.map((m) => m.toFixed(2)).join(', ')} frames, ` +
        `p1 ${s.lags.map((l) => percentile(l, 0.01).toFixed(2)).join(', ')}, p99 ${s.lags.map((l) => percentile(l, 0.99).toFixed(2)).join(', ')}; ` +
        `ahead of it at ${ahead.map((a) => `${(a * 100).toFixed(0)} %`).join(', ')} of the instants`,
    );
    for (const a of ahead)
      assert.ok(
        a < 0.1,
        `a page draws a frame whose time has not come at ${(a * 100).toFixed(0)} % of the instants`,
      );
    for (const m of medians) assert.ok(m < 3, `a page draws a frame more than 3 frames old (median ${m})`);
  });
});
