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

/**
 * `server` is undefined when output.enabled is false. `newToken` makes and saves a new token
 * (undefined when the config fixes one: then the config is what to change).
 */
export function outputHandlers(server: OutputServer | undefined, newToken?: () => Promise<string>): Handlers {
  const info = (): OutputInfo => {
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
  };
  return {
    'output.url': info,
    'output.new-token': async (): Promise<OutputInfo> => {
      if (server && !newToken) {
        throw controlError(
          'output-token-fixed',
          'the token is fixed by output.token in the config: change it there and restart the daemon',
        );
      }
      if (server && newToken) server.setToken(await newToken());
      return info();
    },
  };
}
