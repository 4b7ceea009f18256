import type { IngestSource } from './osc-ingest.ts';
import { sourceKey } from './source-key.ts';

// One record per sender, made on its first packet: the key its budget and queue go by and the
// label its writes carry (`osc:udp:127.0.0.1:9000`). Built per packet, both were two strings
// made and hashed afresh for every datagram, and the label then made every store subscriber that
// keys by writer (the audit's selection, the persister, feedback) compare and hash it again
// (issue 18). Looked up by address, then port, which costs no string; bounded, since a spoofed-
// source flood must not grow memory.

export type Sender = { readonly from: IngestSource; readonly key: string; readonly label: string };

export type SenderCache = {
  of(from: IngestSource): Sender;
  /** A UDP sender, made from address and port only when it is new: no object per datagram. */
  udp(address: string, port: number): Sender;
  readonly size: number;
};

export function sourceLabel(from: IngestSource): string {
  return `osc:${from.transport}:${from.address}:${from.port}`;
}

export function createSenderCache(max = 4096): SenderCache {
  const byAddress = new Map<string, Map<number, Sender>>();
  let size = 0;
  const cache: SenderCache = {
    udp(address, port) {
      const known = byAddress.get(address)?.get(port);
      if (known && known.from.transport === 'udp') return known;
      return cache.of({ transport: 'udp', address, port });
    },
    of(from) {
      let byPort = byAddress.get(from.address);
      const known = byPort?.get(from.port);
      // A TCP connection's packets carry it (feedback goes back on it), so a new connection from
      // the same address and port is a new sender.
      if (known && known.from.transport === from.transport && known.from.conn === from.conn) return known;
      if (size >= max) {
        byAddress.clear();
        size = 0;
        byPort = undefined;
      }
      if (!byPort) {
        byPort = new Map();
        byAddress.set(from.address, byPort);
      }
      const sender = { from, key: sourceKey(from), label: sourceLabel(from) };
      if (!known) size++;
      byPort.set(from.port, sender);
      return sender;
    },
    get size() {
      return size;
    },
  };
  return cache;
}
