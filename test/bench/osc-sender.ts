// Benchmark sender, run as a separate process so it does not share an event loop with the
// receiver. Prints one JSON line with what it sent.
//   node osc-sender.ts <port> blast <count>
//   node osc-sender.ts <port> paced <count> <packetsPerSecond>
// Every packet is `/bench/seq i <n>`; send times (process.hrtime, CLOCK_MONOTONIC, comparable
// across processes on Linux) are returned for latency runs.
import { createSocket } from 'node:dgram';
import { encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';

const [portArg, mode, countArg, rateArg] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const rate = Number(rateArg ?? 0);
const socket = createSocket('udp4');
const packets = Array.from({ length: Math.min(count, 65536) }, (_, i) =>
  encodeOscPacket(oscMessage('/bench/seq', [{ type: 'i', value: i }])),
);
const sendTimes: number[] = [];
let errors = 0;
const now = () => Number(process.hrtime.bigint()) / 1e6;

socket.bind(0, '127.0.0.1', async () => {
  socket.setSendBufferSize(8 * 1024 * 1024);
  const start = now();
  for (let i = 0; i < count; i++) {
    if (rate > 0) {
      const due = start + (i * 1000) / rate;
      while (now() < due) {
        if (due - now() > 2) await new Promise((r) => setTimeout(r, 1));
      }
    }
    if (mode === 'paced' && rate <= 1000) sendTimes.push(now());
    try {
      socket.send(packets[i % packets.length]!, port, '127.0.0.1');
    } catch {
      errors++;
    }
    // dgram sends leave the process only when the event loop turns: at latency-measuring rates
    // yield after every packet (else send times are off by a batch), at high rates now and then.
    if (sendTimes.length > 0 || i % 256 === 255) await new Promise((r) => setImmediate(r));
  }
  const elapsedMs = now() - start;
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ sent: count, errors, elapsedMs, sendTimes })}\n`);
    socket.close();
  }, 50);
});
