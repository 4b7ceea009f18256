import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ComposedFrame } from '../../plugins/display-list.ts';
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
import { createFanout, type FanoutStats } from './fanout.ts';
import {
  allowedHosts,
  allowedOrigins,
  type Check,
  checkHost,
  checkOrigin,
  checkToken,
  newToken,
  pageUrl,
} from './guard.ts';
import { FULL, type Master, withMaster } from './master.ts';
import { type Mix, mixJson } from './mix.ts';
import { loadPageFiles, SECURITY_HEADERS } from './page-files.ts';

// The visual output page: plain HTTP on loopback serving three static files, and a WebSocket
// that streams composed frames as JSON text. Every request passes the Host check first; the page
// and the socket also need the token, and the socket a same-server Origin.

export type OutputServerInit = {
  bind: string;
  /** 0 picks a free port; a busy port falls back to a free one (with a warning). */
  port: number;
  /** Default: 128 random bits, new at every start. */
  token?: string;
  /** Refuse any bind but 127.0.0.0/8 and ::1 unless this is true (config `output.allowNonLoopback`). */
  allowNonLoopback?: boolean;
  /** Default 8. */
  maxClients?: number;
  log: Logger;
  /** `securityLogger(log)`: refusals are logged through it. */
  security: Logger;
  /** At most one log line per refusal reason and source in this interval (default 10 s). */
  rejectIntervalMs?: number;
  /** A page that does not answer a ping within this long is dropped (default 10 s). */
  heartbeatMs?: number;
  /**
   * A text message from a page (at most 1 KiB): a page reports its shader faults this way
   * (daemon/output/shader-faults.ts). It is untrusted input; without a handler it is ignored.
   */
  onPageMessage?: (text: string, remote: string) => void;
  /**
   * A connection that has not sent a whole request within this long is closed (default 5 s):
   * half-sent or silent connections otherwise each hold a file descriptor (measured: 3,000 of
   * them for 35 s and more, Node checking only every 30 s by default).
   */
  requestTimeoutMs?: number;
  /**
   * Origins allowed to frame the page (the operator console's preview); by default none may.
   * Asked at each load, since the console's port is known only once it listens.
   */
  embedders?: () => readonly string[];
};

export type OutputStats = FanoutStats & {
  clients: number;
  rejected: Record<string, number>;
  rejectedTotal: number;
};

export type OutputServer = {
  /** The page URL with its token. */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** Replaces the token: pages holding the old one are disconnected and cannot come back. */
  setToken(token: string): void;
  /**
   * Streams a frame to every connected page: a `ComposedFrame`, or one the runtime already
   * serialised (its `EncodedFrame`, whose `json` is sent as is).
   */
  publish(frame: ComposedFrame | { readonly json: string }): void;
  /**
   * The master opacity and blackout every page applies over all layers. A change is sent at once
   * with the last frame, so it shows even when no plugin is producing frames.
   */
  setMaster(master: Master): void;
  readonly master: Master;
  /**
   * Calls `fn` with the number of connected pages whenever it changes; returns the unsubscribe.
   * The plugin service pauses drawing-only plugins while nobody watches (engine.ts).
   */
  onClients(fn: (clients: number) => void): () => void;
  /** The layer mix (mix.ts) sent beside the master; sent at once when it changes. */
  setMix(mix: Mix): void;
  /**
   * The ISF shader table (`{"shaders":…}`, daemon/output/shaders.ts): sent to every page now and
   * to each page that connects later, before its first frame. Not a frame, so never dropped.
   */
  setShaders(json: string): void;
  stats(): OutputStats;
  close(): Promise<void>;
};

/** Clients send nothing meaningful; anything larger closes the socket (1009). */
const MAX_CLIENT_MESSAGE = 1024;
const WS_PATH = '/ws';
const ASSETS = new Set(['/renderer.js', '/isf.js', '/style.css']);

type Refusal = Extract<Check, { ok: false }>;

