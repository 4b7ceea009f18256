import { controlError } from '../control/protocol.ts';
import type { Handlers } from '../control/server.ts';
import type { ClockReading } from './session-clock.ts';
import { beatAt } from './timeline.ts';

// `clock.samples`: (CLOCK_MONOTONIC µs, shared beat) pairs read in a tight loop, for comparing
// this daemon's beat with another process's on the same machine at one instant (interop tests,
// `npm run bench -- clock`): every process on a host reads the same CLOCK_MONOTONIC, so no
// message delay enters the comparison. The beat is the one the visuals use.

const hostUs = () => Number(process.hrtime.bigint() / 1000n);

/** hana's wall clock (performance.timeOrigin + performance.now()) minus CLOCK_MONOTONIC, in ms. */
export function wallOffsetMs(): number {
  const hostMs = Number(process.hrtime.bigint()) / 1e6;
  return performance.timeOrigin + performance.now() - hostMs;
}

export function clockSampleHandlers(clock: () => ClockReading): Handlers {
  const offset = wallOffsetMs();
  return {
    'clock.samples'(params) {
      const count = (params as { count?: unknown } | undefined)?.count;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1000)
        throw controlError('bad-params', 'clock.samples takes { count: 1–1000 }.');
      const r = clock();
      if (!r.timeline) return { samples: [], tempo: r.tempo };
      const samples: Array<[number, number]> = [];
      for (let i = 0; i < count; i++) {
        const t = hostUs();
        samples.push([t, beatAt(r.timeline, t / 1000 + offset + r.offsetMs)]);
      }
      return { samples, tempo: r.timeline.tempo };
    },
  };
}
