import type { WebSocket } from 'ws';
import { isLoopbackAddress } from '../config/output-schema.ts';
import { type SiteRefusal, startGuardedSite } from '../http/guarded-site.ts';
import { startHeartbeat } from '../http/serve.ts';
import { createRejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import { pageUrl, tokenMatches } from '../output/guard.ts';
import { loadPageFiles, SECURITY_HEADERS } from '../output/page-files.ts';
import type { ReasonCode } from '../reasons.ts';
import type { Store } from '../state/store.ts';
import { MAX_CONSOLE_MESSAGE } from './messages.ts';
import { pushChanges } from './push.ts';

// The operator console: plain HTTP on loopback serving three static files, and a WebSocket over
// which the page calls control methods (bridge.ts) and receives every parameter change (push.ts).
// It stands on the output page's guard (daemon/http/guarded-site.ts: Host, token, same-server
// Origin) with the console's own token, counters and CSP, and takes the token from the URL only.

export type ConsoleServerInit = {
  bind: string;
  port: number;
  token: string;
  maxClients: number;
  store: Pick<Store, 'subscribe'>;
  /** Answers one page message (bridge.ts). */
  answer(text: string, reject: ConsoleReject): Promise<unknown>;
  /** The output page's origin, the one frame the console embeds (its preview). */
  outputOrigin?: () => string | undefined;
  log: Logger;
  security: Logger;
  rejectIntervalMs: number;
  heartbeatMs?: number;
  requestTimeoutMs?: number;
  /** How long changes are gathered before they are sent: one frame at 60 Hz. */
  coalesceMs?: number;
};

type Reason = ReasonCode<'console'>;
export type ConsoleReject = (reason: Reason, message: string) => void;
type Refusal = SiteRefusal<Reason>;

export type ConsoleStats = {
  port: number;
  bind: string;
  clients: number;
  messages: number;
  pushed: number;
  rejected: Partial<Record<Reason, number>>;
  rejectedTotal: number;
};

export type ConsoleServer = {
  readonly url: string;
  readonly port: number;
  /** Replaces the token (`hana ui --new-token`): open pages are cut off and cannot come back. */
  setToken(token: string): void;
  stats(): ConsoleStats;
  close(): Promise<void>;
};

const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * The token is read from the URL and nowhere else. A request that brings it only in a Referer
 * (what a page elsewhere that once held the console's address would send) is refused and named.
 */
function checkConsoleToken(token: string, url: URL, referer: string | undefined): Refusal | undefined {
  if (tokenMatches(token, url.searchParams.get('token'))) return undefined;
  let inReferer = false;
  try {
    inReferer = referer !== undefined && new URL(referer).searchParams.has('token');
  } catch {}
  if (inReferer)
    return {
      status: 403,
      reason: 'console-referer-token',
      message: 'console request with a token in its Referer only: tokens are taken from the URL',
    };
  return {
    status: 403,
    reason: 'console-bad-token',
    message: url.searchParams.has('token')
      ? 'console request with a wrong token'
      : 'console request without a token',
  };
}

function csp(frame: string | undefined): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "connect-src 'self'",
    "style-src 'self'",
    `frame-src ${frame ?? "'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export async function startConsoleServer(init: ConsoleServerInit): Promise<ConsoleServer> {
  if (!isLoopbackAddress(init.bind)) {
    throw new Error(
      `console.bind is ${init.bind}: the console is served on loopback only (127.0.0.1 or ::1); from another machine use an SSH tunnel`,
    );
  }
  const { log } = init;
  let token = init.token;
  const rejections = createRejections({
    log,
    security: init.security,
    intervalMs: init.rejectIntervalMs,
    channel: 'console',
  });
  const pages = new Set<WebSocket>();
  const heartbeat = startHeartbeat(init.heartbeatMs ?? 10_000);
  const push = pushChanges(init.store, pages, init.coalesceMs);
  let messages = 0;

  const onConnection = (ws: WebSocket, from: string) => {
    pages.add(ws);
    heartbeat.add(ws);
    const reject: ConsoleReject = (reason, message) => rejections.reject(reason, from, message);
    ws.on('message', (data, isBinary) => {
      messages++;
      if (isBinary) {
        reject('console-bad-message', 'console message that is binary, not JSON text');
        ws.send(
          JSON.stringify({ id: null, ok: false, error: { code: 'bad-message', message: 'send JSON text' } }),
        );
        return;
      }
      void init.answer(data.toString('utf8'), reject).then((a) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(a));
      });
    });
    // ws closes with 1009 itself when a message is over maxPayload; here it is counted.
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
        reject('console-oversize', `console message over ${MAX_CONSOLE_MESSAGE} bytes: closed (1009)`);
      else
        reject(
          'console-bad-message',
          `console WebSocket protocol error (${err.code ?? err.message}): closed`,
        );
      ws.terminate();
    });
    ws.once('close', () => {
      pages.delete(ws);
      heartbeat.delete(ws);
      log.info({ event: 'console.disconnected', clients: pages.size }, 'console page disconnected');
    });
    log.info({ event: 'console.connected', clients: pages.size }, 'console page connected');
  };

  const site = await startGuardedSite<Reason>({
    name: 'console',
    bind: init.bind,
    port: init.port,
    reasons: {
      host: 'console-bad-host',
      method: 'console-bad-method',
      request: 'console-bad-request',
      notFound: 'console-not-found',
      timeout: 'console-request-timeout',
      origin: 'console-bad-origin',
    },
    reject: (reason, from, message, fields) => rejections.reject(reason, from, message, fields),
    requestTimeoutMs: init.requestTimeoutMs ?? 5000,
    maxPayload: MAX_CONSOLE_MESSAGE,
    files: await loadPageFiles(new URL('./page/', import.meta.url), FILES),
    headers: () => ({ ...SECURITY_HEADERS, 'Content-Security-Policy': csp(init.outputOrigin?.()) }),
    hint: (r) =>
      r.reason === 'console-bad-token' || r.reason === 'console-referer-token'
        ? 'Open the URL that `hana ui` prints: it carries the token.\n'
        : `${r.reason}\n`,
    checkToken: (url, req) => checkConsoleToken(token, url, req.headers.referer),
    checkRoom: () =>
      pages.size < init.maxClients
        ? undefined
        : {
            status: 503,
            reason: 'console-too-many-clients',
            message: `console WebSocket refused: ${init.maxClients} pages are already connected (console.maxClients)`,
          },
    onConnection: (ws, req) => onConnection(ws, req.socket.remoteAddress ?? 'unknown'),
    onPortBusy: (busy) =>
      log.warn(
        { event: 'console.port-busy', port: busy },
        `console port ${busy} is in use; serving the console on a free port instead (set console.port)`,
      ),
  });
  const { port } = site;
  let url = pageUrl(init.bind, port, token);
  log.info(
    { event: 'console.ready', bind: init.bind, port },
    `console on http://${init.bind.includes(':') ? `[${init.bind}]` : init.bind}:${port}/ (run \`hana ui\` for the URL with its token)`,
  );

  return {
    get url() {
      return url;
    },
    port,
    setToken(t) {
      token = t;
      url = pageUrl(init.bind, port, token);
      // 4001: the page's token is no longer valid; the page says so instead of retrying.
      for (const ws of pages) ws.close(4001, 'token rotated');
      init.security.info(
        { event: 'console.token-rotated' },
        'the console token was replaced: open pages are cut off',
      );
    },
    stats: () => ({
      port,
      bind: init.bind,
      clients: pages.size,
      messages,
      pushed: push.pushed,
      rejected: rejections.counts(),
      rejectedTotal: rejections.total(),
    }),
    async close() {
      push.close();
      heartbeat.stop();
      await site.close();
    },
  };
}
