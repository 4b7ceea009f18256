import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { beatAt, retempo, type Timeline } from '../../../daemon/clock/timeline.ts';
import { createClockOut, F2, F8, FA, FB, FC } from '../../../daemon/midi-clock/clock-out.ts';
import { createTransport } from '../../../daemon/midi-clock/transport.ts';
import type { Timers } from '../../../daemon/timers.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';

// MIDI clock out at the byte level, on a fake clock: which bytes, how many per beat, in which
// order, whatever the timers do. Times asserted are the fake clock's, never the wall clock's.

const T0 = 1_000_000;

function setup(opts: { tempo?: number; whileStopped?: boolean; quantum?: number; noBeat?: boolean } = {}) {
  const clock = createFakeClock(T0);
  let timeline: Timeline | undefined = opts.noBeat
    ? undefined
    : { tempo: opts.tempo ?? 120, beatOrigin: 0, timeOrigin: T0 };
  // Extra delay added to every timer: a busy event loop.
  let lag = 0;
  const timers: Timers = {
    set: (d, fn) => clock.timers.set(d + lag, fn),
    clear: (h) => clock.timers.clear(h),
  };
  const sends: { at: number; bytes: number[] }[] = [];
  const transport = createTransport({ quantum: opts.quantum ?? 4 });
  const out = createClockOut({
    read: () => (timeline ? { beat: beatAt(timeline, clock.now()), tempo: timeline.tempo } : undefined),
    transport: () => transport.state(),
    send: (b) => sends.push({ at: clock.now(), bytes: [...b] }),
    timers,
    whileStopped: opts.whileStopped ?? true,
  });
  transport.subscribe((s) => out.transportChanged(s));
  return {
    clock,
    out,
    transport,
    sends,
    bytes: () => sends.flatMap((s) => s.bytes),
    beat: () => (timeline ? beatAt(timeline, clock.now()) : Number.NaN),
    setTimeline(tl: Timeline | undefined) {
      timeline = tl;
      out.wake();
    },
    retempo(bpm: number) {
      timeline = retempo(timeline, clock.now(), bpm);
      out.wake();
    },
    setLag(ms: number) {
      lag = ms;
    },
    /** Advances to the fake time at which the shared beat reaches `beat` (current tempo). */
    async toBeat(beat: number) {
      const tl = timeline!;
      const at = tl.timeOrigin + ((beat - tl.beatOrigin) * 60_000) / tl.tempo;
      await clock.advance(at - clock.now());
    },
  };
}

const count = (xs: number[], b: number) => xs.filter((x) => x === b).length;

