import type { OutputServer } from '../output/server.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// `hana output`: the page URL with its token. The control socket is the operator's own (0600 in
// the home), so this is where the token is handed out rather than in the logs.

export type OutputInfo = {
  url: string;
  port: number;
  clients: number;
  published: number;
  sent: number;
  dropped: number;
  rejectedTotal: number;
};

/** `server` is undefined when output.enabled is false. */
export function outputHandlers(server: OutputServer | undefined): Handlers {
  return {
    'output.url': (): OutputInfo => {
      if (!server) {
        throw controlError(
          'output-disabled',
          'the output page is off: set output.enabled to true in the config and restart the daemon',
        );
      }
      const s = server.stats();
      return {
        url: server.url,
        port: server.port,
        clients: s.clients,
        published: s.published,
        sent: s.sent,
        dropped: s.dropped,
        rejectedTotal: s.rejectedTotal,
      };
    },
  };
}
