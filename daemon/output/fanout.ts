import { withGetters } from '../fast-object.ts';
// Sends the latest frame to every connected page without ever queueing without bound. A client
// has at most MAX_IN_FLIGHT frames written but not yet flushed to its socket; a frame published
// while it is that far behind replaces its pending one (the older is dropped and counted), so a
// stalled page costs at most MAX_IN_FLIGHT + 1 frames of memory and always resumes on the newest.

/** The part of a `ws` WebSocket the fan-out uses (a fake in tests is not needed: ws is real). */
export type Sink = {
  readonly bufferedAmount: number;
  send(data: Buffer, options: { binary: false }, cb: (err?: Error) => void): void;
};

export type FanoutStats = { published: number; sent: number; dropped: number; buffered: number };

export type Fanout = {
  add(sink: Sink): void;
  remove(sink: Sink): void;
  /** A frame object (serialised once, only if some page takes it) or its JSON text. */
  publish(frame: object | string): void;
  readonly size: number;
  stats(): FanoutStats;
};

const MAX_IN_FLIGHT = 2;
/** A client whose ws buffer holds more than this (bytes) gets no new frame until it drains. */
const HIGH_WATER = 1 << 20;

type Client = { sink: Sink; inFlight: number; pending: boolean };

export function createFanout(): Fanout {
  const clients = new Map<Sink, Client>();
  let latest: object | string = '';
  let latestBytes: Buffer | undefined;
  let published = 0;
  let sent = 0;
  let dropped = 0;

  // Serialised and UTF-8 encoded once per frame (not once per page), and only when some page
  // actually takes it; sent as a text message.
  const bytes = () => {
    latestBytes ??= Buffer.from(typeof latest === 'string' ? latest : JSON.stringify(latest), 'utf8');
    return latestBytes;
  };
  const TEXT = { binary: false } as const;

  const ready = (c: Client) => c.inFlight < MAX_IN_FLIGHT && c.sink.bufferedAmount < HIGH_WATER;

  const send = (c: Client) => {
    c.inFlight++;
    sent++;
    c.sink.send(bytes(), TEXT, () => {
      c.inFlight--;
      if (c.pending && clients.get(c.sink) === c && ready(c)) {
        c.pending = false;
        send(c);
      }
    });
  };

  return withGetters(
    {
      add(sink) {
        const c: Client = { sink, inFlight: 0, pending: false };
        clients.set(sink, c);
        // A page that connects mid-show draws the current picture at once.
        if (published > 0) send(c);
      },
      remove(sink) {
        const c = clients.get(sink);
        if (c?.pending) dropped++;
        clients.delete(sink);
      },
      publish(frame) {
        published++;
        latest = frame;
        latestBytes = undefined;
        for (const c of clients.values()) {
          if (ready(c)) {
            // A frame still pending from before is superseded by this one.
            if (c.pending) dropped++;
            c.pending = false;
            send(c);
          } else {
            if (c.pending) dropped++;
            c.pending = true;
          }
        }
      },
      stats() {
        let buffered = 0;
        for (const c of clients.values()) buffered += c.sink.bufferedAmount;
        return { published, sent, dropped, buffered };
      },
    } satisfies Omit<Fanout, 'size'>,
    { size: () => clients.size },
  );
}
