import { z } from 'zod';

// Ableton Link: whether this daemon joins the LAN's Link session, and the limits on what Link
// peers may send (Link is plaintext and unauthenticated; docs/security.md).

const Ipv4 = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}$/, 'an IPv4 address of this machine, e.g. "192.168.1.20"');

export const AbletonLinkConfig = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Join the Ableton Link session on the LAN: /tempo, beat and phase follow it, and a tempo set in hana is proposed to it (`--ableton-link` on `hana start` turns it on).',
      ),
    quantum: z
      .number()
      .min(1)
      .max(64)
      .default(4)
      .describe('Beats per phase cycle (4: a 4/4 bar): hana keeps the Link session’s phase within it.'),
    interfaces: z
      .array(Ipv4)
      .max(16)
      .optional()
      .describe('IPv4 addresses of the interfaces to use (default: every non-loopback IPv4 interface).'),
    datagramsPerSecond: z
      .number()
      .int()
      .min(10)
      .max(100000)
      .default(400)
      .describe('Link datagrams each source address may send per second; more are refused as `flood`.'),
    burst: z
      .number()
      .int()
      .min(60)
      .max(100000)
      .default(300)
      .describe('Link datagrams a source may send at once (a peer measuring us sends ~50 in a burst).'),
    maxPeers: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(64)
      .describe('Link peers kept at most; announcements from more are refused as `too-many-peers`.'),
  })
  .strict();

export type AbletonLinkConfig = z.infer<typeof AbletonLinkConfig>;
