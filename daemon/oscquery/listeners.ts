import { encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';
import type { ParamSpec } from '../config/params-schema.ts';
import type { Value } from '../state/coerce.ts';
import type { Registry } from '../state/registry.ts';
import type { Change } from '../state/store.ts';
import { valueArgs } from './attributes.ts';

// Who LISTENs to what, and the stream of changes to them as binary OSC frames. Changes are only
// marked while ingest applies them; the frames go out once per event-loop turn, the latest value
// of each path, each encoded once whoever listens. So a burst that sets one fader a hundred
// times in a turn costs each socket one frame, and the cost to ingest of 50 listeners is a set
// insertion each (measured: `npm run bench -- oscquery`; sending a frame per change per socket
// from inside the store's notification held ingest to a few percent of its rate). A client whose
// socket buffer is over HIGH_WATER gets no frames until it drains (they are dropped and
// counted), so a stalled client costs bounded memory.

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

export type ListenersInit = {
  registry: Registry;
  /** When to send what this turn marked; default setImmediate (after the I/O of this turn). */
  defer?: (fn: () => void) => void;
};

export function createListeners(init: ListenersInit): Listeners {
  const { registry } = init;
  const defer = init.defer ?? setImmediate;
  const byPath = new Map<string, Set<Listener>>();
  /** The latest value of each changed path this turn, and who is owed it. */
  const latest = new Map<string, { spec: ParamSpec; value: Value }>();
  const owed = new Map<Listener, Set<string>>();
  let scheduled = false;
  let listens = 0;
  let sent = 0;
  let dropped = 0;

  function flush(): void {
    scheduled = false;
    const frames = new Map<string, Uint8Array>();
    for (const [l, paths] of owed) {
      if (l.sink.bufferedAmount > HIGH_WATER) {
        dropped += paths.size;
        continue;
      }
      for (const path of paths) {
        let frame = frames.get(path);
        if (!frame) {
          const { spec, value } = latest.get(path)!;
          frame = encodeOscPacket(oscMessage(path, valueArgs(spec, value)));
          frames.set(path, frame);
        }
        l.sink.send(frame, BINARY);
        sent++;
      }
    }
    owed.clear();
    latest.clear();
  }

  const listeners: Listeners = {
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
      owed.get(l)?.delete(path);
      listens--;
    },
    drop(l) {
      for (const path of [...l.paths]) listeners.ignore(l, path);
      owed.delete(l);
    },
    publish(changes) {
      if (byPath.size === 0) return;
      for (const ch of changes) {
        if (!ch.changed) continue;
        const set = byPath.get(ch.path);
        const spec = set && registry.get(ch.path);
        if (!spec) continue;
        latest.set(ch.path, { spec, value: ch.value });
        for (const l of set!) {
          // Its own value supersedes whatever it was owed of this path this turn: it knows it.
          if (ch.source === l.origin) {
            owed.get(l)?.delete(ch.path);
            continue;
          }
          let paths = owed.get(l);
          if (!paths) {
            paths = new Set();
            owed.set(l, paths);
          }
          paths.add(ch.path);
        }
      }
      if (owed.size > 0 && !scheduled) {
        scheduled = true;
        defer(flush);
      }
    },
    stats: () => ({ listens, sent, dropped }),
  };
  return listeners;
}
