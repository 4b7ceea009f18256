import { z } from 'zod';

// The `plugins` config section: whether installed plugins run, and how the frame runtime runs
// them. Limits per plugin (memory, CPU per frame, fps) come from each plugin's manifest.

export const PluginFaultConfig = z
  .object({
    faultsToRestart: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(5)
      .describe(
        'Faulty frames (overrun, exception, invalid output) among the last `faultWindowFrames` that restart the plugin; fewer only lose their frames.',
      ),
    faultWindowFrames: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(10)
      .describe(
        'The sliding window of frames in which faults are counted: a plugin faulting 4 frames in 5 is restarted, not only one faulting in a row.',
      ),
    maxRestarts: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(3)
      .describe('Restarts allowed within `windowSeconds`; one more quarantines the plugin.'),
    windowSeconds: z
      .number()
      .int()
      .min(1)
      .max(86400)
      .default(60)
      .describe('The window in which restarts are counted.'),
    backoffMs: z
      .number()
      .int()
      .min(0)
      .max(60000)
      .default(500)
      .describe('Delay before the first restart; it doubles with each restart in the window.'),
    maxBackoffMs: z
      .number()
      .int()
      .min(0)
      .max(600000)
      .default(30000)
      .describe('Longest delay before a restart.'),
  })
  .strict()
  .refine((f) => f.faultsToRestart <= f.faultWindowFrames, {
    message: 'faultsToRestart cannot be more than faultWindowFrames (it could never be reached)',
  });

export const PluginRenewalConfig = z
  .object({
    atMb: z
      .number()
      .int()
      .min(16)
      .max(65536)
      .optional()
      .describe(
        "Resident memory of the plugin host, MiB, past which it is renewed: a fresh host takes over at its first frame with every layer the old one draws, with no frame gap. Default: 60 % of the host's ceiling (256 MiB + 2 × the plugins' `memoryMb`).",
      ),
    afterMinutes: z
      .number()
      .min(0.1)
      .max(1440)
      .default(10)
      .describe(
        "A host is renewed only once it has run this long: memory that grows faster is a plugin's doing, left to the ceiling and the bisection.",
      ),
  })
  .strict();

export const PluginsConfig = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Run installed plugins (each in its own isolate, all in one child process). Off: no plugin code runs.',
      ),
    bundledExamples: z
      .boolean()
      .default(true)
      .describe(
        'On start, sign the examples shipped with hana under this installation\'s own publisher key ("local (this installation)"), trust that key, and install new or upgraded examples. Off: nothing is signed or trusted automatically.',
      ),
    frameRate: z
      .number()
      .int()
      .min(1)
      .max(120)
      .default(60)
      .describe(
        'Frames per second of the composed output; a plugin runs at its manifest `fps` or this, whichever is lower.',
      ),
    width: z
      .number()
      .int()
      .min(16)
      .max(16384)
      .default(1920)
      .describe('Logical output width plugins draw in; the output page scales it to the screen.'),
    height: z.number().int().min(16).max(16384).default(1080).describe('Logical output height.'),
    takeoverMs: z
      .number()
      .int()
      .min(0)
      .max(600_000)
      .default(2000)
      .describe(
        "After a human write to a parameter (OSC, MIDI, `hana set`, a scene), plugin writes to it are held off for this long, as touch mode in DAW automation: a performer's fader is not snapped back by an LFO. Never less than 1 s: every laptop ranks a person's write ahead of plugins' writes for that long (docs/sync.md), so 0 means only that second.",
      ),
    idleFps: z
      .number()
      .int()
      .min(0)
      .max(120)
      .default(10)
      .describe(
        'While no output page is connected, plugins that only draw are paused and plugins that declare `writes` (an LFO) run this many times a second while something takes their writes (a linked peer, an OSC or MIDI feedback target, an OSCQuery listener, a console); with none of these they are paused too. 0: pause them always.',
      ),
    faults: PluginFaultConfig.prefault({}).describe('When a misbehaving plugin is restarted or quarantined.'),
    renewal: PluginRenewalConfig.prefault({}).describe(
      'When a long-lived plugin host is replaced by a fresh one on purpose (docs/plugins.md, "Planned renewal").',
    ),
  })
  .strict();

export type PluginsConfig = z.infer<typeof PluginsConfig>;
export type PluginsConfigInput = z.input<typeof PluginsConfig>;

/** The runtime's fault policy from the config section. */
export function faultPolicy(faults: PluginsConfig['faults']) {
  return {
    faultsToRestart: faults.faultsToRestart,
    faultWindowFrames: faults.faultWindowFrames,
    maxRestarts: faults.maxRestarts,
    windowMs: faults.windowSeconds * 1000,
    backoffMs: faults.backoffMs,
    maxBackoffMs: faults.maxBackoffMs,
  };
}
