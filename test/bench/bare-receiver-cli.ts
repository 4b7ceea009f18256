// The bare baseline for `npm run bench -- osc-ingest`, in a process of its own so its CPU time
// can be read beside the daemon's: a dgram socket that counts datagrams and does nothing else.
// Prints its UDP port, then on each line read from stdin the datagrams received so far.
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const socket = createSocket('udp4');
let received = 0;
socket.on('message', () => {
  received++;
});
socket.bind(0, '127.0.0.1', () => {
  socket.setRecvBufferSize(4 * 1024 * 1024);
  process.stdout.write(`${socket.address().port}\n`);
});
createInterface({ input: process.stdin })
  .on('line', () => process.stdout.write(`${received}\n`))
  .on('close', () => socket.close());
