import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';

// A hostile host inside a namespace the test created: sends the mDNS packets it is given to
// 224.0.0.251:5353 and reports datagrams that reach the UDP ports it listens on (a daemon
// dialling). Commands arrive as JSON lines on stdin; events leave as JSON lines on stdout.
//   {"op":"send","packets":["<base64>",…],"gapMs":1,"iface":"10.66.0.1"} → {"event":"sent","count":n}
//   {"op":"listen","address":"10.66.0.1","port":0} → {"event":"listening",…}, then {"event":"datagram",…}
// Exits when stdin closes, on SIGTERM, or after MAX_LIFETIME_MS.

const MAX_LIFETIME_MS = 120_000;
const MAX_PACKETS_PER_SEND = 5000;

const emit = (event: string, data: object = {}) =>
  process.stdout.write(`${JSON.stringify({ event, ...data })}\n`);
const sockets: Socket[] = [];

let sender: Promise<Socket> | undefined;
function senderFor(iface: string | undefined): Promise<Socket> {
  sender ??= new Promise((done, fail) => {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    sockets.push(s);
    s.once('error', fail);
    s.bind(5353, () => {
      s.setMulticastTTL(255);
      s.setMulticastLoopback(true);
      if (iface) s.setMulticastInterface(iface);
      done(s);
    });
  });
  return sender;
}

async function send(cmd: { packets: string[]; gapMs?: number; iface?: string }): Promise<void> {
  const s = await senderFor(cmd.iface);
  let count = 0;
  let errors = 0;
  for (const b64 of cmd.packets.slice(0, MAX_PACKETS_PER_SEND)) {
    await new Promise<void>((done) =>
      s.send(Buffer.from(b64, 'base64'), 5353, '224.0.0.251', (err) => {
        if (err) errors++;
        else count++;
        done();
      }),
    );
    if (cmd.gapMs) await new Promise((r) => setTimeout(r, cmd.gapMs));
  }
  emit('sent', { count, errors });
}

function listen(cmd: { address: string; port: number }): void {
  const s = createSocket('udp4');
  sockets.push(s);
  s.on('error', (err) => emit('error', { message: err.message }));
  s.on('message', (msg, rinfo) =>
    emit('datagram', { to: `${cmd.address}:${s.address().port}`, from: rinfo.address, size: msg.length }),
  );
  s.bind(cmd.port, cmd.address, () => emit('listening', { address: cmd.address, port: s.address().port }));
}

const stop = () => {
  for (const s of sockets) s.close();
  process.exit(0);
};
createInterface({ input: process.stdin })
  .on('line', (line) => {
    let cmd: { op?: string } & Record<string, unknown>;
    try {
      cmd = JSON.parse(line);
    } catch {
      emit('error', { message: 'not JSON' });
      return;
    }
    if (cmd.op === 'send') {
      send(cmd as never).catch((err: Error) => emit('error', { message: err.message }));
    } else if (cmd.op === 'listen') listen(cmd as never);
    else emit('error', { message: `unknown op ${String(cmd.op)}` });
  })
  .on('close', stop);
process.on('SIGTERM', stop);
setTimeout(stop, MAX_LIFETIME_MS).unref();
emit('ready');
