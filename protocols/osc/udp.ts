import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

// The OSC UDP endpoint: receives datagrams, sends feedback from the same port (so apps that
// reply to the sender's port see one address for hana).

export type Remote = { readonly address: string; readonly port: number };

export type OscUdpInit = {
  host: string;
  port: number;
  /** Raised from the kernel default: a burst of faders otherwise overflows it (DESIGN.md §1). */
  recvBufferBytes?: number;
  /** `from` is Node's own remote info (it also has `family` and `size`): no object per datagram. */
  onDatagram: (bytes: Buffer, from: Remote) => void;
  /** Socket-level errors after bind (e.g. ICMP unreachable on send): reported, never thrown. */
  onError: (err: Error) => void;
};

export type OscUdp = {
  readonly address: string;
  readonly port: number;
  send(bytes: Uint8Array, to: Remote): void;
  close(): Promise<void>;
};

export function openOscUdp(init: OscUdpInit): Promise<OscUdp> {
  const socket: Socket = createSocket({ type: isIPv6(init.host) ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    const onBindError = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', onBindError);
    socket.on('message', init.onDatagram);
    socket.bind({ port: init.port, address: init.host, exclusive: true }, () => {
      socket.off('error', onBindError);
      socket.on('error', init.onError);
      try {
        socket.setRecvBufferSize(init.recvBufferBytes ?? 4 * 1024 * 1024);
      } catch {
        // The kernel caps it at net.core.rmem_max; the default still works, just drops sooner under bursts.
      }
      const bound = socket.address();
      let closed = false;
      resolve({
        address: bound.address,
        port: bound.port,
        send(bytes, to) {
          if (closed) return;
          socket.send(bytes, to.port, to.address, (err) => {
            if (err) init.onError(err);
          });
        },
        close() {
          if (closed) return Promise.resolve();
          closed = true;
          return new Promise((done) => socket.close(() => done()));
        },
      });
    });
  });
}
