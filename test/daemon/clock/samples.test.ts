import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bracketedOffset, clockSampleHandlers, wallOffsetMs } from '../../../daemon/clock/samples.ts';
import type { ClockReading } from '../../../daemon/clock/session-clock.ts';

// The constant between hana's wall clock and the host's monotonic clock, and `clock.samples`.

describe('wall clock minus host clock', () => {
  it('a read descheduled between the two clocks does not decide the offset: the tightest bracket does', () => {
    // Host clock in ms; the wall clock is the host clock plus 1000. The first try is
    // descheduled for 8 ms between its first host read and its wall read.
    let host = 50;
    let tries = 0;
    const readHost = () => {
      host += 0.001;
      return host;
    };
    const readWall = () => {
      if (tries++ === 0) host += 8;
      return host + 1000;
    };
    const offset = bracketedOffset(readWall, readHost);
    assert.ok(Math.abs(offset - 1000) <= 0.001, `offset ${offset}`);
    assert.equal(tries, 8);
  });

  it('is one constant per process, and agrees with a fresh measurement', () => {
    const first = wallOffsetMs();
    assert.equal(wallOffsetMs(), first);
    const fresh = bracketedOffset(
      () => performance.timeOrigin + performance.now(),
      () => Number(process.hrtime.bigint()) / 1e6,
    );
    // Both clocks tick at the same rate (performance.now() counts the same monotonic clock),
    // so only the reads' own brackets can part them.
    assert.ok(Math.abs(fresh - first) < 1, `${fresh} vs ${first}`);
  });
});

describe('clock.samples', () => {
  const reading = (over: Partial<ClockReading>) =>
    ({
      timeMs: 0,
      offsetMs: 0,
      basis: 'leader',
      errorMs: 0.3,
      estimateAgeMs: 10,
      tempo: 120,
      timeline: { tempo: 120, beatOrigin: 0, timeOrigin: 0 },
      leader: 'X',
      leaderLinked: true,
      beat: 0,
      phase: 0,
      ...over,
    }) as ClockReading;

  it('gives host-time and beat pairs with the bound and basis of the reading they came from', async () => {
    const now = performance.timeOrigin + performance.now();
    const h = clockSampleHandlers(() =>
      reading({ timeline: { tempo: 120, beatOrigin: 0, timeOrigin: now } }),
    );
    const r = (await h['clock.samples']!({ count: 5 }, {} as never)) as {
      samples: Array<[number, number]>;
      tempo: number;
      errorMs: number;
      basis: string;
    };
    assert.equal(r.samples.length, 5);
    assert.equal(r.errorMs, 0.3);
    assert.equal(r.basis, 'leader');
    // At 120 bpm a beat is 500 ms: the beat follows the host time (µs) it was read at, within
    // the wall clock's resolution at today's date (a quarter µs).
    const [[t0, b0], [t4, b4]] = [r.samples[0]!, r.samples[4]!];
    assert.ok(Math.abs(b4 - b0 - (t4 - t0) / 500_000) < 1e-6, `${b4 - b0} vs ${(t4 - t0) / 500_000}`);
  });

  it('refuses a count outside 1–1000', async () => {
    const h = clockSampleHandlers(() => reading({}));
    for (const count of [0, 1001, 1.5, '3', undefined])
      await assert.rejects(async () => h['clock.samples']!({ count }, {} as never), /clock.samples takes/);
  });
});
