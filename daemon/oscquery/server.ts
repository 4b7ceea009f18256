import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { OscQueryConfig } from '../config/oscquery-schema.ts';
import {
  answerClientErrors,
  createBoundedServer,
  listenOrFallback,
  refuseUpgradeWith,
  startHeartbeat,
} from '../http/serve.ts';
import type { IngestSource } from '../ingest/osc-ingest.ts';
import { sourceLabel } from '../ingest/osc-ingest.ts';
import { createRejections } from '../ingest/rejections.ts';
import type { SourceFilter } from '../ingest/source-filter.ts';
import { createBucket } from '../ingest/token-bucket.ts';
import type { Logger } from '../log.ts';
import { allowedHosts, allowedOrigins } from '../output/guard.ts';
import type { ReasonCode } from '../reasons.ts';
import type { Registry } from '../state/registry.ts';
import type { Store } from '../state/store.ts';
import { MAX_COMMAND_BYTES, parseCommand } from './commands.ts';
import { answer } from './http.ts';
import { createListeners, type Listener, type ListenerStats } from './listeners.ts';
import { createNamespace } from './namespace.ts';

// The OSCQuery server: the namespace over HTTP and, on the same port, a WebSocket that streams
// LISTENed values as binary OSC frames and takes binary OSC in, handed to the same ingest as UDP.
// It binds where OSC binds and admits what OSC admits, checked on every connection.

export type OscQueryServerInit = {
  config: OscQueryConfig;
  /** `osc.bind`. */
  bind: string;
  /** `osc.allow` with loopback: a connection from anyone else is closed at once. */
  filter: SourceFilter;
  registry: Registry;
  /** What `hana get` reads: changes to LISTENed paths stream from here. */
  store: Pick<Store, 'get' | 'subscribe'>;
  /** OSC ingest: binary messages go through it as UDP packets do. */
  ingest: { handle(bytes: Uint8Array, from: IngestSource): void };
  /** `osc.maxPacketBytes`: the largest binary message taken. */
  maxPacketBytes: number;
  /** For HOST_INFO. */
  name: string;
  oscPort: number;
  log: Logger;
  security: Logger;
  rejectIntervalMs: number;
  heartbeatMs?: number;
  requestTimeoutMs?: number;
};

export type OscQueryStats = ListenerStats & {
  port: number;
  bind: string;
  clients: number;
  requests: number;
  rejected: Record<string, number>;
  rejectedTotal: number;
};

export type OscQueryServer = { readonly port: number; stats(): OscQueryStats; close(): Promise<void> };

type Code = ReasonCode<'oscquery'>;

/** Host info's EXTENSIONS: exactly the optional parts of the spec hana serves. */
const EXTENSIONS = {
  ACCESS: true,
  VALUE: true,
  RANGE: true,
  DESCRIPTION: true,
  CLIPMODE: true,
  UNIT: true,
  LISTEN: true,
};

const JSON_TYPE = 'application/json';
const HEADERS = { 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };

