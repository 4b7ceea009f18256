import { z } from 'zod';

// MIDI clock (24 ppqn, start/stop/continue, song position): out to chosen ports, following the
// shared beat, and optionally in from one port as the tempo source. Both off by default: a
// clock sent to a device nobody asked for would start its sequencer.

const PortPattern = z.string().min(1).max(128);

export const MidiClockConfig = z
  .object({
    out: z
      .array(PortPattern)
      .max(32)
      .default([])
      .describe(
        'MIDI output port name patterns (case-insensitive, `*` matches anything) that get hana’s clock: 24 ticks per beat of the shared beat, start/stop/continue and song position.',
      ),
    in: PortPattern.optional().describe(
      'The MIDI input port name pattern whose clock hana follows as its tempo source (the first port that matches); while it ticks, it wins over Ableton Link and hana’s own /tempo.',
    ),
    quantum: z
      .number()
      .min(0.25)
      .max(64)
      .refine((q) => Number.isInteger(q * 4), 'a whole number of 16th notes (a multiple of 0.25)')
      .default(4)
      .describe(
        'Beats a start or continue waits for: it lands on the next multiple of this many beats of the shared beat (4: the next bar), so the devices’ bar 1 falls on hana’s bars.',
      ),
    whileStopped: z
      .boolean()
      .default(true)
      .describe('Send clock ticks while stopped too, so arpeggiators and delays keep the tempo.'),
    smoothingTicks: z
      .number()
      .int()
      .min(6)
      .max(192)
      .default(48)
      .describe('Clock in: tick intervals averaged for the tempo (48: two beats), outliers left out.'),
    tempoDeadbandBpm: z
      .number()
      .min(0.001)
      .max(5)
      .default(0.05)
      .describe('Clock in: a tempo change smaller than this is not written (jitter is not a tempo change).'),
    phaseToleranceMs: z
      .number()
      .min(0.5)
      .max(50)
      .default(3)
      .describe('Clock in, while playing: how far hana’s beat may be from the clock’s before it is moved.'),
    writesPerSecond: z
      .number()
      .min(1)
      .max(20)
      .default(4)
      .describe('Clock in: timeline writes (replicated to every linked laptop) per second, at most.'),
    maxTicksPerSecond: z
      .number()
      .int()
      .min(400)
      .max(10000)
      .default(1000)
      .describe(
        'Clock in: clock bytes per second accepted (999 bpm is 400); more are dropped as `midi-clock-flood`.',
      ),
    timeoutBeats: z
      .number()
      .min(1)
      .max(32)
      .default(2)
      .describe('Clock in: no tick for this many beats means the clock stopped; hana stops following it.'),
  })
  .strict();
export type MidiClockConfig = z.infer<typeof MidiClockConfig>;
export type MidiClockConfigInput = z.input<typeof MidiClockConfig>;
