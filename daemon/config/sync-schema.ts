import { z } from 'zod';
import { DEFAULT_MAX_DRIFT_MS } from '../state/hlc.ts';
import { compilePattern } from '../state/pattern.ts';

// Replication between linked daemons. Defaults suit a stage LAN; the bounds keep a typo from
// turning anti-entropy into a flood or a window into unbounded memory.

const Pattern = z
  .string()
  .max(256)
  .superRefine((p, ctx) => {
    const r = compilePattern(p);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: `not an OSC address pattern: ${r.reason}` });
  });

export const SyncConfig = z
  .object({
    antiEntropyMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(1000)
      .describe('How often each link compares state digests and fetches what differs.'),
    window: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(4)
      .describe(
        'Unacknowledged update flushes allowed per link before a round trip is measured, and the least ever after (a flush is what changed in one event-loop turn, one or more datagrams). Once acks come back the window grows to what the writer sends in two round trips, up to `sync.maxWindow`. While the window is full, changes queue and leave together with the next ack.',
      ),
    maxWindow: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(32)
      .describe(
        'The most unacknowledged update flushes the adaptive window may grow to per link (never below `sync.window`). Larger smooths a fast fader over a slow round trip; each flush in flight costs one signed datagram.',
      ),
    maxQueued: z
      .number()
      .int()
      .min(16)
      .max(65_536)
      .default(4096)
      .describe(
        "Changed values queued per link while its window is full. Past this (the peer stopped acknowledging or cannot keep up) the queue collapses to each path's latest value, which still arrives: intermediate steps are dropped, memory stays bounded.",
      ),
    ackDelayMs: z
      .number()
      .min(0)
      .max(50)
      .default(0)
      .describe(
        'How long a receiver may wait to acknowledge, so one ack covers several datagrams. 0 (the default): acknowledge at the end of the event-loop turn the updates arrived in, waiting on no timer.',
      ),
    clockPingMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(1000)
      .describe(
        'How often each link measures the clock offset to the peer once its error bound is within 0.25 ms (every 200 ms before that, and 8 quick samples at link-up).',
      ),
    maxDriftMs: z
      .number()
      .int()
      .min(200)
      .max(60_000)
      .default(DEFAULT_MAX_DRIFT_MS)
      .describe(
        "A peer's write stamped further ahead of this laptop's clock than this is refused (`sync-future-stamp`) and never moves the local clock. `hana peers` warns when a peer's clock offset passes 75 % of it. The clock's restart lease (`clock.mark` in the home) is a quarter of it, at most 1 s.",
      ),
    scopes: z
      .record(z.string().min(1).max(128), z.array(Pattern).max(64))
      .default({})
      .describe(
        'Per-peer write scopes: device ID (or its first group, e.g. "ABCDEFG") → OSC address patterns the peer may write, e.g. `{"ABCDEFG": ["/layer/2/*"]}`. A peer not listed may write every path its role allows.',
      ),
    maxBatchesPerSecond: z
      .number()
      .int()
      .min(100)
      .max(100_000)
      .default(5000)
      .describe(
        'Signed batches each trusted peer may send per second (burst: twice that). Each costs a signature check (about 0.08 ms), so this bounds what one laptop, faulty or hostile, can cost this one; a batch over it is dropped and counted as `sync-rate-limited`, and anti-entropy repairs what it carried.',
      ),
    onEquivocation: z
      .enum(['drop', 'block'])
      .default('drop')
      .describe(
        'What to do with a peer caught signing two different values under one stamp (equivocation): `drop` ends its link (it may link again and is caught again); `block` also blocks its pin, as `hana trust block` would.',
      ),
    maxUnknownPaths: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .default(1024)
      .describe(
        'Entries for paths this daemon does not declare are kept (not applied), reported, and passed on to peers that do declare them; this bounds how many.',
      ),
  })
  .strict();

export type SyncConfig = z.infer<typeof SyncConfig>;
