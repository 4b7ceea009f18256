import fc from 'fast-check';
import type { Timeline } from '../../../daemon/clock/timeline.ts';

// Generators shared by the timeline and register tests: session times near today's epoch ms,
// where a double is coarsest, and every tempo a timeline may hold.

/** A session time near today's (ms since the epoch). */
export const T0 = 1_763_800_000_000;

export const arbTempo = fc.double({ min: 20, max: 999, noNaN: true });

export const arbTimeline: fc.Arbitrary<Timeline> = fc.record(
  {
    tempo: arbTempo,
    beatOrigin: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    timeOrigin: fc.double({ min: T0 - 1e9, max: T0 + 1e9, noNaN: true }),
  },
  { noNullPrototype: true },
);

/** Any finite double the three fields could be handed, −0 and subnormals included. */
export const arbAnyTimeline: fc.Arbitrary<Timeline> = fc.record(
  {
    tempo: arbTempo,
    beatOrigin: fc.double({ noNaN: true, noDefaultInfinity: true }),
    timeOrigin: fc.double({ noNaN: true, noDefaultInfinity: true }),
  },
  { noNullPrototype: true },
);
