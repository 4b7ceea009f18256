import { encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';
import type { Registry } from '../state/registry.ts';
import type { Change } from '../state/store.ts';
import { valueArgs } from './attributes.ts';

// Who LISTENs to what, and the stream of changes to them as binary OSC frames. A change is
// encoded once, whoever listens; a client whose socket buffer is over HIGH_WATER gets no more
// frames until it drains (the frames are dropped and counted), so a stalled client costs a
// bounded amount of memory and never slows ingest.

/** The part of a `ws` WebSocket used here. */
export type Sink = {
  readonly bufferedAmount: number;
  send(data: Uint8Array, options: { binary: true }): void;
};

export type Listener = {
  readonly sink: Sink;
  /** The writer label of this client's own OSC: its changes are not echoed back to it. */
  readonly origin: string;
  readonly paths: Set<string>;
};

export type ListenerStats = { listens: number; sent: number; dropped: number };

export type Listeners = {
  listen(l: Listener, path: string): void;
  ignore(l: Listener, path: string): void;
  /** The socket closed: forget everything it listened to. */
  drop(l: Listener): void;
  publish(changes: readonly Change[]): void;
  stats(): ListenerStats;
};

/** 1 MiB: a few thousand frames behind. */
export const HIGH_WATER = 1 << 20;
const BINARY = { binary: true } as const;

export function createListeners(registry: Registry): Listeners {
  const byPath = new Map<string, Set<Listener>>();
  let listens = 0;
  let sent = 0;
  let dropped = 0;

  return {
    listen(l, path) {
      if (l.paths.has(path)) return;
      l.paths.add(path);
      let set = byPath.get(path);
      if (!set) {
        set = new Set();
        byPath.set(path, set);
      }
      set.add(l);
      listens++;
    },
    ignore(l, path) {
      if (!l.paths.delete(path)) return;
      const set = byPath.get(path)!;
      set.delete(l);
      if (set.size === 0) byPath.delete(path);
      listens--;
    },
    drop(l) {
      for (const path of [...l.paths]) this.ignore(l, path);
    },
    publish(changes) {
      if (byPath.size === 0) return;
      for (const ch of changes) {
        if (!ch.changed) continue;
        const set = byPath.get(ch.path);
        const spec = set && registry.get(ch.path);
        if (!spec) continue;
        let frame: Uint8Array | undefined;
        for (const l of set!) {
          if (ch.source === l.origin) continue;
          if (l.sink.bufferedAmount > HIGH_WATER) {
            dropped++;
            continue;
          }
          frame ??= encodeOscPacket(oscMessage(ch.path, valueArgs(spec, ch.value)));
          l.sink.send(frame, BINARY);
          sent++;
        }
      }
    },
    stats: () => ({ listens, sent, dropped }),
  };
}
