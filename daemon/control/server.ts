import { chmod, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { z } from 'zod';
import { ControlRequest, type ControlResponse, MAX_LINE_BYTES } from './protocol.ts';

/**
 * A streaming handler (e.g. `hana midi monitor`) calls `emit` for each event and resolves when
 * done; `closed` resolves when the client goes away.
 */
export type StreamContext = { emit(event: unknown): void; readonly closed: Promise<void> };
export type Handler = (params: unknown, ctx: StreamContext) => unknown | Promise<unknown>;
export type Handlers = Record<string, Handler>;

export type ControlServer = { readonly path: string; close(): Promise<void> };

// Unix socket paths are limited to 107 bytes on Linux (104 on macOS).
const MAX_SOCKET_PATH = 100;

function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function openControlServer(path: string, handlers: Handlers): Promise<ControlServer> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new Error(`control socket path ${path} is too long for a Unix socket: use a shorter --home`);
  }
  if (await probe(path))
    throw new Error(`another hana daemon is already running with this home (${path} answers)`);
  await unlink(path).catch(() => {});

  const server: Server = createServer((socket) => {
    let buffered = '';
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_LINE_BYTES) {
        socket.destroy();
        return;
      }
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        void answer(line, socket, closed).then((res) => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(res)}\n`);
        });
        nl = buffered.indexOf('\n');
      }
    });
  });

  async function answer(line: string, socket: Socket, closed: Promise<void>): Promise<ControlResponse> {
    let req: ControlRequest;
    try {
      req = ControlRequest.parse(JSON.parse(line));
    } catch {
      return { id: -1, ok: false, error: { code: 'bad-request', message: 'not a control request' } };
    }
    const handler = Object.hasOwn(handlers, req.method) ? handlers[req.method] : undefined;
    if (!handler)
      return { id: req.id, ok: false, error: { code: 'unknown-method', message: `no method ${req.method}` } };
    try {
      const emit = (event: unknown) => {
        // A client that stops reading loses events rather than growing our memory.
        if (!socket.destroyed && socket.writableLength < MAX_LINE_BYTES) {
          socket.write(`${JSON.stringify({ id: req.id, event })}\n`);
        }
      };
      return { id: req.id, ok: true, result: await handler(req.params ?? {}, { emit, closed }) };
    } catch (err) {
      if (err instanceof z.ZodError) {
        return { id: req.id, ok: false, error: { code: 'bad-params', message: z.prettifyError(err) } };
      }
      const code = (err as { controlCode?: string }).controlCode ?? 'internal';
      return { id: req.id, ok: false, error: { code, message: (err as Error).message } };
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Created 0600 by umask so no other user can connect even before the chmod below; the
    // socket is bound synchronously inside listen(), so the umask is restored at once.
    const oldMask = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(oldMask);
    }
  });
  await chmod(path, 0o600);

  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        unlink(path).catch(() => {});
      }),
  };
}
