import { randomBytes } from 'node:crypto';
import type { DtlsSession } from '../../protocols/dtls/endpoint.ts';
import type { Identity } from '../../trust-store/identity.ts';

// Two DTLS sessions joined in memory, for link-manager tests that need no sockets: each side
// sees the other's certificate and both share one exporter, as a verified handshake gives.

/** `ports`: where each side appears to the other, so three or more managers can be joined pairwise. */
export function sessionPair(
  a: Identity,
  b: Identity,
  ports: readonly [number, number] = [7401, 7402],
): [DtlsSession, DtlsSession] {
  const exporter = randomBytes(32);
  const make = (role: 'client' | 'server', peer: Identity, port: number) => {
    const data: ((b: Uint8Array) => void)[] = [];
    const closes: (() => void)[] = [];
    let other: { deliver(b: Uint8Array): void } | undefined;
    const s = {
      remote: { address: '127.0.0.1', port },
      role,
      peerCertDer: peer.certDer,
      exporter: () => new Uint8Array(exporter),
      send: (bytes: Uint8Array) => {
        const copy = new Uint8Array(bytes);
        queueMicrotask(() => other?.deliver(copy));
      },
      onData: (fn: (b: Uint8Array) => void) => data.push(fn),
      onClose: (fn: () => void) => closes.push(fn),
      close: () => {},
      violation: () => {},
      deliver: (b: Uint8Array) => {
        for (const fn of data) fn(b);
      },
      link(o: { deliver(b: Uint8Array): void }) {
        other = o;
      },
    };
    return s;
  };
  const sa = make('client', b, ports[1]);
  const sb = make('server', a, ports[0]);
  sa.link(sb);
  sb.link(sa);
  return [sa as unknown as DtlsSession, sb as unknown as DtlsSession];
}