describe('MIDI clock out', { timeout: 30_000 }, () => {
  for (const tempo of [20, 60, 120, 137.5, 174, 999]) {
    it(`sends exactly 24 clocks per beat at ${tempo} bpm, each on its tick`, async () => {
      const t = setup({ tempo });
      t.out.wake();
      await t.toBeat(4);
      const bytes = t.bytes();
      assert.equal(bytes.length, 96, `${bytes.length} bytes in 4 beats`);
      assert.ok(bytes.every((b) => b === F8));
      // One write per tick when the timers are on time, tick k at the time of beat k / 24.
      assert.equal(t.sends.length, 96);
      const msPerTick = 60_000 / (tempo * 24);
      t.sends.forEach((s, i) => {
        assert.ok(Math.abs(s.at - (T0 + (i + 1) * msPerTick)) < 1e-6, `tick ${i + 1} at ${s.at - T0} ms`);
      });
      assert.equal(t.out.stats().ticks, 96);
      t.out.close();
      assert.equal(t.clock.pending(), 0, 'no timer left after close');
    });
  }

  it('catches up missed ticks in order, in one write, and never drifts', async () => {
    const t = setup({ tempo: 120 });
    t.out.wake();
    await t.toBeat(1);
    t.setLag(113); // every wake-up now ~5 ticks late
    await t.toBeat(3);
    t.setLag(0);
    await t.toBeat(8);
    // Beat 8 exactly: 8 × 24 ticks, however late the timers were in between.
    assert.equal(count(t.bytes(), F8), 8 * 24);
    assert.ok(
      t.sends.some((s) => s.bytes.length >= 5),
      'some wake-ups sent several ticks at once',
    );
    assert.ok(t.out.stats().lateWakeups > 0);
    t.out.close();
  });

  it('a late wake-up keeps song position, start and the first tick in order', async () => {
    const t = setup({ tempo: 120 });
    t.out.wake();
    await t.toBeat(0.5);
    t.transport.start(t.beat()); // cued on beat 4 (quantum 4)
    t.setLag(30);
    await t.toBeat(5);
    t.setLag(0);
    t.out.wake(); // whatever the lagging timer still owes up to beat 5
    const b = t.bytes();
    const i = b.indexOf(FA);
    assert.deepEqual(b.slice(i - 3, i + 2), [F2, 0, 0, FA, F8]);
    // The F8 right after FA is tick 96 (beat 4): 95 ticks before the song, one with it, 24 after.
    assert.equal(count(b.slice(0, i), F8), 95);
    assert.equal(count(b, F8), 120);
    t.out.close();
  });

  it('a tempo change mid-beat takes effect at the next tick', async () => {
    const t = setup({ tempo: 120 });
    t.out.wake();
    await t.toBeat(0.5);
    await t.clock.advance(5); // mid-tick: 5 ms into tick 12's 20.83 ms
    assert.equal(t.sends.length, 12);
    t.retempo(240);
    const changedAt = t.clock.now();
    await t.clock.advance(1000);
    const after = t.sends.slice(12);
    // The tick due next comes at 240 bpm from where the beat stood: (12+1)/24 − beat, at 10.4 ms a tick.
    const beatAtChange = 0.5 + (5 * 120) / 60_000;
    const firstDue = changedAt + ((13 / 24 - beatAtChange) * 60_000) / 240;
    assert.ok(
      Math.abs(after[0]!.at - firstDue) < 1e-6,
      `first tick after the change at +${after[0]!.at - changedAt} ms`,
    );
    for (let i = 1; i < after.length; i++) {
      assert.ok(Math.abs(after[i]!.at - after[i - 1]!.at - 60_000 / (240 * 24)) < 1e-6);
    }
    // Beat 0.5 + 5 ms at 120 + 1 s at 240: 4.51 beats, so 108 ticks.
    assert.equal(count(t.bytes(), F8), Math.floor((beatAtChange + 4) * 24 + 1e-9));
    t.out.close();
  });

  it('start, stop and continue: song position first, stop at once, continue on its 16th', async () => {
    const t = setup({ tempo: 120 });
    t.out.wake();
    await t.toBeat(0.3);
    t.transport.start(t.beat());
    await t.toBeat(6.5);
    const mark = t.bytes().length;
    t.transport.stop(t.beat());
    assert.deepEqual(t.bytes().slice(mark), [FC], 'stop goes out at once, alone');
    assert.deepEqual(t.transport.state(), { playing: false, position: 10 }); // 2.5 beats = 10 16ths
    t.transport.continue(t.beat()); // resumes where 16th 10 falls on the bar grid: beat 10.5
    await t.toBeat(12);
    const b = t.bytes();
    const c = b.indexOf(FB);
    assert.deepEqual(b.slice(c - 3, c + 2), [F2, 10, 0, FB, F8]);
    // The F8 after FB is tick 252 (beat 10.5); ticks 0 was never sent, so it is the 252nd.
    assert.equal(count(b.slice(0, c + 2), F8), 252);
    assert.equal(count(b, FA), 1);
    assert.equal(count(b, FC), 1);
    assert.equal(t.out.stats().running, true);
    t.out.close();
  });

  it('song position is 14 bits, least significant 7 first', async () => {
    const t = setup({ tempo: 999 });
    t.out.wake();
    t.transport.locate(200);
    t.transport.continue(t.beat());
    await t.toBeat(60);
    const b = t.bytes();
    const c = b.indexOf(FB);
    assert.deepEqual(b.slice(c - 3, c + 1), [F2, 200 & 0x7f, 200 >> 7, FB]);
    t.out.close();
  });

  it('whileStopped false: silent until the song starts, then 24 a beat', async () => {
    const t = setup({ tempo: 90, whileStopped: false, quantum: 1 });
    t.out.wake();
    await t.toBeat(2.2);
    assert.equal(t.bytes().length, 0);
    t.transport.start(t.beat()); // next beat: 3
    await t.toBeat(5);
    assert.deepEqual(t.bytes().slice(0, 4), [F2, 0, 0, FA]);
    assert.equal(count(t.bytes(), F8), 2 * 24 + 1);
    t.transport.stop(t.beat());
    await t.toBeat(7);
    assert.equal(t.bytes().at(-1), FC);
    assert.equal(count(t.bytes(), F8), 2 * 24 + 1);
    t.out.close();
  });

  it('sends nothing without a shared beat, and starts on the next tick once there is one', async () => {
    const t = setup({ noBeat: true });
    t.out.wake();
    await t.clock.advance(2000);
    assert.equal(t.sends.length, 0);
    t.setTimeline({ tempo: 120, beatOrigin: 7.99, timeOrigin: t.clock.now() });
    await t.toBeat(9);
    // Tick 192 (beat 8) is the first: the one under way at beat 7.99 (tick 191) is not sent late.
    assert.equal(count(t.bytes(), F8), 216 - 191);
    t.out.close();
  });

  it('a beat that jumps a long way relocates: no burst, playing outputs stop and continue', async () => {
    const t = setup({ tempo: 120, quantum: 1 });
    t.out.wake();
    t.transport.start(t.beat()); // beat 1
    await t.toBeat(2);
    const mark = t.bytes().length;
    // Another leader's timeline, ten beats ahead.
    t.setTimeline({ tempo: 120, beatOrigin: 12, timeOrigin: t.clock.now() });
    const jump = t.bytes().slice(mark);
    assert.deepEqual(jump, [FC], 'no burst of 240 ticks, and the song stops');
    await t.toBeat(13);
    const b = t.bytes().slice(mark);
    const c = b.indexOf(FB);
    // Beat 12's tick is under way at the jump, so the song resumes on the next 16th: 11.25
    // beats after its start at beat 1, position 45.
    assert.deepEqual(b.slice(c - 3, c + 2), [F2, 45, 0, FB, F8]);
    assert.equal(count(b.slice(0, c + 2), F8), 6, 'ticks 289 to 294: the F8 with FB is beat 12.25');
    assert.equal(t.out.stats().relocations, 1);
    t.out.close();
  });

  it('a beat that steps back a little waits for the ticks already sent', async () => {
    const t = setup({ tempo: 120 });
    t.out.wake();
    await t.toBeat(2);
    assert.equal(t.sends.length, 48);
    t.setTimeline({ tempo: 120, beatOrigin: 1.75, timeOrigin: t.clock.now() });
    await t.clock.advance(125); // a quarter beat: back to beat 2
    assert.equal(t.sends.length, 48, 'no tick sent twice');
    await t.clock.advance(500);
    assert.equal(count(t.bytes(), F8), 72);
    t.out.close();
  });
});
