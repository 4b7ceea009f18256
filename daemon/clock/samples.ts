import { controlError } from '../control/protocol.ts';
import type { Handlers } from '../control/server.ts';
import type { ClockReading } from './session-clock.ts';
import { beatAt } from './timeline.ts';

// `clock.samples`: (CLOCK_MONOTONIC µs, shared beat) pairs read in a tight loop, for comparing
// this daemon's beat with another process's on the same machine at one instant (interop tests,
// `npm run bench -- clock`): every process on a host reads the same CLOCK_MONOTONIC, so no
// message delay enters the comparison. The beat is the one the visuals use.

const hostUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * The wall clock minus the host clock (ms), from readings of the wall clock each bracketed by
 * two of the host clock: the tightest bracket wins. Two clocks read one after the other are as
 * far apart as whatever ran between the reads, and on a loaded laptop the process may be
 * descheduled there: in 3 s of back-to-back reads with three processes spinning on two cores,
 * each of five runs saw a pair 8 ms apart. Read once, such a reading would stay in every beat
 * this daemon converts between the two clocks.
 */
export function bracketedOffset(wall: () => number, host: () => number, tries = 8): number {
  let best = Number.POSITIVE_INFINITY;
  let offset = Number.NaN;
  for (let i = 0; i < tries; i++) {
    const before = host();
    const w = wall();
    const after = host();
    if (after - before < best) {
      best = after - before;
      offset = w - (before + after) / 2;
    }
  }
  return offset;
}

let measured: number | undefined;

/**
 * hana's wall clock (performance.timeOrigin + performance.now()) minus CLOCK_MONOTONIC, in ms:
 * one constant per process, measured once, so every conversion between them agrees.
 */
export function wallOffsetMs(): number {
  measured ??= bracketedOffset(
    () => performance.timeOrigin + performance.now(),
    () => Number(process.hrtime.bigint()) / 1e6,
  );
  return measured;
}

export function clockSampleHandlers(clock: () => ClockReading): Handlers {
  const offset = wallOffsetMs();
  return {
    'clock.samples'(params) {
      const count = (params as { count?: unknown } | undefined)?.count;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1000)
        throw controlError('bad-params', 'clock.samples takes { count: 1–1000 }.');
      const r = clock();
      // The reading's bound and basis come along: how far these beats can be from the leader's.
      const bound = { errorMs: r.errorMs, basis: r.basis };
      if (!r.timeline) return { samples: [], tempo: r.tempo, ...bound };
      const samples: Array<[number, number]> = [];
      for (let i = 0; i < count; i++) {
        const t = hostUs();
        samples.push([t, beatAt(r.timeline, t / 1000 + offset + r.offsetMs)]);
      }
      return { samples, tempo: r.timeline.tempo, ...bound };
    },
  };
}
