import { z } from 'zod';

// The `plugins` config section: whether installed plugins run, and how the frame runtime runs
// them. Limits per plugin (memory, CPU per frame, fps) come from each plugin's manifest.

export const PluginFaultConfig = z
  .object({
    consecutiveFaults: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(5)
      .describe(
        'Faulty frames in a row (overrun, exception, invalid output) before the plugin is restarted; a single one only loses its frame.',
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
    faults: PluginFaultConfig.prefault({}).describe('When a misbehaving plugin is restarted or quarantined.'),
  })
  .strict();

export type PluginsConfig = z.infer<typeof PluginsConfig>;
export type PluginsConfigInput = z.input<typeof PluginsConfig>;

/** The runtime's fault policy from the config section. */
export function faultPolicy(faults: PluginsConfig['faults']) {
  return {
    consecutiveFaults: faults.consecutiveFaults,
    maxRestarts: faults.maxRestarts,
    windowMs: faults.windowSeconds * 1000,
    backoffMs: faults.backoffMs,
    maxBackoffMs: faults.maxBackoffMs,
  };
}
