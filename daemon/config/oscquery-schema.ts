import { z } from 'zod';

// The OSCQuery server (daemon/oscquery/): other apps read hana's parameters over HTTP and listen
// to them over a WebSocket. It binds where OSC does (`osc.bind`) and admits what OSC admits
// (`osc.allow`), so opening one opens both.

export const OscQueryConfig = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe('Serve the parameters as an OSCQuery namespace (HTTP and WebSocket) and advertise it.'),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(8001)
      .describe(
        'TCP port of the OSCQuery server; 0 picks a free port. A busy port falls back to a free one.',
      ),
    advertise: z
      .boolean()
      .default(true)
      .describe('Advertise the server over mDNS as `_oscjson._tcp` and the OSC port as `_osc._udp`.'),
    maxClients: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(64)
      .describe('WebSockets connected at once; more are refused (503).'),
    maxListensPerClient: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(16_384)
      .describe('Paths one WebSocket may LISTEN to; a LISTEN beyond it is refused.'),
    commandsPerSecond: z
      .number()
      .positive()
      .default(2000)
      .describe(
        'LISTEN/IGNORE commands per second per WebSocket, after a burst of `maxListensPerClient` (or this rate, if more); a socket over it is closed. OSC packets sent over it count against `osc.rateLimit` instead.',
      ),
  })
  .strict();

export type OscQueryConfig = z.infer<typeof OscQueryConfig>;
