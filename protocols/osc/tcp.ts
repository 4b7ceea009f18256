import { createServer, type Server, type Socket } from 'node:net';
import { type Framing, framingOf, type StreamDecoder } from './framing.ts';
import {
  createLengthPrefixDecoder,
  type LengthPrefixErrorCode,
  lengthPrefixEncode,
} from './length-prefix.ts';
import { createSlipDecoder, type SlipErrorCode, slipEncode } from './slip.ts';
import type { Remote } from './udp.ts';

// OSC over TCP, SLIP-framed (OSC 1.1) or size-prefixed (OSC 1.0, liblo), told apart per
// connection by its first byte (framing.ts); feedback goes back in the framing the client used.
// Each connection gets a bounded frame buffer and a bounded write queue; a client that stops
// reading loses feedback, not our memory.
//
// Connection slots are shared out by source address: one address holds at most
// `maxConnectionsPerSource`, and a further connection from it replaces its own least recently
// active one, so a client that reconnects after a crash is never locked out by its own dead
// connections. When every slot is taken, a newcomer from an address holding fewer takes the
// least recently active slot of the address holding the most. So 32 idle connections from one
// address cannot lock another controller out. A connection that sends nothing for `idleMs`, or
// leaves a frame half-sent for `stallMs`, is closed by a sweep that runs only while connections
// are open.

const MAX_QUEUED_WRITE_BYTES = 1024 * 1024;

export type TcpConnection = Remote & {
  readonly id: number;
  /** How the client frames its packets; SLIP until its first byte says otherwise. */
  readonly framing: Framing;
  /** Sends one packet in the client's framing; false if dropped because the client is not reading. */
  send(packet: Uint8Array): boolean;
};

export type OscTcpRejectCode =
  | SlipErrorCode
  | LengthPrefixErrorCode
  | 'too-many-connections'
  | 'http-request'
  | 'tcp-evicted'
  | 'tcp-idle'
  | 'tcp-stalled';

// A web page can make a browser POST to 127.0.0.1:8000 with SLIP-framed OSC in the body, and
// the SLIP decoder would skip the request line and apply the frames: a cross-protocol write
// from any site the operator visits. An OSC stream starts with END (0xC0), '/' or '#', never
// with an HTTP method, so such a connection is closed before a byte of it is decoded.
const HTTP_METHOD = /^(?:GET|POST|PUT|HEAD|OPTIONS|DELETE|PATCH|CONNECT|TRACE) /;

/** The first bytes of a connection are an HTTP request line (enough bytes to tell: 8). */
export function looksLikeHttp(first: Uint8Array): boolean {
  return HTTP_METHOD.test(Buffer.from(first.subarray(0, 8)).toString('latin1'));
}

/** The same shape as daemon/timers.ts (protocols never import daemon/). */
export type TcpTimers = { set(delayMs: number, fn: () => void): unknown; clear(handle: unknown): void };

export type OscTcpInit = {
  host: string;
  port: number;
  maxConnections: number;
  /** Default: no per-source share, and a full server refuses newcomers. */
  maxConnectionsPerSource?: number;
  maxFrameBytes: number;
  /** Closes a connection that has sent nothing for this long (default: never). */
  idleMs?: number;
  /** Closes a connection whose frame has stayed half-sent this long (default: never). */
  stallMs?: number;
  /** Injected so tests run the reaper on a fake clock; the sockets stay real. */
  timers?: TcpTimers;
  now?: () => number;
  /** Called before a connection is accepted; false closes it at once (e.g. source not allowed). */
  admit: (from: Remote) => boolean;
  onFrame: (frame: Uint8Array, conn: TcpConnection) => void;
  onReject: (code: OscTcpRejectCode, from: Remote, message: string) => void;
  onClose?: (conn: TcpConnection) => void;
};

export type OscTcp = { readonly port: number; readonly connections: number; close(): Promise<void> };

type Slot = {
  readonly socket: Socket;
  readonly from: Remote;
  /** Last time a byte arrived (or the connection opened). */
  lastData: number;
  /** Order of that activity among all connections (the clock can tie within a millisecond). */
  lastSeq: number;
  /** Since when a frame has been half-sent; undefined while the stream is between frames. */
  partialSince: number | undefined;
};

