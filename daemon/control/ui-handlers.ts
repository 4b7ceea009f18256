import type { ConsoleServer } from '../console/server.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// `hana ui`: the console URL with its token. Handed out on the control socket (0600, the
// operator's own) rather than in the logs, as `hana output` does for the output page.

/** `newToken` makes and saves a new console token (console-token in the home) and returns it. */
export function uiHandlers(
  server: () => ConsoleServer | undefined,
  newToken: () => Promise<string>,
): Handlers {
  const running = (): ConsoleServer => {
    const s = server();
    if (!s)
      throw controlError(
        'console-disabled',
        'the console is off: set console.enabled to true in the config and restart the daemon',
      );
    return s;
  };
  return {
    'ui.url': () => {
      const s = running();
      return { url: s.url, port: s.port };
    },
    // A token seen by someone else (a screenshot, a shared screen) is revoked here.
    'ui.new-token': async () => {
      const s = running();
      s.setToken(await newToken());
      return { url: s.url, port: s.port };
    },
  };
}
