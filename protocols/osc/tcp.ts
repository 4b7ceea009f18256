import { createServer, type Server, type Socket } from 'node:net';
import { createSlipDecoder, type SlipErrorCode, slipEncode } from './slip.ts';
import type { Remote } from './udp.ts';

// OSC 1.1 over TCP: SLIP-framed packets on a stream. Each connection gets a bounded frame
// buffer and a bounded write queue; a client that stops reading loses feedback, not our memory.

const MAX_QUEUED_WRITE_BYTES = 1024 * 1024;

export type TcpConnection = Remote & {
  readonly id: number;
  /** Sends one packet, SLIP-framed; false if dropped because the client is not reading. */
  send(packet: Uint8Array): boolean;
};

export type OscTcpRejectCode = SlipErrorCode | 'too-many-connections' | 'http-request';

// A web page can make a browser POST to 127.0.0.1:8000 with SLIP-framed OSC in the body, and
// the SLIP decoder would skip the request line and apply the frames: a cross-protocol write
// from any site the operator visits. An OSC stream starts with END (0xC0), '/' or '#', never
// with an HTTP method, so such a connection is closed before a byte of it is decoded.
const HTTP_METHOD = /^(?:GET|POST|PUT|HEAD|OPTIONS|DELETE|PATCH|CONNECT|TRACE) /;

/** The first bytes of a connection are an HTTP request line (enough bytes to tell: 8). */
export function looksLikeHttp(first: Uint8Array): boolean {
  return HTTP_METHOD.test(Buffer.from(first.subarray(0, 8)).toString('latin1'));
}

export type OscTcpInit = {
  host: string;
  port: number;
  maxConnections: number;
  maxFrameBytes: number;
  /** Called before a connection is accepted; false closes it at once (e.g. source not allowed). */
  admit: (from: Remote) => boolean;
  onFrame: (frame: Uint8Array, conn: TcpConnection) => void;
  onReject: (code: OscTcpRejectCode, from: Remote, message: string) => void;
  onClose?: (conn: TcpConnection) => void;
};

export type OscTcp = { readonly port: number; readonly connections: number; close(): Promise<void> };

export function openOscTcp(init: OscTcpInit): Promise<OscTcp> {
  const sockets = new Set<Socket>();
  let nextId = 1;

  const server: Server = createServer({ noDelay: true }, (socket) => {
    const from: Remote = { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 };
    if (!init.admit(from)) {
      socket.destroy();
      return;
    }
    if (sockets.size >= init.maxConnections) {
      init.onReject('too-many-connections', from, `already ${sockets.size} connections`);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    const conn: TcpConnection = {
      id: nextId++,
      ...from,
      send(packet) {
        if (socket.destroyed || socket.writableLength > MAX_QUEUED_WRITE_BYTES) return false;
        socket.write(slipEncode(packet));
        return true;
      },
    };
    const decoder = createSlipDecoder({
      maxFrameBytes: init.maxFrameBytes,
      onFrame: (frame) => init.onFrame(frame, conn),
      onError: (code, message) => init.onReject(code, from, message),
    });
    let head: Buffer | undefined = Buffer.alloc(0); // until 8 bytes have come: HTTP or not
    socket.on('data', (chunk: Buffer) => {
      if (head !== undefined) {
        head = Buffer.concat([head, chunk]);
        const first = head.length > 0 ? head[0]! : 0;
        const letter = first >= 0x41 && first <= 0x5a;
        if (letter && head.length < 8) return;
        if (letter && looksLikeHttp(head)) {
          init.onReject('http-request', from, 'an HTTP request on the OSC TCP port (a web page?): closed');
          socket.destroy();
          return;
        }
        chunk = head;
        head = undefined;
      }
      decoder.push(chunk);
    });
    // Errors (ECONNRESET…) end this connection only.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      sockets.delete(socket);
      init.onClose?.(conn);
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: init.port, host: init.host, exclusive: true }, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : init.port,
        get connections() {
          return sockets.size;
        },
        close() {
          for (const s of sockets) s.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      });
    });
  });
}
