// Run inside a test's network namespace: from local address <from>, GETs http://<host>:<port><path>
// and opens ws://<host>:<port>/, and prints one JSON line {"http": status|error, "ws": "open"|error}.
//   node oscquery-from-cli.ts <from> <host> <port> <path>
import { request } from 'node:http';
import { WebSocket } from 'ws';

const [from, host, port, path] = process.argv.slice(2) as [string, string, string, string];

const http = await new Promise<number | string>((resolve) => {
  const req = request({ host, port: Number(port), path, localAddress: from, agent: false }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode ?? 0));
  });
  req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  req.end();
});

const ws = await new Promise<string>((resolve) => {
  const socket = new WebSocket(`ws://${host}:${port}/`, { localAddress: from, handshakeTimeout: 10_000 });
  socket.on('open', () => {
    socket.close();
    resolve('open');
  });
  socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
});

console.log(JSON.stringify({ http, ws }));
