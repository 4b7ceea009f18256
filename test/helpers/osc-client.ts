import { createSocket, type Socket } from 'node:dgram';
import { encodeOscPacket } from '../../protocols/osc/codec.ts';
import type { OscPacket } from '../../protocols/osc/types.ts';

// A real UDP OSC sender for tests, optionally bound to a chosen loopback address so tests can
// act as several distinct sources (127.0.0.2, 127.0.0.3…).

export type OscSender = {
  readonly port: number;
  send(packet: OscPacket | Uint8Array): Promise<void>;
  close(): void;
  socket: Socket;
};

export async function oscSender(targetPort: number, fromAddress = '127.0.0.1'): Promise<OscSender> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind({ address: fromAddress, port: 0 }, () => r()));
  return {
    port: socket.address().port,
    socket,
    send(packet) {
      const bytes = packet instanceof Uint8Array ? packet : encodeOscPacket(packet);
      return new Promise((done, fail) =>
        socket.send(bytes, targetPort, '127.0.0.1', (err) => (err ? fail(err) : done())),
      );
    },
    close: () => socket.close(),
  };
}
