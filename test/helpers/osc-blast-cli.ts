// A separate OSC sender process for fairness tests and benches, so the flood does not share an
// event loop with the daemon or the test. Sends the given packets in turn over UDP to
// 127.0.0.1:<port>, from <sockets> source ports (a runaway app that opens many), as fast as it
// can or at <rate> packets/s, <count> packets in all or until SIGTERM. Prints one JSON line
// {"sent":n,"errors":n} when done.
//   node osc-blast-cli.ts <port> <count|0> <rate|0> <sockets> <hex packet>...
import { createSocket, type Socket } from 'node:dgram';

const [portArg, countArg, rateArg, socketsArg, ...hex] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const rate = Number(rateArg);
const packets = hex.map((h) => Buffer.from(h, 'hex'));
if (!port || packets.length === 0) {
  process.stderr.write('usage: osc-blast-cli.ts <port> <count|0> <rate|0> <sockets> <hex packet>...\n');
  process.exit(2);
}

const sockets: Socket[] = await Promise.all(
  Array.from(
    { length: Math.max(1, Number(socketsArg)) },
    () =>
      new Promise<Socket>((resolve) => {
        const s = createSocket('udp4');
        s.bind({ address: '127.0.0.1', port: 0 }, () => resolve(s));
      }),
  ),
);
let sent = 0;
let errors = 0;
let stopping = false;
const finish = () => {
  process.stdout.write(`${JSON.stringify({ sent, errors })}\n`);
  for (const s of sockets) s.close();
};
process.on('SIGTERM', () => {
  stopping = true;
});

const now = () => performance.now();
const start = now();
// Ready: the parent starts timing from this line.
process.stdout.write('ready\n');
const sendOne = () => {
  try {
    sockets[sent % sockets.length]!.send(packets[sent % packets.length]!, port, '127.0.0.1');
  } catch {
    errors++;
  }
  sent++;
};
while (!stopping && (count === 0 || sent < count)) {
  if (rate > 0) {
    // Paced: every millisecond or so, send what is due. Sleeping between batches, not spinning,
    // leaves the CPU to the daemon (four spinning senders starved it on two cores).
    const due = Math.floor(((now() - start) * rate) / 1000);
    while (sent < due && (count === 0 || sent < count)) sendOne();
    await new Promise((r) => setTimeout(r, 1));
    continue;
  }
  sendOne();
  // dgram sends leave the process only when the event loop turns.
  if (sent % 64 === 0) await new Promise((r) => setImmediate(r));
}
setTimeout(finish, 50);
