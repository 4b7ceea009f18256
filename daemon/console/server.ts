import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { isLoopbackAddress } from '../config/output-schema.ts';
import {
  answerClientErrors,
  createBoundedServer,
  listenOrFallback,
  refuseUpgradeWith,
  startHeartbeat,
} from '../http/serve.ts';
import { createRejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import {
  allowedHosts,
  allowedOrigins,
  type Check,
  checkHost,
  checkOrigin,
  checkToken,
  pageUrl,
} from '../output/guard.ts';
import { loadPageFiles, SECURITY_HEADERS } from '../output/page-files.ts';
import type { ReasonCode } from '../reasons.ts';
import type { Change, Store } from '../state/store.ts';
import { MAX_CONSOLE_MESSAGE } from './messages.ts';

// The operator console: plain HTTP on loopback serving three static files, and a WebSocket over
// which the page calls control methods (bridge.ts) and receives every parameter change. The
// output page's guard rules apply (Host, token from the URL only, same-server Origin), with the
// console's own token and counters.

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
type Refusal = { ok: false; status: number; reason: Reason; message: string };

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
  stats(): ConsoleStats;
  close(): Promise<void>;
};

const WS_PATH = '/ws';
const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};
const ASSETS = new Set(['/console.js', '/console.css']);
/** A page whose socket holds this much unsent is too far behind: it is dropped and reconnects. */
const HIGH_WATER = 4 << 20;

/** The output guard's refusals, named for the console (its own counters and docs rows). */
const RENAME: Partial<Record<ReasonCode<'output'>, Reason>> = {
  'output-bad-host': 'console-bad-host',
  'output-bad-origin': 'console-bad-origin',
  'output-bad-token': 'console-bad-token',
};

const asConsole = (c: Check): Refusal | undefined =>
  c.ok
    ? undefined
    : {
        ok: false,
        status: c.status,
        reason: RENAME[c.reason] ?? 'console-bad-request',
        message: c.message.replace('output page', 'console').replace('output WebSocket', 'console WebSocket'),
      };

/**
 * The token is read from the URL and nowhere else. A request that brings it only in a Referer
 * (what a page elsewhere that once held the console's address would send) is refused and named.
 */
