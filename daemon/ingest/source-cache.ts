import { withGetters } from '../fast-object.ts';
import type { IngestSource } from './osc-ingest.ts';
import { sourceKey } from './source-key.ts';

// One record per sender, made on its first packet: the key its budget and queue go by and the
// label its writes carry (`osc:udp:127.0.0.1:9000`). Built per packet, both were two strings
// made and hashed afresh for every datagram, and the label then made every store subscriber that
// keys by writer (the audit's selection, the persister, feedback) compare and hash it again
// (issue 18). Looked up by port, then address: the port is a number, and a port that only one
// address sends from (every app on this machine) is one comparison of the address, not a hash of
// the new string Node makes for it per datagram (issue 18: that hash was most of the lookup's
// cost at 20k/s). Bounded, since a spoofed-source flood must not grow memory.

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

/** One sender on a port, or, once a second address sends from it, those senders by address. */
type PortSlot = Sender | Map<string, Sender>;

export function createSenderCache(max = 4096): SenderCache {
  const byPort = new Map<number, PortSlot>();
  let size = 0;
  const find = (address: string, port: number): Sender | undefined => {
    const slot = byPort.get(port);
    if (slot === undefined) return undefined;
    if (slot instanceof Map) return slot.get(address);
    return slot.from.address === address ? slot : undefined;
  };
  const cache: SenderCache = withGetters(
    {
      udp(address: string, port: number): Sender {
        const known = find(address, port);
        if (known && known.from.transport === 'udp') return known;
        return cache.of({ transport: 'udp', address, port });
      },
      of(from: IngestSource): Sender {
        const known = find(from.address, from.port);
        // A TCP connection's packets carry it (feedback goes back on it), so a new connection from
        // the same address and port is a new sender.
        if (known && known.from.transport === from.transport && known.from.conn === from.conn) return known;
        if (!known && size >= max) {
          byPort.clear();
          size = 0;
        }
        const sender = { from, key: sourceKey(from), label: sourceLabel(from) };
        const slot = byPort.get(from.port);
        if (slot === undefined || (!(slot instanceof Map) && slot.from.address === from.address)) {
          byPort.set(from.port, sender);
        } else if (slot instanceof Map) {
          slot.set(from.address, sender);
        } else {
          byPort.set(
            from.port,
            new Map([
              [slot.from.address, slot],
              [from.address, sender],
            ]),
          );
        }
        if (!known) size++;
        return sender;
      },
    },
    { size: () => size },
  );
  return cache;
}
