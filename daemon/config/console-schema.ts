import { z } from 'zod';
import { isLoopbackAddress } from './output-schema.ts';

// The operator console (daemon/console/): a web page that runs the show. It can write every
// parameter, trust peers and remove plugins, so it stays on loopback: there is no option to open
// it to the LAN (docs/security.md, "The operator console").

export const ConsoleConfig = z
  .object({
    enabled: z.boolean().default(true).describe('Serve the operator console (`hana ui` prints its URL).'),
    bind: z
      .string()
      .default('127.0.0.1')
      .describe(
        'Address of the console: 127.0.0.0/8 or ::1 only. Another machine reaches it through an SSH tunnel (`ssh -L 7411:127.0.0.1:7411 host`).',
      ),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(7411)
      .describe(
        'TCP port of the console; 0 picks a free port. A busy port falls back to a free one (an open page then cannot find the daemon after a restart).',
      ),
    maxClients: z
      .number()
      .int()
      .min(1)
      .max(32)
      .default(4)
      .describe('Console pages connected at once; more are refused.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!isLoopbackAddress(c.bind)) {
      ctx.addIssue({
        code: 'custom',
        path: ['bind'],
        message: `console.bind is ${c.bind}: the console writes parameters and trusts peers, so it is served on loopback only (127.0.0.1 or ::1); from another machine use an SSH tunnel (docs/console.md)`,
      });
    }
  });

export type ConsoleConfig = z.infer<typeof ConsoleConfig>;