function checkConsoleToken(token: string, url: URL, referer: string | undefined): Refusal | undefined {
  const refused = asConsole(checkToken(token, url));
  if (!refused) return undefined;
  let inReferer = false;
  try {
    inReferer = referer !== undefined && new URL(referer).searchParams.has('token');
  } catch {}
  return inReferer
    ? {
        ...refused,
        reason: 'console-referer-token',
        message: 'console request with a token in its Referer only: tokens are taken from the URL',
      }
    : refused;
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
  const { log, token } = init;
  const files = await loadPageFiles(new URL('./page/', import.meta.url), FILES);
  const rejections = createRejections({
    log,
    security: init.security,
    intervalMs: init.rejectIntervalMs,
    channel: 'console',
  });
  const pages = new Set<WebSocket>();
  const heartbeat = startHeartbeat(init.heartbeatMs ?? 10_000);
  let hosts = new Set<string>();
  let origins = new Set<string>();
  let messages = 0;
  let pushed = 0;

  const refuse = (req: IncomingMessage, r: Refusal) =>
    rejections.reject(r.reason, req.socket.remoteAddress ?? 'unknown', r.message, {
      method: req.method,
      path: (req.url ?? '').split('?')[0]!.slice(0, 200),
    });

  const reply = (res: ServerResponse, status: number, type: string, body: Buffer | string, head: boolean) => {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'Content-Security-Policy': csp(init.outputOrigin?.()),
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(head ? undefined : body);
  };

  const replyRefused = (req: IncomingMessage, res: ServerResponse, r: Refusal) => {
    refuse(req, r);
    const hint =
      r.reason === 'console-bad-token' || r.reason === 'console-referer-token'
        ? 'Open the URL that `hana ui` prints: it carries the token.\n'
        : `${r.reason}\n`;
    reply(res, r.status, 'text/plain; charset=utf-8', hint, req.method === 'HEAD');
  };

  const parseUrl = (req: IncomingMessage): URL | undefined => {
    try {
      return new URL(req.url ?? '/', 'http://console.invalid');
    } catch {
      return undefined;
    }
  };
  const badRequest: Refusal = {
    ok: false,
    status: 400,
    reason: 'console-bad-request',
    message: 'console request with an unparsable URL',
  };
  const notFound: Refusal = {
    ok: false,
    status: 404,
    reason: 'console-not-found',
    message: 'console request for an unknown path',
  };

  const requestTimeout = init.requestTimeoutMs ?? 5000;
  const server = createBoundedServer(requestTimeout);
  answerClientErrors(server, (kind, from, code) =>
    rejections.reject(
      kind === 'timeout' ? 'console-request-timeout' : 'console-bad-request',
      from,
      kind === 'timeout'
        ? `console connection sent no whole request within ${requestTimeout} ms: closed`
        : `console request that does not parse as HTTP (${code}): closed`,
    ),
  );

  server.on('request', (req, res) => {
    const host = asConsole(checkHost(hosts, req.headers.host));
    if (host) return replyRefused(req, res, host);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return replyRefused(req, res, {
        ok: false,
        status: 405,
        reason: 'console-bad-method',
        message: `console request with method ${String(req.method).slice(0, 16)}`,
      });
    }
    const head = req.method === 'HEAD';
    const url = parseUrl(req);
    if (!url) return replyRefused(req, res, badRequest);
    if (url.pathname === '/') {
      const t = checkConsoleToken(token, url, req.headers.referer);
      if (t) return replyRefused(req, res, t);
      const f = files.get('index.html')!;
      return reply(res, 200, f.type, f.body, head);
    }
    // The script and stylesheet hold nothing secret; the page and the socket need the token.
    if (ASSETS.has(url.pathname)) {
      const f = files.get(url.pathname.slice(1))!;
      return reply(res, 200, f.type, f.body, head);
    }
    if (url.pathname === '/favicon.ico') return reply(res, 204, 'text/plain', '', true);
    if (url.pathname === WS_PATH) {
      res.setHeader('Upgrade', 'websocket');
      return reply(res, 426, 'text/plain; charset=utf-8', 'WebSocket only\n', head);
    }
    return replyRefused(req, res, notFound);
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_CONSOLE_MESSAGE,
    perMessageDeflate: false,
  });
  const refuseUpgrade = (req: IncomingMessage, socket: Duplex, r: Refusal) => {
    refuse(req, r);
    refuseUpgradeWith(socket, r.status, r.reason);
  };
  wss.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) =>
    refuseUpgrade(req, socket, {
      ok: false,
      status: 400,
      reason: 'console-bad-request',
      message: `console WebSocket handshake refused: ${err.message}`,
    }),
  );

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = parseUrl(req);
    // In order, stopping at the first refusal: an unknown Host learns nothing else.
    const checks: Array<() => Refusal | undefined> = [
      () => asConsole(checkHost(hosts, req.headers.host)),
      () => (url ? undefined : badRequest),
      () => (url!.pathname === WS_PATH ? undefined : notFound),
      () => checkConsoleToken(token, url!, req.headers.referer),
      () => asConsole(checkOrigin(origins, req.headers.origin)),
      () =>
        pages.size < init.maxClients
          ? undefined
          : {
              ok: false,
              status: 503,
              reason: 'console-too-many-clients',
              message: `console WebSocket refused: ${init.maxClients} pages are already connected (console.maxClients)`,
            },
    ];
    for (const c of checks) {
      const r = c();
      if (r) return refuseUpgrade(req, socket, r);
    }
    const from = req.socket.remoteAddress ?? 'unknown';
    wss.handleUpgrade(req, socket, head, (ws) => {
      pages.add(ws);
      heartbeat.add(ws);
      const reject: ConsoleReject = (reason, message) => rejections.reject(reason, from, message);
      ws.on('message', (data, isBinary) => {
        messages++;
        if (isBinary) {
          reject('console-bad-message', 'console message that is binary, not JSON text');
          ws.send(
            JSON.stringify({
              id: null,
              ok: false,
              error: { code: 'bad-message', message: 'send JSON text' },
            }),
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
    });
  });

  // Changes are gathered per path (the last value wins) and sent at most once a frame, so a
  // fader written 1,000 times a second costs each page 60 small messages, never a backlog. A
  // change after a quiet frame leaves at the end of its event-loop turn, not a frame later.
  const coalesceMs = init.coalesceMs ?? 16;
  const pending = new Map<string, { path: string; value: unknown; source: string }>();
  let timer: NodeJS.Timeout | undefined;
  let lastFlush = -Infinity;
  const flush = () => {
    timer = undefined;
    lastFlush = performance.now();
    if (pending.size === 0) return;
    const text = JSON.stringify({ type: 'changes', changes: [...pending.values()] });
    pending.clear();
    for (const ws of pages) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount > HIGH_WATER) {
        ws.terminate(); // it reconnects and reads every value afresh
        continue;
      }
      ws.send(text);
      pushed++;
    }
  };
  const unsubscribe = init.store.subscribe((changes: readonly Change[]) => {
    if (pages.size === 0) return;
    for (const c of changes) pending.set(c.path, { path: c.path, value: c.value, source: c.source });
    timer ??= setTimeout(flush, Math.max(0, lastFlush + coalesceMs - performance.now()));
  });

  const port = await listenOrFallback(server, init.port, init.bind, (busy) =>
    log.warn(
      { event: 'console.port-busy', port: busy },
      `console port ${busy} is in use; serving the console on a free port instead (set console.port)`,
    ),
  );
  hosts = allowedHosts(init.bind, port);
  origins = allowedOrigins(hosts);
  const url = pageUrl(init.bind, port, token);
  log.info(
    { event: 'console.ready', bind: init.bind, port },
    `console on http://${init.bind.includes(':') ? `[${init.bind}]` : init.bind}:${port}/ (run \`hana ui\` for the URL with its token)`,
  );

  return {
    url,
    port,
    stats: () => ({
      port,
      bind: init.bind,
      clients: pages.size,
      messages,
      pushed,
      rejected: rejections.counts(),
      rejectedTotal: rejections.total(),
    }),
    async close() {
      unsubscribe();
      if (timer) clearTimeout(timer);
      heartbeat.stop();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
