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
  return createServer({
    maxHeaderSize: 8192,
    requestTimeout: requestTimeoutMs,
    headersTimeout: requestTimeoutMs,
    // How often Node looks for requests over their time: the reaping granularity.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, requestTimeoutMs / 4)),
    keepAliveTimeout: 5000,
  });
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
  const timer = setInterval(() => {
    for (const [ws, ok] of alive) {
      if (!ok) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, everyMs);
  timer.unref();
  return {
    add(ws) {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
    },
    delete: (ws) => alive.delete(ws),
    stop() {
      clearInterval(timer);
      for (const ws of alive.keys()) ws.terminate();
      alive.clear();
    },
  };
}
