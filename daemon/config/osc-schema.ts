import { isIP } from 'node:net';
import { z } from 'zod';

// OSC input: where it listens, who may send, and the limits that keep one sender from starving
// another. Work is counted in units: one unit per parameter a message sets (a pattern that
// matches 2,000 parameters costs 2,000), at least one per message, so a bundle costs the sum of
// its elements. The numbers below were measured (docs/osc.md, "Limits"): several local apps
// sending tens of thousands of messages a second together stay well inside them.

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

const RateLimit = z
  .object({
    unitsPerSecond: z
      .number()
      .positive()
      .default(25_000)
      .describe('Sustained work units per second per source (one unit per parameter a message sets).'),
    burst: z
      .number()
      .int()
      .min(1)
      .default(10_000)
      .describe(
        'Units a source may spend at once above its rate; a packet costing more is refused as `too-costly`.',
      ),
  })
  .strict()
  .prefault({})
  .describe(
    'Per-source token bucket in work units. A loopback source is its address and port (each local app its own bucket), any other source its address.',
  );

export const OscFairness = z
  .object({
    cpuShare: z
      .number()
      .gt(0)
      .max(1)
      .default(0.5)
      .describe(
        'Fraction of the time applying OSC work may take, across all sources together; above it, work waits in per-source queues served in turn, and the daemon reads its sockets.',
      ),
    burstMs: z
      .number()
      .positive()
      .max(1000)
      .default(50)
      .describe('Milliseconds of OSC work that may run back to back after a quiet spell, above `cpuShare`.'),
    quantum: z
      .number()
      .int()
      .min(1)
      .max(65_536)
      .default(256)
      .describe('Units each waiting source is given per round of the fair queue.'),
    unitsPerTurn: z
      .number()
      .int()
      .min(1)
      .default(4096)
      .describe(
        'Units applied before the daemon yields to other work (sockets, control socket, peers); at least one packet per turn.',
      ),
    turnMs: z
      .number()
      .positive()
      .max(100)
      .default(0.5)
      .describe(
        'Milliseconds of applying before the daemon yields, whichever of this and `unitsPerTurn` comes first: the OSC socket is read between turns.',
      ),
    maxQueuedUnits: z
      .number()
      .int()
      .min(1)
      .default(65_536)
      .describe(
        'Units waiting across all sources at most; beyond it the source with the most waiting loses its newest packet (`overload`).',
      ),
  })
  .strict()
  .prefault({})
  .describe('Aggregate budget and deficit-round-robin queueing across sources.');

export const OscConfig = z
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
    rateLimit: RateLimit,
    fairness: OscFairness,
    maxTcpConnections: z.number().int().min(1).max(1024).default(32).describe('Concurrent OSC TCP clients.'),
    maxTcpConnectionsPerSource: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(8)
      .describe(
        'Concurrent OSC TCP clients from one address; a further one from it replaces its least recently active connection.',
      ),
    tcpIdleSeconds: z
      .number()
      .int()
      .min(1)
      .default(900)
      .describe(
        'An OSC TCP connection that sends nothing for this long is closed (`tcp-idle`); must exceed `osc.feedback.subscriptionTtlSeconds` so a listening subscriber that renews stays.',
      ),
    tcpStallSeconds: z
      .number()
      .int()
      .min(1)
      .default(10)
      .describe(
        'A half-sent SLIP frame not finished within this long closes its connection (`tcp-stalled`).',
      ),
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
    if (osc.rateLimit.burst > osc.fairness.maxQueuedUnits) {
      ctx.addIssue({
        code: 'custom',
        path: ['rateLimit', 'burst'],
        message: `osc.rateLimit.burst (${osc.rateLimit.burst}) is more than osc.fairness.maxQueuedUnits (${osc.fairness.maxQueuedUnits}): a packet the bucket allows could never be queued; raise maxQueuedUnits or lower burst`,
      });
    }
    if (osc.tcpIdleSeconds <= osc.feedback.subscriptionTtlSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['tcpIdleSeconds'],
        message: `osc.tcpIdleSeconds (${osc.tcpIdleSeconds}) must exceed osc.feedback.subscriptionTtlSeconds (${osc.feedback.subscriptionTtlSeconds}), or a TCP client that only listens and renews its subscription in time is cut off`,
      });
    }
  });

export type OscConfig = z.infer<typeof OscConfig>;
