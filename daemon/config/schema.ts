import { isIP } from 'node:net';
import { z } from 'zod';
import { LinkConfig } from './link-schema.ts';
import { MidiConfig } from './midi-schema.ts';
import { OutputConfig } from './output-schema.ts';
import { DEFAULT_PARAMS, ParamMap } from './params-schema.ts';
import { PluginsConfig } from './plugins-schema.ts';
import { AuditConfig, StorageConfig } from './storage-schema.ts';
import { SyncConfig } from './sync-schema.ts';

// The one schema: defaults, validation and docs/configuration.md all come from here.

const Port = z.number().int().min(0).max(65535);

const IpAddress = z.string().refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address literal');

export const Cidr = z.string().refine((s) => {
  const [addr, prefix, ...rest] = s.split('/');
  if (rest.length > 0 || !addr) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  const n = Number(prefix);
  return /^\d+$/.test(prefix) && n >= 0 && n <= (family === 4 ? 32 : 128);
}, 'must be an address or a CIDR block, e.g. "192.168.1.0/24" or "fd00::/8"');

const FeedbackTarget = z
  .object({
    host: z
      .union([IpAddress, z.literal('localhost')])
      .describe('Address of the OSC app to send feedback to.'),
    port: z.number().int().min(1).max(65535).describe('UDP port the app listens on.'),
  })
  .strict();

const OscConfig = z
  .object({
    port: Port.default(8000).describe(
      'UDP port for OSC input (TouchOSC sends to 8000 by default); TCP (SLIP framed) uses the same number. 0 picks a free port.',
    ),
    bind: IpAddress.default('127.0.0.1').describe(
      'Address to listen on. Loopback by default; a LAN address or 0.0.0.0 also needs `osc.allow`.',
    ),
    tcp: z.boolean().default(true).describe('Also accept OSC 1.1 over TCP with SLIP framing.'),
    allow: z
      .array(Cidr)
      .max(256)
      .default([])
      .describe('Sources allowed to send OSC besides loopback (addresses or CIDR blocks).'),
    maxPacketBytes: z
      .number()
      .int()
      .min(64)
      .max(65507)
      .default(8192)
      .describe('Larger packets are dropped as `oversize`.'),
    maxBundleDepth: z
      .number()
      .int()
      .min(1)
      .max(32)
      .default(8)
      .describe('Deepest nesting of bundles accepted.'),
    maxScheduled: z
      .number()
      .int()
      .min(0)
      .max(100000)
      .default(1024)
      .describe('Bundles waiting for a future time tag, at most.'),
    maxScheduleAheadMs: z
      .number()
      .int()
      .min(0)
      .default(60000)
      .describe('A bundle time-tagged further ahead than this is rejected as `too-far-ahead`.'),
    rateLimit: z
      .object({
        packetsPerSecond: z
          .number()
          .positive()
          .default(5000)
          .describe('Sustained packets per second per source.'),
        burst: z
          .number()
          .int()
          .min(1)
          .default(2000)
          .describe('Packets a source may send at once above the rate.'),
      })
      .strict()
      .prefault({})
      .describe('Per-source token bucket: one flooding source cannot starve another.'),
    maxTcpConnections: z.number().int().min(1).max(1024).default(32).describe('Concurrent OSC TCP clients.'),
    feedback: z
      .object({
        targets: z
          .array(FeedbackTarget)
          .max(64)
          .default([])
          .describe('OSC apps that receive every changed value (e.g. TouchOSC on a tablet).'),
        subscribe: z
          .boolean()
          .default(true)
          .describe('Let allowed sources subscribe with the message `/hana/subscribe [port]`.'),
        maxSubscribers: z.number().int().min(0).max(256).default(16).describe('Subscriptions held at once.'),
        subscriptionTtlSeconds: z
          .number()
          .int()
          .min(1)
          .default(600)
          .describe('A subscription lapses unless renewed within this time.'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((osc, ctx) => {
    const loopback = osc.bind === '127.0.0.1' || osc.bind === '::1' || osc.bind.startsWith('127.');
    if (!loopback && osc.allow.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['allow'],
        message: `osc.bind is ${osc.bind}, which opens OSC to the network: list the sources that may send in osc.allow (e.g. ["192.168.1.0/24"])`,
      });
    }
  });

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
    midi: MidiConfig.prefault({}),
    peers: LinkConfig.prefault({}),
    storage: StorageConfig.prefault({}),
    audit: AuditConfig.prefault({}),
    sync: SyncConfig.prefault({}),
    output: OutputConfig.prefault({}),
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
export type OscConfig = Config['osc'];
