import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fittedSpanHours,
  floorPerWindow,
  GROWING_PER_HOUR,
  parseDuration,
  slopeFit,
  slopePerHour,
  verdict,
  WARM_UP_SEC,
} from './trend.ts';

// The soak's arithmetic: a restart is not a drop, warm-up is not a leak, and the duration
// argument means what the operator typed.

const line = (life: number, fromSec: number, toSec: number, perHour: number, base: number) =>
  Array.from({ length: (toSec - fromSec) / 10 + 1 }, (_, k) => {
    const tSec = fromSec + k * 10;
    return { tSec, life, value: base + (perHour * tSec) / 3600 };
  });

describe('soak trend', () => {
  it('fits the slope per hour of a straight line after the warm-up', () => {
    assert.ok(Math.abs(slopePerHour(line(0, 0, 1800, 40, 100)) - 40) < 1e-6);
    assert.equal(slopePerHour(line(0, 0, 1800, 0, 100)), 0);
  });

  it('fits within each process life: a restart at a lower value reads flat, a leak in each life grows', () => {
    const flatLives = [...line(0, 0, 600, 0, 180), ...line(1, 610, 1200, 0, 150)];
    assert.equal(slopePerHour(flatLives), 0);
    const leakingLives = [...line(0, 0, 600, 30, 180), ...line(1, 610, 1200, 30, 40)];
    assert.ok(Math.abs(slopePerHour(leakingLives) - 30) < 1e-6);
  });

  it('leaves the warm-up of each life out of the fit', () => {
    const warm = line(0, 0, WARM_UP_SEC - 10, 3600, 0); // a steep one-off climb
    const settled = line(0, WARM_UP_SEC, 1200, 0, 120);
    assert.equal(slopePerHour([...warm, ...settled]), 0);
    assert.equal(slopePerHour(warm), 0, 'nothing left after warm-up: no slope, not NaN');
  });

  it('a daemon settling to its working size in its first minutes is flat; the same with a leak is not', () => {
    // laptop-3's daemon RSS in a 30-minute soak (docs/soak.md, "Renewal"): the per-minute floor
    // in MiB, minute by minute, a SIGKILL and restart at 20. Each life dips as V8 gives memory
    // back after its start, then settles in 3-6 minutes; a 120 s warm-up read that as 45 MiB/h.
    const floors: [life: number, minute: number, mib: number][] = [
      ...[165.9, 150.1, 151.4, 166.2, 169, 171.8, 172.5, 172.6, 172.6, 172.7].map(
        (v, m) => [0, m, v] as [number, number, number],
      ),
      ...[172.9, 173.7, 173.7, 173.6, 173.6, 173.8, 176.3, 176.4, 176.4, 176.3].map(
        (v, m) => [0, 10 + m, v] as [number, number, number],
      ),
      ...[165.5, 177.8, 149.3, 167.2, 168.6, 168.8, 169.9, 170.1, 170.1, 170.1].map(
        (v, m) => [1, 20 + m, v] as [number, number, number],
      ),
    ];
    const points = (leakPerHour: number) =>
      floors.map(([life, minute, mib]) => ({
        life,
        tSec: minute * 60,
        value: mib + (leakPerHour * minute) / 60,
      }));
    const judged = (leak: number) => {
      const fit = slopeFit(points(leak));
      return verdict('rssMiB', fit.perHour, fittedSpanHours(points(leak)), fit.sePerHour);
    };
    assert.equal(verdict('rssMiB', slopePerHour(points(0), 120), fittedSpanHours(points(0), 120)), 'growing');
    assert.equal(judged(0), 'flat');
    assert.equal(judged(24), 'growing', 'a leak of 24 MiB/h on top is still seen');
  });

  it('a floor that wanders with no trend is flat, however its short spans tilt; a steady rise is growing', () => {
    // laptop-2's handles in a 30-minute soak (docs/soak.md, "The verdict's warm-up"): the floor
    // of each minute, a SIGKILL and restart at 10. Least squares alone tilts it to 9.3/h, a rise
    // of 3.1 over the fitted 20 minutes: past both thresholds, on nothing but noise.
    // [life, seconds, floor], as floorPerWindow placed them from the run's samples.
    const floors: [number, number, number][] = [
      [0, 0, 21],
      [0, 60, 21],
      [0, 120, 19],
      [0, 180, 21],
      [0, 240, 18],
      [0, 300, 20],
      [0, 360, 21],
      [0, 420, 18],
      [0, 480, 19],
      [0, 540, 18],
      [1, 610, 21],
      [1, 660, 19],
      [1, 720, 18],
      [1, 780, 18],
      [1, 840, 21],
      [1, 900, 19],
      [1, 960, 18],
      [1, 1020, 18],
      [1, 1080, 20],
      [1, 1140, 18],
      [1, 1200, 18],
      [1, 1260, 18],
      [1, 1320, 18],
      [1, 1380, 19],
      [1, 1440, 21],
      [1, 1500, 20],
      [1, 1560, 20],
      [1, 1620, 20],
      [1, 1680, 18],
      [1, 1740, 22],
    ];
    const points = floors.map(([life, tSec, value]) => ({ life, tSec, value }));
    const fit = slopeFit(points);
    // The span the run fitted, from its 10 s samples (fittedSpanHours of those): 19.5 minutes.
    const span = 0.3249;
    assert.ok(fit.perHour > GROWING_PER_HOUR.handles! && fit.perHour * span >= 3, `${fit.perHour}/h`);
    assert.equal(verdict('handles', fit.perHour, span), 'growing', 'by the thresholds alone');
    assert.equal(verdict('handles', fit.perHour, span, fit.sePerHour), 'flat');
    // One handle more every three minutes, on the same noise: growing.
    const leaking = points.map((p) => ({ ...p, value: p.value + p.tSec / 180 }));
    const lf = slopeFit(leaking);
    assert.equal(verdict('handles', lf.perHour, span, lf.sePerHour), 'growing');
  });

  it('a one-off dip tilts a short fit, and its own residual keeps the verdict flat; a leak with it grows', () => {
    // A daemon's least anonymous memory of each 2 minutes in a 30-minute soak (docs/soak.md, "The
    // tree of 7 December, 04:40"): V8 gave back its young generation for a minute and grew it
    // again. Each 2-minute floor placed on both its minutes, the dip on one of them.
    const twoMinute = [105, 112, 113, 115, 87, 111, 115, 115, 117, 117];
    const perMinute = twoMinute.flatMap((v, k) => (k === 4 ? [v, 109] : [v, v]));
    const judged = (leakPerHour: number) => {
      const points = perMinute.map((v, minute) => ({
        life: 0,
        tSec: minute * 60,
        value: v + (leakPerHour * minute) / 60,
      }));
      const fit = slopeFit(points);
      return { fit, v: verdict('anonMiB', fit.perHour, fittedSpanHours(points), fit.sePerHour) };
    };
    const dip = judged(0);
    assert.ok(dip.fit.perHour > GROWING_PER_HOUR.anonMiB!, `tilted: ${dip.fit.perHour} MiB/h`);
    assert.equal(verdict('anonMiB', dip.fit.perHour, 0.25), 'growing', 'by the thresholds alone');
    assert.equal(dip.v, 'flat', `${dip.fit.perHour} ± ${dip.fit.sePerHour} MiB/h`);
    assert.equal(judged(120).v, 'growing', 'a leak of 2 MiB a minute through the same dip');
  });

  it('takes a warm-up per life: a restarted life can be given longer than the first', () => {
    const climb = (life: number, from: number) =>
      Array.from({ length: 21 }, (_, m) => ({
        life,
        tSec: from + m * 60,
        value: 100 + Math.min(m, 12) * 2,
      }));
    // Two 20-minute lives each filling for 12 minutes, then level.
    const points = [...climb(0, 0), ...climb(1, 1260)];
    const same = slopeFit(points, 300);
    assert.ok(same.perHour > 16, `both from 5 minutes: ${same.perHour}`);
    const longer = slopeFit(points, (life) => (life === 1 ? 900 : 780));
    assert.equal(longer.perHour, 0);
    assert.ok(Math.abs(fittedSpanHours(points, (life) => (life === 1 ? 900 : 300)) - (15 + 5) / 60) < 1e-9);
  });

  it('the slope of points on a line has no error; of scattered points, one that shrinks with more of them', () => {
    assert.ok(slopeFit(line(0, 0, 1800, 40, 100)).sePerHour < 1e-9);
    const scatter = (minutes: number) =>
      Array.from({ length: minutes }, (_, m) => ({ life: 0, tSec: m * 60, value: 100 + (m % 3) }));
    const short = slopeFit(scatter(15)).sePerHour;
    const long = slopeFit(scatter(60)).sePerHour;
    assert.ok(short > 0 && long > 0 && long < short, `${short} then ${long}`);
  });

  it('fits the floor: a sawtooth that comes back down is flat, a rising floor is not', () => {
    const saw = (rise: number) =>
      Array.from({ length: 121 }, (_, k) => ({
        tSec: k * 10,
        life: 0,
        value: 40 + (k % 6) * 8 + (rise * k * 10) / 3600,
      }));
    assert.equal(slopePerHour(floorPerWindow(saw(0))), 0);
    assert.ok(slopePerHour(saw(0)) !== 0, 'the raw sawtooth alone has a spurious slope at this length');
    assert.ok(Math.abs(slopePerHour(floorPerWindow(saw(30))) - 30) < 1);
    const lives = floorPerWindow([...line(0, 0, 50, 0, 9), ...line(1, 50, 110, 0, 3)]);
    assert.deepEqual(
      lives.map((p) => [p.life, p.value]),
      [
        [0, 9],
        [1, 3],
        [1, 3],
      ],
      'windows never mix two process lives',
    );
  });

  it('calls a metric growing only above its threshold, and refuses an unknown metric', () => {
    assert.equal(verdict('rssMiB', GROWING_PER_HOUR.rssMiB!), 'flat');
    assert.equal(verdict('rssMiB', GROWING_PER_HOUR.rssMiB! + 0.1), 'growing');
    assert.equal(verdict('fds', -50), 'flat');
    assert.throws(() => verdict('nope', 1), /no growth threshold for metric nope/);
  });

  it('needs a rise beyond the resolution: one handle more in ten minutes is not yet a leak', () => {
    const tenMinutes = 10 / 60;
    assert.equal(verdict('handles', 6.5, tenMinutes), 'flat', 'about one handle over the run');
    assert.equal(verdict('handles', 24, tenMinutes), 'growing', 'four handles over the run');
    assert.equal(verdict('rssMiB', 30, tenMinutes), 'flat', '5 MiB over ten minutes is GC noise');
    assert.equal(verdict('rssMiB', 30, 1), 'growing', '30 MiB over an hour is not');
    const points = [...line(0, 0, 600, 0, 1), ...line(1, 610, 1210, 0, 1)];
    assert.ok(Math.abs(fittedSpanHours(points) - (2 * (600 - WARM_UP_SEC)) / 3600) < 1e-9);
  });

  it('reads 30m, 2h, 90s and refuses anything else', () => {
    assert.equal(parseDuration('30m'), 1800);
    assert.equal(parseDuration('2h'), 7200);
    assert.equal(parseDuration('90s'), 90);
    assert.equal(parseDuration('1.5h'), 5400);
    for (const bad of ['30', 'm', '0m', '-5m', '10 minutes', '1e3s', ''])
      assert.equal(parseDuration(bad), undefined, bad);
  });
});
