import { z } from 'zod';
import { AbletonLinkConfig } from './ableton-link-schema.ts';
import { ConsoleConfig } from './console-schema.ts';
import { LinkConfig } from './link-schema.ts';
import { MidiConfig } from './midi-schema.ts';
import { OscConfig } from './osc-schema.ts';
import { OscQueryConfig } from './oscquery-schema.ts';
import { OutputConfig } from './output-schema.ts';
import { DEFAULT_PARAMS, ParamMap } from './params-schema.ts';
import { PluginsConfig } from './plugins-schema.ts';
import { AuditConfig, StorageConfig } from './storage-schema.ts';
import { SyncConfig } from './sync-schema.ts';

// The one schema: defaults, validation and docs/configuration.md all come from here.

export { Cidr } from './osc-schema.ts';

export const Config = z
  .object({
    name: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe('Display name shown to peers (default: host name plus a short device ID suffix).'),
    log: z
      .object({
        level: z
          .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
          .default('info')
          .describe('Log level.'),
        rejectIntervalMs: z
          .number()
          .int()
          .min(0)
          .default(10000)
          .describe(
            'At most one log line per rejection reason and source in this interval; the rest are counted.',
          ),
      })
      .strict()
      .prefault({}),
    osc: OscConfig.prefault({}),
    oscquery: OscQueryConfig.prefault({}),
    midi: MidiConfig.prefault({}),
    peers: LinkConfig.prefault({}),
    storage: StorageConfig.prefault({}),
    audit: AuditConfig.prefault({}),
    sync: SyncConfig.prefault({}),
    abletonLink: AbletonLinkConfig.prefault({}),
    output: OutputConfig.prefault({}),
    console: ConsoleConfig.prefault({}),
    plugins: PluginsConfig.prefault({}).describe(
      'Visual plugins: whether they run, frame rate, canvas size, fault policy.',
    ),
    params: ParamMap.default(DEFAULT_PARAMS).describe(
      'Declared parameters: OSC address → type, range, default.',
    ),
  })
  .strict();

export type Config = z.infer<typeof Config>;
export type ConfigInput = z.input<typeof Config>;
export type { OscConfig } from './osc-schema.ts';
