// Sends one OSC message over UDP from a chosen local address, for tests that must send from
// inside a network namespace: node send-osc-cli.ts <from> <host> <port> <address> <float>
import { createSocket } from 'node:dgram';
import { encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';

const [from, host, port, address, value] = process.argv.slice(2);
const socket = createSocket('udp4');
socket.bind({ address: from, port: 0 }, () => {
  const bytes = encodeOscPacket(oscMessage(address!, [{ type: 'f', value: Number(value) }]));
  socket.send(bytes, Number(port), host, (err) => {
    socket.close();
    process.exitCode = err ? 1 : 0;
  });
});
