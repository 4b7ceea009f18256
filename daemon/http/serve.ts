import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

// What every HTTP server of the daemon does the same way (the output page, OSCQuery): bounded
// requests, malformed and reaped requests answered and counted, a busy port falling back to a
// free one with a log line, and dead WebSocket peers dropped by ping.

/**
 * A connection that has not sent a whole request within `requestTimeoutMs` is closed: half-sent
 * or silent connections otherwise each hold a file descriptor (measured: 3,000 of them for 35 s
 * and more, Node checking only every 30 s by default).
 */
export function createBoundedServer(requestTimeoutMs: number): Server {
  // How often Node looks for requests over their time: the reaping granularity.
  const checkMs = Math.max(50, Math.min(1000, requestTimeoutMs / 4));
  const server = createServer({
    maxHeaderSize: 8192,
    requestTimeout: requestTimeoutMs,
    headersTimeout: requestTimeoutMs,
    connectionsCheckingInterval: checkMs,
    keepAliveTimeout: 5000,
  });
  checkOnlyWhileConnected(server, checkMs);
  return server;
}

type NodeTimer = NodeJS.Timeout & { _onTimeout?: unknown };

/**
 * Node arms the request-timeout check for the server's whole life: three servers woke an idle
 * daemon three times a second with nothing to check (issue 18). Here Node's own check runs on
 * the same interval, but only while a connection is open. Node keeps it under a private symbol;
 * if a Node release moves it, Node's interval stays as it was (the reaping never stops).
 */
function checkOnlyWhileConnected(server: Server, everyMs: number): void {
  let check: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let open = 0;
  const stop = () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  // Registered after Node's own 'listening' handler (in the constructor), which arms its interval.
  server.on('listening', () => {
    const key = Object.getOwnPropertySymbols(server).find(
      (s) => s.description === 'http.server.connectionsCheckingInterval',
    );
    const nodeTimer = key && ((server as unknown as Record<symbol, unknown>)[key] as NodeTimer | undefined);
    if (typeof nodeTimer?._onTimeout !== 'function') return;
    check = nodeTimer._onTimeout as () => void;
    clearInterval(nodeTimer);
    if (open > 0 && timer === undefined) timer = setInterval(check, everyMs).unref();
  });
  server.on('connection', (socket: Duplex) => {
    open++;
    if (check && timer === undefined) timer = setInterval(check, everyMs).unref();
    socket.once('close', () => {
      if (--open === 0) stop();
    });
  });
  server.on('close', stop);
}

export type ClientErrorKind = 'timeout' | 'malformed';

/**
 * Replaces Node's default handler so reaped and malformed requests are answered (408 / 400),
 * closed, and reported once each to `report`.
 */
export function answerClientErrors(
  server: Server,
  report: (kind: ClientErrorKind, from: string, code: string) => void,
): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const from = (socket as Duplex & { remoteAddress?: string }).remoteAddress ?? 'unknown';
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (timedOut || err.code?.startsWith('HPE_')) {
      report(timedOut ? 'timeout' : 'malformed', from, err.code ?? 'unknown');
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
      }
    }
    socket.destroy();
  });
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ port, host }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Listens on `port`, or on a free port when it is taken (after `onBusy`); returns the port. */
export async function listenOrFallback(
  server: Server,
  port: number,
  host: string,
  onBusy: (port: number) => void,
): Promise<number> {
  try {
    await listen(server, port, host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw err;
    onBusy(port);
    await listen(server, 0, host);
  }
  return (server.address() as { port: number }).port;
}

/** Ends a WebSocket handshake with a plain HTTP refusal. */
export function refuseUpgradeWith(socket: Duplex, status: number, reason: string): void {
  const text = `${status} ${reason}`;
  socket.end(
    `HTTP/1.1 ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`,
  );
  socket.destroy();
}

export type Heartbeat = { add(ws: WebSocket): void; delete(ws: WebSocket): void; stop(): void };

/** A peer whose machine slept or lost its network holds a slot until it answers no ping. */
export function startHeartbeat(everyMs: number): Heartbeat {
  const alive = new Map<WebSocket, boolean>();
  // Armed only while a peer is connected: with none it would wake an idle daemon for nothing.
  let timer: NodeJS.Timeout | undefined;
  const beat = () => {
    for (const [ws, ok] of alive) {
      if (!ok) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  };
  const disarm = () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  return {
    add(ws) {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      timer ??= setInterval(beat, everyMs).unref();
    },
    delete(ws) {
      alive.delete(ws);
      if (alive.size === 0) disarm();
    },
    stop() {
      disarm();
      for (const ws of alive.keys()) ws.terminate();
      alive.clear();
    },
  };
}
