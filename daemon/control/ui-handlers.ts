import type { ConsoleServer } from '../console/server.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// `hana ui`: the console URL with its token. Handed out on the control socket (0600, the
// operator's own) rather than in the logs, as `hana output` does for the output page.

export function uiHandlers(server: () => ConsoleServer | undefined): Handlers {
  return {
    'ui.url': () => {
      const s = server();
      if (!s)
        throw controlError(
          'console-disabled',
          'the console is off: set console.enabled to true in the config and restart the daemon',
        );
      return { url: s.url, port: s.port };
    },
  };
}
