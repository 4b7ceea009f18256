import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ClockInEvent, type ClockInInit, createClockIn } from '../../../daemon/midi-clock/clock-in.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';
import { prng as seeded } from '../../helpers/prng.ts';

// MIDI clock in at the byte level, on a fake clock: jittered clocks from a seeded generator,
// outliers, floods, garbage, start/stop/song position, a clock that stops.

const T0 = 5_000_000;

function setup(over: Partial<ClockInInit> = {}) {
  const clock = createFakeClock(T0);
  const events: ClockInEvent[] = [];
  const rejects: { code: string; detail: string }[] = [];
  let lost = 0;
  const cin = createClockIn({
    windowTicks: 48,
    maxTicksPerSecond: 1000,
    timeoutBeats: 2,
    timers: clock.timers,
    now: clock.now,
    onEvent: (e) => events.push(e),
    onReject: (code, detail) => rejects.push({ code, detail }),
    onLost: () => lost++,
    ...over,
  });
  return {
    clock,
    cin,
    events,
    rejects,
    lost: () => lost,
    rejected: (code: string) => rejects.filter((r) => r.code === code).length,
    /** Bytes arriving at fake time `at` (the clock moves there first). */
    async play(at: number, bytes: number[]) {
      await clock.advance(Math.max(0, at - clock.now()));
      cin.push(Uint8Array.from(bytes), at);
    },
  };
}

/** Times of `n` ticks at `bpm` from `start`, each moved by up to ±`jitter` ms. */
function ticks(start: number, bpm: number, n: number, jitter: number, rand: () => number): number[] {
  const period = 60_000 / (bpm * 24);
  return Array.from({ length: n }, (_, i) => start + i * period + (rand() * 2 - 1) * jitter);
}

