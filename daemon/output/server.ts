import type { WebSocket } from 'ws';
import type { ComposedFrame } from '../../plugins/display-list.ts';
import { isLoopbackAddress } from '../config/output-schema.ts';
import { startGuardedSite } from '../http/guarded-site.ts';
import { startHeartbeat } from '../http/serve.ts';
import { createRejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import type { ReasonCode } from '../reasons.ts';
import { createFanout, type FanoutStats } from './fanout.ts';
import { checkToken, newToken, pageUrl } from './guard.ts';
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

  const site = await startGuardedSite<ReasonCode<'output'>>({
    name: 'output page',
    bind: init.bind,
    port: init.port,
    reasons: {
      host: 'output-bad-host',
      method: 'output-bad-method',
      request: 'output-bad-request',
      notFound: 'output-not-found',
      timeout: 'output-request-timeout',
      origin: 'output-bad-origin',
    },
    reject: (reason, from, message, fields) => rejections.reject(reason, from, message, fields),
    requestTimeoutMs: init.requestTimeoutMs ?? 5000,
    maxPayload: MAX_CLIENT_MESSAGE,
    files,
    headers: (page) => {
      const by = page ? (init.embedders?.() ?? []) : [];
      if (by.length === 0) return SECURITY_HEADERS;
      // Only the console may frame the page: its CSP names it, and X-Frame-Options (which can
      // only say DENY or SAMEORIGIN) is left out so it does not veto that.
      const { 'X-Frame-Options': _, ...rest } = SECURITY_HEADERS;
      return {
        ...rest,
        'Content-Security-Policy': rest['Content-Security-Policy']!.replace(
          "frame-ancestors 'none'",
          `frame-ancestors ${by.join(' ')}`,
        ),
      };
    },
    hint: (r) =>
      r.reason === 'output-bad-token'
        ? 'Open the URL that `hana output` prints: it carries the token.\n'
        : `${r.reason}\n`,
    checkToken: (url) => {
      const t = checkToken(token, url);
      return t.ok ? undefined : t;
    },
    checkRoom: () =>
      fanout.size < maxClients
        ? undefined
        : {
            status: 503,
            reason: 'output-too-many-clients',
            message: `output WebSocket refused: ${maxClients} pages are already connected (output.maxClients)`,
          },
    onConnection: (ws, req) => {
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
    },
    onPortBusy: (busy) =>
      log.warn(
        { event: 'output.port-busy', port: busy },
        `output port ${busy} is in use; serving the output page on a free port instead`,
      ),
  });
  const { port } = site;
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
      await site.close();
    },
  };
}