const defaultTimers: TcpTimers = {
  set: (delay, fn) => setTimeout(fn, delay).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export function openOscTcp(init: OscTcpInit): Promise<OscTcp> {
  const slots = new Map<Socket, Slot>();
  const bySource = new Map<string, Set<Slot>>();
  // Without a per-source share, a full server simply refuses (no eviction at all).
  const perSource = init.maxConnectionsPerSource;
  const timers = init.timers ?? defaultTimers;
  const now = init.now ?? Date.now;
  const limits = [init.idleMs, init.stallMs].filter((ms): ms is number => ms !== undefined);
  // Four sweeps per shortest limit: a connection is closed within 1¼ of its limit.
  const sweepMs = limits.length ? Math.max(10, Math.min(...limits) / 4) : undefined;
  let sweep: unknown;
  let nextId = 1;
  let activity = 0;

  const close = (slot: Slot, code: OscTcpRejectCode, message: string) => {
    init.onReject(code, slot.from, message);
    // Its slot is free now, not when the socket's close event comes round.
    forget(slot);
    slot.socket.destroy();
  };

  const runSweep = () => {
    sweep = undefined;
    const t = now();
    for (const slot of slots.values()) {
      if (
        init.stallMs !== undefined &&
        slot.partialSince !== undefined &&
        t - slot.partialSince >= init.stallMs
      ) {
        close(
          slot,
          'tcp-stalled',
          `OSC TCP frame left half-sent for ${Math.round((t - slot.partialSince) / 1000)} s: closed`,
        );
      } else if (init.idleMs !== undefined && t - slot.lastData >= init.idleMs) {
        close(
          slot,
          'tcp-idle',
          `OSC TCP connection silent for ${Math.round((t - slot.lastData) / 1000)} s: closed`,
        );
      }
    }
    armSweep();
  };

  const armSweep = () => {
    if (sweep === undefined && sweepMs !== undefined && slots.size > 0) sweep = timers.set(sweepMs, runSweep);
  };

  const leastRecent = (set: Iterable<Slot>): Slot | undefined => {
    let best: Slot | undefined;
    for (const s of set) if (!best || s.lastSeq < best.lastSeq) best = s;
    return best;
  };

  /** Frees a slot for `from` if its share allows; false if the newcomer must be refused. */
  const makeRoom = (from: Remote): boolean => {
    if (perSource === undefined) {
      if (slots.size < init.maxConnections) return true;
      init.onReject('too-many-connections', from, `already ${slots.size} connections`);
      return false;
    }
    const mine = bySource.get(from.address);
    if (mine && mine.size >= perSource) {
      const victim = leastRecent(mine)!;
      close(
        victim,
        'tcp-evicted',
        `${from.address} opened more than ${perSource} OSC TCP connections: closed its least recently active`,
      );
      return true;
    }
    if (slots.size < init.maxConnections) return true;
    let biggest: Set<Slot> | undefined;
    for (const set of bySource.values()) if (!biggest || set.size > biggest.size) biggest = set;
    if (!biggest || biggest.size <= (mine?.size ?? 0) + 1) {
      init.onReject(
        'too-many-connections',
        from,
        `already ${slots.size} OSC TCP connections, none from a source holding more`,
      );
      return false;
    }
    const victim = leastRecent(biggest)!;
    close(
      victim,
      'tcp-evicted',
      `all ${init.maxConnections} OSC TCP slots taken: closed the least recently active of ${victim.from.address}, which holds the most`,
    );
    return true;
  };

  const forget = (slot: Slot) => {
    if (!slots.delete(slot.socket)) return;
    const set = bySource.get(slot.from.address);
    set?.delete(slot);
    if (set?.size === 0) bySource.delete(slot.from.address);
    if (slots.size === 0 && sweep !== undefined) {
      timers.clear(sweep);
      sweep = undefined;
    }
  };

  const server: Server = createServer({ noDelay: true }, (socket) => {
    const from: Remote = { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 };
    if (!init.admit(from)) {
      socket.destroy();
      return;
    }
    if (!makeRoom(from)) {
      socket.destroy();
      return;
    }
    const slot: Slot = { socket, from, lastData: now(), lastSeq: ++activity, partialSince: undefined };
    slots.set(socket, slot);
    let set = bySource.get(from.address);
    if (!set) {
      set = new Set();
      bySource.set(from.address, set);
    }
    set.add(slot);
    armSweep();
    let framing: Framing = 'slip';
    let decoder: StreamDecoder | undefined;
    const conn: TcpConnection = {
      id: nextId++,
      ...from,
      get framing() {
        return framing;
      },
      send(packet) {
        if (socket.destroyed || socket.writableLength > MAX_QUEUED_WRITE_BYTES) return false;
        socket.write(framing === 'slip' ? slipEncode(packet) : lengthPrefixEncode(packet));
        return true;
      },
    };
    const startDecoder = (first: number): StreamDecoder => {
      framing = framingOf(first);
      const onFrame = (frame: Uint8Array) => init.onFrame(frame, conn);
      if (framing === 'slip') {
        return createSlipDecoder({
          maxFrameBytes: init.maxFrameBytes,
          onFrame,
          onError: (code, message) => init.onReject(code, from, message),
        });
      }
      return createLengthPrefixDecoder({
        maxFrameBytes: init.maxFrameBytes,
        onFrame,
        // A size-prefixed stream has no delimiter to resynchronise on: the connection ends.
        onError: (code, message) => close(slot, code, `${message}: closed`),
      });
    };
    let head: Buffer | undefined = Buffer.alloc(0); // until 8 bytes have come: HTTP or not
    socket.on('data', (chunk: Buffer) => {
      const t = now();
      slot.lastData = t;
      slot.lastSeq = ++activity;
      if (head !== undefined) {
        head = Buffer.concat([head, chunk]);
        const first = head.length > 0 ? head[0]! : 0;
        const letter = first >= 0x41 && first <= 0x5a;
        if (letter && head.length < 8) {
          slot.partialSince ??= t;
          return;
        }
        if (letter && looksLikeHttp(head)) {
          init.onReject('http-request', from, 'an HTTP request on the OSC TCP port (a web page?): closed');
          socket.destroy();
          return;
        }
        chunk = head;
        head = undefined;
        decoder = startDecoder(first);
      }
      decoder!.push(chunk);
      // The frame's clock keeps the time its first unfinished byte came, so trickling a byte at
      // a time does not reset it; a stream between frames holds nothing half-sent.
      if (decoder!.partial) slot.partialSince ??= t;
      else slot.partialSince = undefined;
    });
    // Errors (ECONNRESET…) end this connection only.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      forget(slot);
      init.onClose?.(conn);
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: init.port, host: init.host, exclusive: true }, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : init.port,
        get connections() {
          return slots.size;
        },
        close() {
          if (sweep !== undefined) timers.clear(sweep);
          sweep = undefined;
          for (const s of slots.keys()) s.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      });
    });
  });
}