describe('MIDI clock in', { timeout: 30_000 }, () => {
  for (const bpm of [60, 120, 174.5, 300]) {
    // Jitter in ms weighs more as ticks get shorter: the bound is relative, 0.2 % (0.24 bpm at 120).
    it(`smooths ±1 ms of jitter at ${bpm} bpm to within 0.2 %, where one interval alone is off by ${Math.round(bpm * 0.1)}+ bpm`, async () => {
      const t = setup();
      const rand = seeded(bpm * 1000);
      const times = ticks(T0 + 10, bpm, 24 * 16, 1, rand);
      let worst = 0;
      let worstRaw = 0;
      for (const [i, at] of times.entries()) {
        await t.play(at, [0xf8]);
        if (i < 48) continue;
        worst = Math.max(worst, Math.abs(t.cin.estimate()!.tempo - bpm));
        worstRaw = Math.max(worstRaw, Math.abs(60_000 / ((at - times[i - 1]!) * 24) - bpm));
      }
      assert.ok(worst < bpm * 0.002, `smoothed tempo off by up to ${worst.toFixed(3)} bpm`);
      assert.ok(worstRaw > 10 * worst, `one interval alone: off by up to ${worstRaw.toFixed(2)} bpm`);
      assert.equal(t.rejected('clock-outlier'), 0);
      assert.equal(t.cin.live(), true);
      t.cin.close();
    });
  }

  it('leaves out late and bunched ticks, and counts them', async () => {
    const t = setup();
    const rand = seeded(7);
    const times = ticks(T0, 120, 200, 0.5, rand);
    // Tick 100 held up 15 ms by the event loop; tick 101 arrives right behind it.
    times[100]! += 15;
    times[101]! = times[100]! + 0.3;
    for (const at of times) await t.play(at, [0xf8]);
    assert.ok(Math.abs(t.cin.estimate()!.tempo - 120) < 0.2, `tempo ${t.cin.estimate()!.tempo}`);
    assert.equal(t.rejected('clock-outlier'), 2);
    t.cin.close();
  });

  it('follows a real tempo change once six intervals agree on it', async () => {
    const t = setup();
    const rand = seeded(11);
    const a = ticks(T0, 120, 100, 0.5, rand);
    // 120 → 70 bpm: each interval 1.7 times the last ones, past the outlier bound.
    const b = ticks(a.at(-1)! + 60_000 / (70 * 24), 70, 30, 0.5, rand);
    for (const at of a) await t.play(at, [0xf8]);
    for (const at of b.slice(0, 5)) await t.play(at, [0xf8]);
    assert.ok(Math.abs(t.cin.estimate()!.tempo - 120) < 0.2, 'five odd intervals are noise');
    for (const at of b.slice(5)) await t.play(at, [0xf8]);
    assert.ok(Math.abs(t.cin.estimate()!.tempo - 70) < 0.3, `tempo ${t.cin.estimate()!.tempo}`);
    t.cin.close();
  });

  it('drops a flood of clock bytes beyond the rate, counting each, and keeps its tempo', async () => {
    const t = setup();
    const rand = seeded(3);
    const times = ticks(T0, 120, 300, 0.5, rand);
    for (const at of times.slice(0, 150)) await t.play(at, [0xf8]);
    // 10,000 clocks in one chunk: a bar's worth is a bunched clock, the rest is a flood.
    await t.play(times[150]! - 5, Array(10_000).fill(0xf8));
    const flood = t.rejected('clock-flood');
    assert.ok(flood >= 10_000 - 4 * 24 && flood < 10_000, `${flood} dropped`);
    for (const at of times.slice(150)) await t.play(at, [0xf8]);
    assert.ok(Math.abs(t.cin.estimate()!.tempo - 120) < 0.2, `tempo ${t.cin.estimate()!.tempo}`);
    t.cin.close();
  });

  it('refuses garbage by reason and still counts the clocks around it', async () => {
    const t = setup();
    const times = ticks(T0, 120, 60, 0, Math.random);
    for (const [i, at] of times.entries()) {
      const junk = [[0x42], [0xf4], [0x90, 0x40], [0xf0, 1, 2, 0xf8, 3, 0xf7], [0xfd]][i % 5]!;
      await t.play(at, i % 5 === 3 ? junk : [...junk, 0xf8]);
    }
    assert.ok(Math.abs(t.cin.estimate()!.tempo - 120) < 1e-6, 'every clock counted, even inside a SysEx');
    assert.ok(t.rejected('orphan-data') >= 1);
    assert.ok(t.rejected('undefined-status') >= 1);
    assert.ok(t.rejected('truncated') >= 1);
    t.cin.close();
  });

  it('refuses a tempo outside 20–999 bpm', async () => {
    for (const bpm of [12, 1500]) {
      const t = setup({ maxTicksPerSecond: 10_000 });
      for (const at of ticks(T0, bpm, 20, 0, Math.random)) await t.play(at, [0xf8]);
      assert.equal(t.cin.estimate(), undefined, `${bpm} bpm`);
      assert.ok(t.rejected('clock-tempo') > 0);
      t.cin.close();
    }
  });

  it('start, stop, song position and continue: the song beat at our time', async () => {
    const t = setup();
    const rand = seeded(5);
    const times = ticks(T0, 120, 400, 1, rand);
    let i = 0;
    for (; i < 50; i++) await t.play(times[i]!, [0xf8]);
    await t.play(times[i]! - 3, [0xfa]);
    const startAt = times[i]!;
    for (; i < 146; i++) await t.play(times[i]!, [0xf8]); // 96 ticks of song: 4 beats
    assert.deepEqual(t.events[0], { kind: 'start', at: startAt, songBeat: 0 });
    const e = t.cin.estimate()!;
    // Where the ideal (jitter-free) line puts the song beat at e.song.at: within 0.5 ms.
    const ideal = ((e.song!.at - (T0 + (50 * 2500) / 120)) * 120) / 60_000;
    assert.ok(
      Math.abs((ideal - e.song!.beat) * 500) < 0.5,
      `${((ideal - e.song!.beat) * 500).toFixed(3)} ms`,
    );
    await t.play(times[i]! - 1, [0xfc]);
    assert.equal(t.events[1]!.kind, 'stop');
    // SPP while stopped moves the song; the continue starts at 16th 37, beat 9.25.
    await t.play(times[i]! - 0.5, [0xf2, 37, 0, 0xfb]);
    assert.deepEqual(t.events[2], { kind: 'position', position: 37 });
    for (; i < 160; i++) await t.play(times[i]!, [0xf8]);
    assert.deepEqual(t.events[3], { kind: 'continue', at: times[146], songBeat: 9.25 });
    // SPP while playing is ignored (MIDI 1.0).
    await t.play(times[i]! - 1, [0xf2, 0, 1]);
    assert.equal(t.events.length, 4);
    // A stop then a continue without SPP resumes after the last clock (song tick 222 + 13), on
    // the next 16th: 40, beat 10.
    await t.play(times[i]! - 0.5, [0xfc, 0xfb]);
    await t.play(times[i]!, [0xf8]);
    assert.deepEqual(t.events.at(-1), { kind: 'continue', at: times[i], songBeat: 40 / 4 });
    t.cin.close();
  });

  it('a clock that stops is lost once, after timeoutBeats', async () => {
    const t = setup();
    const times = ticks(T0, 120, 100, 0, Math.random);
    for (const at of times) await t.play(at, [0xf8]);
    assert.equal(t.cin.live(), true);
    await t.clock.advance(999); // under 2 beats at 120
    assert.equal(t.lost(), 0);
    await t.clock.advance(2);
    assert.equal(t.lost(), 1);
    assert.equal(t.cin.live(), false);
    assert.equal(t.cin.estimate(), undefined);
    await t.clock.advance(10_000);
    assert.equal(t.lost(), 1, 'said once');
    assert.equal(t.clock.pending(), 0);
    t.cin.close();
  });
});
