import type { AuditLog } from '../audit/audit-log.ts';
import type { ConsoleConfig } from '../config/console-schema.ts';
import type { Handlers } from '../control/server.ts';
import type { Logger } from '../log.ts';
import { loadOrCreateToken } from '../output/token-file.ts';
import { CHANNELS } from '../reasons.ts';
import type { Store } from '../state/store.ts';
import { createBridge, NO_STREAM } from './bridge.ts';
import { consolePluginHandlers } from './plugin-handlers.ts';
import { type ConsoleServer, startConsoleServer } from './server.ts';

// The operator console, composed: its token (kept in the home, so an open page reconnects after a
// restart), the control methods it may call (the daemon's own, with writes named `ui`), and its
// server.

export const CONSOLE_TOKEN_FILE = 'console-token';

export type ConsoleInit = {
  home: string;
  config: ConsoleConfig;
  /** The daemon's control handlers, with `set` and `scene.*` already writing as `ui`. */
  handlers: Handlers;
  store: Pick<Store, 'subscribe'>;
  audit?: AuditLog;
  rejectIntervalMs: number;
  log: Logger;
  security: Logger;
};

/** Where the output page is served (the one frame the console shows), if it is. */
function outputOrigin(handlers: Handlers): string | undefined {
  try {
    const r = handlers['output.url']?.({}, NO_STREAM) as { url: string } | undefined;
    return r ? new URL(r.url).origin : undefined;
  } catch {
    return undefined; // the output page is off
  }
}

/** Which refusal codes are security events, by channel: the page marks those. */
const SECURITY_CODES = Object.fromEntries(
  Object.entries(CHANNELS).map(([channel, spec]) => [
    channel,
    spec.reasons.filter((r) => r.security).map((r) => r.code),
  ]),
);

export async function startConsole(init: ConsoleInit): Promise<ConsoleServer> {
  const answer = createBridge({
    handlers: {
      ...init.handlers,
      ...consolePluginHandlers(init.home, init.handlers),
      'console.reasons': () => SECURITY_CODES,
    },
    ...(init.audit && { audit: init.audit }),
  });
  return startConsoleServer({
    bind: init.config.bind,
    port: init.config.port,
    maxClients: init.config.maxClients,
    token: await loadOrCreateToken(init.home, init.security, CONSOLE_TOKEN_FILE),
    store: init.store,
    answer,
    outputOrigin: () => outputOrigin(init.handlers),
    rejectIntervalMs: init.rejectIntervalMs,
    log: init.log,
    security: init.security,
  });
}