export async function startOutputServer(init: OutputServerInit): Promise<OutputServer> {
  if (!isLoopbackAddress(init.bind) && !init.allowNonLoopback) {
    throw new Error(
      `output.bind is ${init.bind}, which serves the output page to the network: use 127.0.0.1, or set output.allowNonLoopback to true`,
    );
  }
  const { log } = init;
  let token = init.token ?? newToken();
  const pages = new Set<WebSocket>();
  const maxClients = init.maxClients ?? 8;
  const heartbeatMs = init.heartbeatMs ?? 10_000;
  const files = await loadPageFiles();
  const fanout = createFanout();
  const clientListeners = new Set<(clients: number) => void>();
  const clientsChanged = () => {
    for (const fn of clientListeners) {
      try {
        fn(fanout.size);
      } catch (err) {
        log.error({ err, event: 'output.listener-failed' }, 'an output client listener failed');
      }
    }
  };
  let master = FULL;
  /** `"mix":…,` or '' before any mix is set (then frames are sent exactly as before). */
  let mixField = '';
  let shaders: string | undefined;
  let lastBody: string | undefined;
  const rejections = createRejections({
    log,
    security: init.security,
    intervalMs: init.rejectIntervalMs ?? 10_000,
    channel: 'output',
  });
  const heartbeat = startHeartbeat(heartbeatMs);
  // Filled once the port is known.
  let hosts = new Set<string>();
  let origins = new Set<string>();

  const refuse = (req: IncomingMessage, r: Refusal) => {
    rejections.reject(r.reason, req.socket.remoteAddress ?? 'unknown', r.message, {
      method: req.method,
      path: (req.url ?? '').split('?')[0]!.slice(0, 200),
    });
  };

  const reply = (res: ServerResponse, status: number, type: string, body: Buffer | string, head: boolean) => {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(head ? undefined : body);
  };

  const replyRefused = (req: IncomingMessage, res: ServerResponse, r: Refusal) => {
    refuse(req, r);
    const hint =
      r.reason === 'output-bad-token'
        ? 'Open the URL that `hana output` prints: it carries the token.\n'
        : `${r.reason}\n`;
    reply(res, r.status, 'text/plain; charset=utf-8', hint, req.method === 'HEAD');
  };

  const parseUrl = (req: IncomingMessage): URL | undefined => {
    try {
      return new URL(req.url ?? '/', 'http://output.invalid');
    } catch {
      return undefined;
    }
  };

  const requestTimeout = init.requestTimeoutMs ?? 5000;
  const server = createBoundedServer(requestTimeout);
  answerClientErrors(server, (kind, from, code) =>
    rejections.reject(
      kind === 'timeout' ? 'output-request-timeout' : 'output-bad-request',
      from,
      kind === 'timeout'
        ? `output page connection sent no whole request within ${requestTimeout} ms: closed`
        : `output page request that does not parse as HTTP (${code}): closed`,
    ),
  );

  server.on('request', (req, res) => {
    const host = checkHost(hosts, req.headers.host);
    if (!host.ok) return replyRefused(req, res, host);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return replyRefused(req, res, {
        ok: false,
        status: 405,
        reason: 'output-bad-method',
        message: `output page request with method ${String(req.method).slice(0, 16)}`,
      });
    }
    const head = req.method === 'HEAD';
    const url = parseUrl(req);
    if (!url) {
      return replyRefused(req, res, {
        ok: false,
        status: 400,
        reason: 'output-bad-request',
        message: 'output page request with an unparsable URL',
      });
    }
    if (url.pathname === '/') {
      const t = checkToken(token, url);
      if (!t.ok) return replyRefused(req, res, t);
      const f = files.get('index.html')!;
      const by = init.embedders?.() ?? [];
      // Only the console may frame the page: its CSP names it, and X-Frame-Options (which can
      // only say DENY or SAMEORIGIN) is left out so it does not veto that.
      if (by.length > 0) {
        const { 'X-Frame-Options': _, ...rest } = SECURITY_HEADERS;
        const csp = rest['Content-Security-Policy']!.replace(
          "frame-ancestors 'none'",
          `frame-ancestors ${by.join(' ')}`,
        );
        res.writeHead(200, {
          ...rest,
          'Content-Security-Policy': csp,
          'Content-Type': f.type,
          'Content-Length': f.body.length,
        });
        return res.end(head ? undefined : f.body);
      }
      return reply(res, 200, f.type, f.body, head);
    }
    // The script and stylesheet are the same for everyone and hold nothing secret; the page that
    // loads them and the socket that feeds them need the token.
    if (ASSETS.has(url.pathname)) {
      const f = files.get(url.pathname.slice(1))!;
      return reply(res, 200, f.type, f.body, head);
    }
    // Browsers ask for it on every load; answering keeps it out of the refusal counts.
    if (url.pathname === '/favicon.ico') return reply(res, 204, 'text/plain', '', true);
    if (url.pathname === WS_PATH) {
      res.setHeader('Upgrade', 'websocket');
      return reply(res, 426, 'text/plain; charset=utf-8', 'WebSocket only\n', head);
    }
    return replyRefused(req, res, {
      ok: false,
      status: 404,
      reason: 'output-not-found',
      message: 'output page request for an unknown path',
    });
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_CLIENT_MESSAGE,
    perMessageDeflate: false,
  });

  const refuseUpgrade = (req: IncomingMessage, socket: Duplex, r: Refusal) => {
    refuse(req, r);
    refuseUpgradeWith(socket, r.status, r.reason);
  };

  // A handshake ws itself finds malformed (no key, wrong version…) is refused and counted here too.
  wss.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) =>
    refuseUpgrade(req, socket, {
      ok: false,
      status: 400,
      reason: 'output-bad-request',
      message: `output WebSocket handshake refused: ${err.message}`,
    }),
  );

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = parseUrl(req);
    // In order, stopping at the first refusal: an unknown Host learns nothing else.
    const checks: Array<() => Check> = [
      () => checkHost(hosts, req.headers.host),
      () =>
        url?.pathname === WS_PATH
          ? { ok: true }
          : {
              ok: false,
              status: 404,
              reason: 'output-not-found',
              message: 'output WebSocket for an unknown path',
            },
      () => checkToken(token, url!),
      () => checkOrigin(origins, req.headers.origin),
      () =>
        fanout.size < maxClients
          ? { ok: true }
          : {
              ok: false,
              status: 503,
              reason: 'output-too-many-clients',
              message: `output WebSocket refused: ${maxClients} pages are already connected (output.maxClients)`,
            },
    ];
    for (const c of checks) {
      const r = c();
      if (!r.ok) return refuseUpgrade(req, socket, r);
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      pages.add(ws);
      heartbeat.add(ws);
      if (shaders !== undefined) ws.send(shaders);
      fanout.add(ws);
      const remote = req.socket.remoteAddress ?? 'unknown';
      ws.on('message', (data, isBinary) => {
        if (!isBinary && init.onPageMessage) init.onPageMessage(String(data), remote);
      });
      ws.on('error', () => ws.terminate());
      ws.once('close', () => {
        pages.delete(ws);
        heartbeat.delete(ws);
        fanout.remove(ws);
        log.info({ event: 'output.disconnected', clients: fanout.size }, 'output page disconnected');
        clientsChanged();
      });
      log.info({ event: 'output.connected', clients: fanout.size }, 'output page connected');
      clientsChanged();
    });
  });

  const port = await listenOrFallback(server, init.port, init.bind, (busy) =>
    log.warn(
      { event: 'output.port-busy', port: busy },
      `output port ${busy} is in use; serving the output page on a free port instead`,
    ),
  );
  hosts = allowedHosts(init.bind, port);
  origins = allowedOrigins(hosts);
  let url = pageUrl(init.bind, port, token);

  log.info(
    { event: 'output.ready', bind: init.bind, port },
    `output page on http://${init.bind.includes(':') ? `[${init.bind}]` : init.bind}:${port}/ (run \`hana output\` for the URL with its token)`,
  );

  return {
    get url() {
      return url;
    },
    port,
    get token() {
      return token;
    },
    setToken(t) {
      token = t;
      url = pageUrl(init.bind, port, token);
      // 4001: the page's token is no longer valid; it keeps retrying and is refused (403).
      for (const ws of pages) ws.close(4001, 'token rotated');
    },
    publish(frame) {
      lastBody = 'json' in frame ? frame.json : JSON.stringify(frame);
      fanout.publish(withMaster(lastBody, master, mixField));
    },
    setMaster(m) {
      if (m.opacity === master.opacity && m.blackout === master.blackout) return;
      master = { opacity: m.opacity, blackout: m.blackout };
      fanout.publish(withMaster(lastBody ?? '{}', master, mixField));
    },
    get master() {
      return master;
    },
    onClients(fn) {
      clientListeners.add(fn);
      return () => {
        clientListeners.delete(fn);
      };
    },
    setShaders(json) {
      shaders = json;
      for (const ws of pages) ws.send(json);
    },
    setMix(m) {
      const field = `"mix":${mixJson(m)},`;
      if (field === mixField) return;
      mixField = field;
      fanout.publish(withMaster(lastBody ?? '{}', master, mixField));
    },
    stats: () => ({
      clients: fanout.size,
      ...fanout.stats(),
      rejected: rejections.counts(),
      rejectedTotal: rejections.total(),
    }),
    async close() {
      heartbeat.stop();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
