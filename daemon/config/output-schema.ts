import { isIP } from 'node:net';
import { z } from 'zod';

// The visual output page: where it listens and how big the logical drawing area is.

/** 127.0.0.0/8 or ::1: the only binds that need no explicit opt-in. */
export function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.split('.')[0] === '127';
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

export const OutputConfig = z
  .object({
    enabled: z.boolean().default(true).describe('Serve the visual output page.'),
    bind: z
      .string()
      .refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address literal')
      .default('127.0.0.1')
      .describe(
        'Address of the output page. Loopback by default; any other address also needs `output.allowNonLoopback`.',
      ),
    allowNonLoopback: z
      .boolean()
      .default(false)
      .describe(
        'Allow a LAN `bind`: the page is then plain HTTP on the network, guarded only by its token. Prefer a second screen on the machine running the daemon.',
      ),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(7410)
      .describe('TCP port of the output page; 0 picks a free port. A busy port falls back to a free one.'),
    token: z
      .string()
      .regex(
        /^[A-Za-z0-9_-]{22,128}$/,
        'a token is 22 to 128 characters of A-Z a-z 0-9 _ - (22 base64url characters are 128 bits)',
      )
      .optional()
      .describe(
        'Fixed token for the page URL (default: a random 128-bit token kept in `output-token` in the home, 0600, the same at every start; `hana output --new-token` replaces it).',
      ),
    maxClients: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(8)
      .describe('Output pages connected at once; more are refused.'),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (!isLoopbackAddress(o.bind) && !o.allowNonLoopback) {
      ctx.addIssue({
        code: 'custom',
        path: ['bind'],
        message: `output.bind is ${o.bind}, which serves the output page to the network: set output.allowNonLoopback to true if you mean it`,
      });
    }
  });

export type OutputConfig = z.infer<typeof OutputConfig>;