export async function startOscQueryServer(init: OscQueryServerInit): Promise<OscQueryServer> {
  const { config, log, registry } = init;
  const rejections = createRejections({
    channel: 'oscquery',
    log,
    security: init.security,
    intervalMs: init.rejectIntervalMs,
  });
  const reject = (code: Code, from: string | undefined, message: string) =>
    rejections.reject(code, from ?? 'unknown', message);

  const namespace = createNamespace({
    registry,
    valueAt: (path) => init.store.get(path)?.value,
    description: `hana ${init.name}`,
  });
  const listeners = createListeners({ registry });
  const unsubscribe = init.store.subscribe((changes) => {
    for (const ch of changes) namespace.invalidate(ch.path);
    listeners.publish(changes);
  });

  let port = 0;
  let hostInfo = '';
  let requests = 0;
  const clients = new Set<WebSocket>();
  const heartbeat = startHeartbeat(init.heartbeatMs ?? 10_000);
  const requestTimeout = init.requestTimeoutMs ?? 5000;
  const server = createBoundedServer(requestTimeout);

  // Checked per connection, before a byte of the request is read: HTTP and WebSocket alike.
  server.on('connection', (socket: Socket) => {
    const from = socket.remoteAddress ?? 'unknown';
    if (init.filter.allows(from)) return;
    reject('oscquery-not-allowed', from, `OSCQuery connection from ${from}, which is not in osc.allow`);
    socket.destroy();
  });
  answerClientErrors(server, (kind, from, code) =>
    kind === 'timeout'
      ? reject(
          'oscquery-request-timeout',
          from,
          `OSCQuery connection sent no whole request within ${requestTimeout} ms: closed`,
        )
      : reject(
          'oscquery-bad-request',
          from,
          `OSCQuery request that does not parse as HTTP (${code}): closed`,
        ),
  );

  const send = (res: ServerResponse, status: number, body: string | Buffer, head: boolean) => {
    const type = status === 200 ? JSON_TYPE : 'text/plain; charset=utf-8';
    res.writeHead(status, { ...HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(head ? undefined : body);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    const from = req.socket.remoteAddress;
    // A page on evil.example whose DNS later answers 127.0.0.1 (DNS rebinding) could read every
    // value through the visitor's browser; it sends `Host: evil.example`, never one of ours.
    const host = req.headers.host?.toLowerCase();
    if (host === undefined || !hosts.has(host)) {
      reject(
        'oscquery-bad-host',
        from,
        `OSCQuery request with Host ${JSON.stringify(req.headers.host?.slice(0, 200) ?? null)}, not this server (DNS rebinding?)`,
      );
      return send(res, 421, 'oscquery-bad-host\n', false);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reject('oscquery-bad-method', from, `OSCQuery request with method ${String(req.method).slice(0, 16)}`);
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'GET or HEAD\n', false);
    }
    const head = req.method === 'HEAD';
    const r = answer(req.url ?? '/', namespace, () => hostInfo);
    if (r.status === 200) return send(res, 200, r.body, head);
    if (r.status === 204) {
      res.writeHead(204, HEADERS);
      return res.end();
    }
    reject(r.reason, from, r.message);
    return send(res, r.status, `${r.reason}\n`, head);
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: Math.max(init.maxPacketBytes, MAX_COMMAND_BYTES),
    perMessageDeflate: false,
  });
  wss.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) => {
    reject(
      'oscquery-bad-request',
      req.socket.remoteAddress,
      `OSCQuery WebSocket handshake refused: ${err.message}`,
    );
    refuseUpgradeWith(socket, 400, 'oscquery-bad-request');
  });

  let origins = new Set<string>();
  let hosts = new Set<string>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const from = req.socket.remoteAddress;
    // Apps send no Origin; a browser always does. A web page the performer happens to open
    // must not be able to set parameters through a socket on loopback.
    const origin = req.headers.origin;
    if (origin !== undefined && !origins.has(origin.toLowerCase())) {
      reject(
        'oscquery-bad-origin',
        from,
        `OSCQuery WebSocket from Origin ${JSON.stringify(origin.slice(0, 200))}`,
      );
      return refuseUpgradeWith(socket, 403, 'oscquery-bad-origin');
    }
    if (clients.size >= config.maxClients) {
      reject(
        'oscquery-too-many-clients',
        from,
        `OSCQuery WebSocket refused: ${config.maxClients} are connected already (oscquery.maxClients)`,
      );
      return refuseUpgradeWith(socket, 503, 'oscquery-too-many-clients');
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req));
  });

  function accept(ws: WebSocket, req: IncomingMessage): void {
    const remote = { address: req.socket.remoteAddress ?? 'unknown', port: req.socket.remotePort ?? 0 };
    const source: IngestSource = { transport: 'ws', ...remote };
    const listener: Listener = { sink: ws, origin: sourceLabel(source), paths: new Set() };
    // A client may LISTEN to all it is allowed at once (an app showing the whole namespace).
    const commands = createBucket({
      ratePerSecond: config.commandsPerSecond,
      burst: Math.max(config.maxListensPerClient, config.commandsPerSecond),
    });
    // Messages already read keep arriving after close() until the peer answers it.
    let closing = false;
    const shut = (code: number, reason: Code) => {
      closing = true;
      ws.close(code, reason);
    };
    clients.add(ws);
    heartbeat.add(ws);

    const command = (text: string) => {
      if (!commands.take(1)) {
        reject(
          'oscquery-flood',
          remote.address,
          `OSCQuery WebSocket over oscquery.commandsPerSecond: closed`,
        );
        return shut(1008, 'oscquery-flood');
      }
      const c = parseCommand(text);
      if (!c.ok) return reject('oscquery-bad-command', remote.address, `OSCQuery WebSocket: ${c.message}`);
      const { path } = c.value;
      if (c.value.command === 'IGNORE') return listeners.ignore(listener, path);
      if (!namespace.isMethod(path)) {
        return reject(
          'oscquery-not-found',
          remote.address,
          `OSCQuery LISTEN to ${path.slice(0, 256)}, not a parameter`,
        );
      }
      if (listener.paths.size >= config.maxListensPerClient && !listener.paths.has(path)) {
        return reject(
          'oscquery-too-many-listens',
          remote.address,
          `OSCQuery LISTEN beyond oscquery.maxListensPerClient (${config.maxListensPerClient}) on one WebSocket`,
        );
      }
      listeners.listen(listener, path);
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (closing) return;
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) return init.ingest.handle(bytes, source);
      if (bytes.length > MAX_COMMAND_BYTES) {
        reject(
          'oscquery-oversize',
          remote.address,
          `OSCQuery WebSocket text message of ${bytes.length} bytes: closed`,
        );
        return shut(1009, 'oscquery-oversize');
      }
      command(bytes.toString('utf8'));
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        reject(
          'oscquery-oversize',
          remote.address,
          `OSCQuery WebSocket message over ${wss.options.maxPayload} bytes: closed`,
        );
      }
      ws.terminate();
    });
    ws.once('close', () => {
      clients.delete(ws);
      heartbeat.delete(ws);
      listeners.drop(listener);
    });
  }

  port = await listenOrFallback(server, config.port, init.bind, (busy) =>
    log.warn(
      { event: 'oscquery.port-busy', port: busy },
      `OSCQuery port ${busy} is in use; serving OSCQuery on a free port instead`,
    ),
  );
  // Apps that found us over mDNS may connect by the name it announces (this host's, .local).
  const named = [hostname(), `${hostname()}.local`].map((n) => `${n}:${port}`.toLowerCase());
  hosts = new Set([...allowedHosts(init.bind, port), ...named]);
  origins = allowedOrigins(hosts);
  const wildcard = init.bind === '0.0.0.0' || init.bind === '::';
  hostInfo = JSON.stringify({
    NAME: init.name,
    EXTENSIONS,
    // Absent means "the address this answer came from", the only right answer for a wildcard bind.
    ...(!wildcard && { OSC_IP: init.bind, WS_IP: init.bind }),
    OSC_PORT: init.oscPort,
    OSC_TRANSPORT: 'UDP',
    WS_PORT: port,
  });
  log.info(
    { event: 'oscquery.ready', bind: init.bind, port, params: namespace.size },
    `OSCQuery on http://${init.bind.includes(':') ? `[${init.bind}]` : init.bind}:${port}/`,
  );

  return {
    port,
    stats: () => ({
      port,
      bind: init.bind,
      clients: clients.size,
      requests,
      ...listeners.stats(),
      rejected: rejections.counts(),
      rejectedTotal: rejections.total(),
    }),
    async close() {
      unsubscribe();
      heartbeat.stop();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
