import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { allowedHosts, allowedOrigins } from '../output/guard.ts';
import type { PageFile } from '../output/page-files.ts';
import { answerClientErrors, createBoundedServer, listenOrFallback, refuseUpgradeWith } from './serve.ts';

// A page on a port of its own with a WebSocket beside it, behind one guard (the output page and
// the operator console both stand on it). In order, stopping at the first refusal, so an unknown
// Host learns nothing else:
//
// - Host: only names of this server. A page on evil.example whose DNS later answers 127.0.0.1
//   (DNS rebinding) sends `Host: evil.example:7410` and is refused before anything is served.
// - GET and HEAD only; the page and its socket need the site's token, its scripts and styles
//   (the same for everyone, nothing secret) do not.
// - Origin: a WebSocket is not bound by the same-origin policy, so the handshake must come from a
//   page this server served.
//
// Every refusal is answered (a status and a line a person can read) and reported once to the
// site under its own reason codes.

export type SiteRefusal<R extends string> = { status: number; reason: R; message: string };

export type GuardedSiteInit<R extends string> = {
  /** How messages name the site: "output page", "console". */
  name: string;
  bind: string;
  /** 0 picks a free port; a busy port falls back to a free one (after `onPortBusy`). */
  port: number;
  reasons: { host: R; method: R; request: R; notFound: R; timeout: R; origin: R };
  reject(reason: R, from: string, message: string, fields?: Record<string, unknown>): void;
  requestTimeoutMs: number;
  /** The largest WebSocket message a page may send; larger closes the socket (1009). */
  maxPayload: number;
  /** `index.html` (served at `/`) and the assets, by file name. */
  files: ReadonlyMap<string, PageFile>;
  /** Response headers; `page` is true for the page itself, which may be framed where nothing else is. */
  headers(page: boolean): Readonly<Record<string, string>>;
  /** The text of a refusal, for a person reading it in the browser. */
  hint(r: SiteRefusal<R>): string;
  /** The page's and the socket's token: undefined when it holds, or why not. */
  checkToken(url: URL, req: IncomingMessage): SiteRefusal<R> | undefined;
  /** Whether another page may connect now (after every other check). */
  checkRoom(): SiteRefusal<R> | undefined;
  onConnection(ws: WebSocket, req: IncomingMessage): void;
  onPortBusy(port: number): void;
};

export type GuardedSite = { readonly port: number; close(): Promise<void> };

const WS_PATH = '/ws';
const TEXT = 'text/plain; charset=utf-8';

export async function startGuardedSite<R extends string>(init: GuardedSiteInit<R>): Promise<GuardedSite> {
  const { name, reasons } = init;
  // Filled once the port is known.
  let hosts = new Set<string>();
  let origins = new Set<string>();
  const assets = new Set([...init.files.keys()].filter((f) => f !== 'index.html').map((f) => `/${f}`));

  const refuse = (req: IncomingMessage, r: SiteRefusal<R>) =>
    init.reject(r.reason, req.socket.remoteAddress ?? 'unknown', r.message, {
      method: req.method,
      path: (req.url ?? '').split('?')[0]!.slice(0, 200),
    });

  const reply = (
    res: ServerResponse,
    page: boolean,
    status: number,
    type: string,
    body: Buffer | string,
    head: boolean,
  ) => {
    res.writeHead(status, {
      ...init.headers(page),
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(head ? undefined : body);
  };

  const replyRefused = (req: IncomingMessage, res: ServerResponse, r: SiteRefusal<R>) => {
    refuse(req, r);
    reply(res, false, r.status, TEXT, init.hint(r), req.method === 'HEAD');
  };

  const parseUrl = (req: IncomingMessage): URL | undefined => {
    try {
      return new URL(req.url ?? '/', 'http://site.invalid');
    } catch {
      return undefined;
    }
  };

  const checkHost = (host: string | undefined): SiteRefusal<R> | undefined =>
    host !== undefined && hosts.has(host.toLowerCase())
      ? undefined
      : {
          status: 421,
          reason: reasons.host,
          message: `${name} request with Host ${JSON.stringify(host ?? null)}, not this server (DNS rebinding?)`,
        };
  const badUrl: SiteRefusal<R> = {
    status: 400,
    reason: reasons.request,
    message: `${name} request with an unparsable URL`,
  };
  const notFound: SiteRefusal<R> = {
    status: 404,
    reason: reasons.notFound,
    message: `${name} request for an unknown path`,
  };

  const server = createBoundedServer(init.requestTimeoutMs);
  answerClientErrors(server, (kind, from, code) =>
    init.reject(
      kind === 'timeout' ? reasons.timeout : reasons.request,
      from,
      kind === 'timeout'
        ? `${name} connection sent no whole request within ${init.requestTimeoutMs} ms: closed`
        : `${name} request that does not parse as HTTP (${code}): closed`,
    ),
  );

  server.on('request', (req, res) => {
    const host = checkHost(req.headers.host);
    if (host) return replyRefused(req, res, host);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return replyRefused(req, res, {
        status: 405,
        reason: reasons.method,
        message: `${name} request with method ${String(req.method).slice(0, 16)}`,
      });
    }
    const head = req.method === 'HEAD';
    const url = parseUrl(req);
    if (!url) return replyRefused(req, res, badUrl);
    if (url.pathname === '/') {
      const t = init.checkToken(url, req);
      if (t) return replyRefused(req, res, t);
      const f = init.files.get('index.html')!;
      return reply(res, true, 200, f.type, f.body, head);
    }
    if (assets.has(url.pathname)) {
      const f = init.files.get(url.pathname.slice(1))!;
      return reply(res, false, 200, f.type, f.body, head);
    }
    // Browsers ask for it on every load; answering keeps it out of the refusal counts.
    if (url.pathname === '/favicon.ico') return reply(res, false, 204, 'text/plain', '', true);
    if (url.pathname === WS_PATH) {
      res.setHeader('Upgrade', 'websocket');
      return reply(res, false, 426, TEXT, 'WebSocket only\n', head);
    }
    return replyRefused(req, res, notFound);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: init.maxPayload, perMessageDeflate: false });
  const refuseUpgrade = (req: IncomingMessage, socket: Duplex, r: SiteRefusal<R>) => {
    refuse(req, r);
    refuseUpgradeWith(socket, r.status, r.reason);
  };
  // A handshake ws itself finds malformed (no key, wrong version…) is refused and counted too.
  wss.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) =>
    refuseUpgrade(req, socket, {
      status: 400,
      reason: reasons.request,
      message: `${name} WebSocket handshake refused: ${err.message}`,
    }),
  );

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = parseUrl(req);
    const checks: Array<() => SiteRefusal<R> | undefined> = [
      () => checkHost(req.headers.host),
      () => (url ? undefined : badUrl),
      () => (url!.pathname === WS_PATH ? undefined : notFound),
      () => init.checkToken(url!, req),
      () => {
        const origin = req.headers.origin;
        return origin !== undefined && origins.has(origin.toLowerCase())
          ? undefined
          : {
              status: 403,
              reason: reasons.origin,
              message: `${name} WebSocket from Origin ${JSON.stringify(origin ?? null)}, not a page of this server`,
            };
      },
      () => init.checkRoom(),
    ];
    for (const c of checks) {
      const r = c();
      if (r) return refuseUpgrade(req, socket, r);
    }
    wss.handleUpgrade(req, socket, head, (ws) => init.onConnection(ws, req));
  });

  const port = await listenOrFallback(server, init.port, init.bind, init.onPortBusy);
  hosts = allowedHosts(init.bind, port);
  origins = allowedOrigins(hosts);

  return {
    port,
    async close() {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
