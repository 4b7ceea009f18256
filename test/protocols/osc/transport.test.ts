import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { decodeOscPacket, encodeOscPacket, oscMessage } from '../../../protocols/osc/codec.ts';
import { createLengthPrefixDecoder, lengthPrefixEncode } from '../../../protocols/osc/length-prefix.ts';
import { createSlipDecoder, slipEncode } from '../../../protocols/osc/slip.ts';
import {
  looksLikeHttp,
  type OscTcpInit,
  type OscTcpRejectCode,
  openOscTcp,
  type TcpConnection,
} from '../../../protocols/osc/tcp.ts';
import { openOscUdp, type Remote } from '../../../protocols/osc/udp.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';
import { waitFor } from '../../helpers/wait.ts';

// The OSC transports on real loopback sockets (127.0.0.1, ephemeral ports). Every wait is
// bounded; nothing asserts on elapsed time.

const HOST = '127.0.0.1';
const WAIT_MS = 5000;

/** Collects values from a callback; `take(n)` resolves once n have arrived, or fails after WAIT_MS. */
function inbox<T>() {
  const items: T[] = [];
  let wake: (() => void) | undefined;
  return {
    items,
    push(v: T) {
      items.push(v);
      wake?.();
    },
    async take(n: number, what: string): Promise<T[]> {
      const deadline = AbortSignal.timeout(WAIT_MS);
      while (items.length < n) {
        if (deadline.aborted) throw new Error(`timed out waiting for ${n} ${what}, got ${items.length}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 20);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
      return items.slice(0, n);
    },
  };
}

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS);
      t.unref();
    }),
  ]);
}

async function udpPeer(t: TestContext): Promise<UdpSocket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind({ address: HOST, port: 0 }, () => r()));
  t.after(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

async function tcpClient(t: TestContext, port: number): Promise<Socket> {
  const s = connect({ host: HOST, port });
  // A reset from the server (refused, closed) surfaces as 'close' too; tests assert on that.
  s.on('error', () => {});
  t.after(() => {
    s.destroy();
  });
  await bounded(once(s, 'connect'), 'tcp connect');
  return s;
}

// Not once(s, 'close'): that rejects on the ECONNRESET a closed connection may report first.
const closed = (s: Socket) =>
  s.closed
    ? Promise.resolve()
    : bounded(new Promise<void>((r) => s.once('close', () => r())), 'client close');

describe('OSC over UDP', () => {
  it('receives a datagram and reports the remote address and port', async (t) => {
    const got = inbox<{ bytes: Buffer; from: Remote }>();
    const errors: Error[] = [];
    const udp = await openOscUdp({
      host: HOST,
      port: 0,
      onDatagram: (bytes, from) => got.push({ bytes, from }),
      onError: (e) => errors.push(e),
    });
    t.after(() => udp.close());
    assert.equal(udp.address, HOST);
    assert.ok(udp.port > 0);

    const peer = await udpPeer(t);
    const packet = oscMessage('/fader/1', [
      { type: 'f', value: 0.25 },
      { type: 'b', value: Uint8Array.from([1, 2, 3]) },
    ]);
    peer.send(encodeOscPacket(packet), udp.port, HOST);
    const [d] = await got.take(1, 'datagrams');
    assert.deepEqual(
      { address: d!.from.address, port: d!.from.port },
      { address: HOST, port: peer.address().port },
    );
    const r = decodeOscPacket(d!.bytes, { maxBytes: 1500, maxDepth: 4 });
    assert.ok(r.ok);
    assert.deepEqual(r.packet, packet);
    assert.deepEqual(errors, []);
  });

  it('send reaches another socket from the bound port', async (t) => {
    const udp = await openOscUdp({ host: HOST, port: 0, onDatagram: () => {}, onError: () => {} });
    t.after(() => udp.close());
    const peer = await udpPeer(t);
    const got = inbox<{ msg: Buffer; port: number }>();
    peer.on('message', (msg, rinfo) => got.push({ msg, port: rinfo.port }));

    const bytes = encodeOscPacket(oscMessage('/feedback', [{ type: 'i', value: 99 }]));
    udp.send(bytes, { address: HOST, port: peer.address().port });
    const [m] = await got.take(1, 'feedback datagrams');
    assert.deepEqual(new Uint8Array(m!.msg), bytes);
    assert.equal(m!.port, udp.port); // replies come from the port apps send to
  });

  it('closing twice is safe, and send after close is a no-op', async () => {
    const errors: Error[] = [];
    const udp = await openOscUdp({
      host: HOST,
      port: 0,
      onDatagram: () => {},
      onError: (e) => errors.push(e),
    });
    await udp.close();
    await udp.close();
    udp.send(Uint8Array.from([0x2f, 0, 0, 0]), { address: HOST, port: 9 });
    assert.deepEqual(errors, []);
  });

  it('binding a port already in use rejects', async (t) => {
    const first = await openOscUdp({ host: HOST, port: 0, onDatagram: () => {}, onError: () => {} });
    t.after(() => first.close());
    await assert.rejects(
      openOscUdp({ host: HOST, port: first.port, onDatagram: () => {}, onError: () => {} }),
      /EADDRINUSE/,
    );
  });
});

type TcpEvents = {
  frames: ReturnType<typeof inbox<{ frame: number[]; conn: TcpConnection }>>;
  rejects: ReturnType<typeof inbox<{ code: OscTcpRejectCode; from: Remote; message: string }>>;
  closes: ReturnType<typeof inbox<TcpConnection>>;
  admitted: Remote[];
};

async function tcpServer(t: TestContext, init: Partial<OscTcpInit> = {}) {
  const ev: TcpEvents = { frames: inbox(), rejects: inbox(), closes: inbox(), admitted: [] };
  const server = await openOscTcp({
    host: HOST,
    port: 0,
    maxConnections: 4,
    maxFrameBytes: 1024,
    admit: (from) => {
      ev.admitted.push(from);
      return true;
    },
    onFrame: (frame, conn) => ev.frames.push({ frame: Array.from(frame), conn }),
    onReject: (code, from, message) => ev.rejects.push({ code, from, message }),
    onClose: (conn) => ev.closes.push(conn),
    ...init,
  });
  t.after(() => server.close());
  return { server, ev };
}

describe('OSC over TCP (SLIP)', () => {
  it('closes a connection that starts with an HTTP request (a browser made to POST OSC), applying nothing', async (t) => {
    const { server, ev } = await tcpServer(t);
    const client = await tcpClient(t, server.port);
    const frame = slipEncode(encodeOscPacket(oscMessage('/master/blackout', [{ type: 'T', value: true }])));
    const body = Buffer.from(frame);
    // Split inside the method, as a slow sender could: the check waits for enough bytes.
    client.write('PO');
    await new Promise((r) => setImmediate(r));
    client.write(
      `ST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    client.write(body);
    const [reject] = await ev.rejects.take(1, 'http reject');
    assert.equal(reject!.code, 'http-request');
    await bounded(once(client, 'close'), 'server closes the connection');
    assert.deepEqual(ev.frames.items, []);
    assert.equal(looksLikeHttp(Buffer.from('GET / HTTP/1.1')), true);
    assert.equal(looksLikeHttp(frame), false);
    assert.equal(looksLikeHttp(Buffer.from('/layer/1')), false);
  });

  it('two frames in one write give two onFrame calls; a frame split across writes gives one', async (t) => {
    const { server, ev } = await tcpServer(t);
    const client = await tcpClient(t, server.port);
    const a = encodeOscPacket(oscMessage('/a', [{ type: 'i', value: 1 }]));
    const b = encodeOscPacket(oscMessage('/b', [{ type: 'i', value: 0xc0db }])); // END/ESC bytes inside
    client.write(Buffer.concat([slipEncode(a), slipEncode(b)]));
    const two = await ev.frames.take(2, 'frames');
    assert.deepEqual(
      two.map((f) => f.frame),
      [Array.from(a), Array.from(b)],
    );
    assert.equal(two[0]!.conn.id, two[1]!.conn.id);
    assert.equal(two[0]!.conn.address, HOST);
    assert.equal(two[0]!.conn.port, client.localPort);

    const c = slipEncode(encodeOscPacket(oscMessage('/split', [{ type: 's', value: 'across writes' }])));
    client.write(c.subarray(0, 5));
    await new Promise((r) => setImmediate(r));
    client.write(c.subarray(5, 17));
    client.write(c.subarray(17));
    const three = await ev.frames.take(3, 'frames');
    const r = decodeOscPacket(Uint8Array.from(three[2]!.frame), { maxBytes: 1024, maxDepth: 2 });
    assert.ok(r.ok);
    assert.deepEqual(r.packet, oscMessage('/split', [{ type: 's', value: 'across writes' }]));
    assert.equal(ev.frames.items.length, 3);
    assert.deepEqual(ev.rejects.items, []);
  });

  it('admit returning false closes the connection without reading it', async (t) => {
    const { server, ev } = await tcpServer(t, { admit: () => false });
    const client = await tcpClient(t, server.port);
    client.write(slipEncode(encodeOscPacket(oscMessage('/x'))));
    await closed(client);
    assert.deepEqual(ev.frames.items, []);
    assert.equal(server.connections, 0);
  });

  it('admit sees the remote address and port', async (t) => {
    const { server, ev } = await tcpServer(t);
    const client = await tcpClient(t, server.port);
    client.write(slipEncode(encodeOscPacket(oscMessage('/hello'))));
    await ev.frames.take(1, 'frames');
    assert.deepEqual(ev.admitted, [{ address: HOST, port: client.localPort }]);
  });

  it('beyond maxConnections: onReject("too-many-connections") and the extra client is closed', async (t) => {
    const { server, ev } = await tcpServer(t, { maxConnections: 1 });
    const first = await tcpClient(t, server.port);
    first.write(slipEncode(encodeOscPacket(oscMessage('/first'))));
    await ev.frames.take(1, 'frames'); // the server has accepted the first connection
    assert.equal(server.connections, 1);

    const second = await tcpClient(t, server.port);
    const [rej] = await ev.rejects.take(1, 'rejects');
    assert.equal(rej!.code, 'too-many-connections');
    assert.deepEqual(rej!.from, { address: HOST, port: second.localPort });
    await closed(second);
    assert.equal(server.connections, 1);

    // The first connection still works.
    first.write(slipEncode(encodeOscPacket(oscMessage('/still'))));
    const frames = await ev.frames.take(2, 'frames');
    assert.deepEqual(frames[1]!.frame, Array.from(encodeOscPacket(oscMessage('/still'))));
  });

  it('an oversize frame is rejected with "oversize" and the next frame still arrives', async (t) => {
    const { server, ev } = await tcpServer(t, { maxFrameBytes: 32 });
    const client = await tcpClient(t, server.port);
    const big = encodeOscPacket(oscMessage('/big', [{ type: 'b', value: new Uint8Array(64) }]));
    const small = encodeOscPacket(oscMessage('/ok'));
    client.write(Buffer.concat([slipEncode(big), slipEncode(small)]));
    const [rej] = await ev.rejects.take(1, 'rejects');
    assert.equal(rej!.code, 'oversize');
    assert.deepEqual(rej!.from, { address: HOST, port: client.localPort });
    const [f] = await ev.frames.take(1, 'frames');
    assert.deepEqual(f!.frame, Array.from(small));
    assert.equal(ev.rejects.items.length, 1);
  });

  it('a bad escape is rejected with "bad-escape"', async (t) => {
    const { server, ev } = await tcpServer(t);
    const client = await tcpClient(t, server.port);
    client.write(Uint8Array.from([0xc0, 0x2f, 0xdb, 0x00, 0xc0]));
    const [rej] = await ev.rejects.take(1, 'rejects');
    assert.equal(rej!.code, 'bad-escape');
  });

  it('send reaches the client SLIP-framed', async (t) => {
    const { server, ev } = await tcpServer(t);
    const client = await tcpClient(t, server.port);
    const received = inbox<number[]>();
    const decoder = createSlipDecoder({
      maxFrameBytes: 1024,
      onFrame: (f) => received.push(Array.from(f)),
      onError: (code) => assert.fail(`client saw ${code}`),
    });
    const raw: number[] = [];
    client.on('data', (chunk: Buffer) => {
      raw.push(...chunk);
      decoder.push(chunk);
    });
    client.write(slipEncode(encodeOscPacket(oscMessage('/subscribe'))));
    const [first] = await ev.frames.take(1, 'frames');
    const conn = first!.conn;

    const reply = encodeOscPacket(oscMessage('/reply', [{ type: 'i', value: 0xc0 }])); // contains END
    assert.equal(conn.send(reply), true);
    const [frame] = await received.take(1, 'frames at the client');
    assert.deepEqual(frame, Array.from(reply));
    assert.deepEqual(raw, Array.from(slipEncode(reply)));
    assert.equal(raw[0], 0xc0);
    assert.equal(raw.at(-1), 0xc0);
  });

  it('close() ends open connections and reports them through onClose', async (t) => {
    const { server, ev } = await tcpServer(t);
    const a = await tcpClient(t, server.port);
    const b = await tcpClient(t, server.port);
    a.write(slipEncode(encodeOscPacket(oscMessage('/a'))));
    b.write(slipEncode(encodeOscPacket(oscMessage('/b'))));
    const frames = await ev.frames.take(2, 'frames');
    assert.equal(server.connections, 2);

    await bounded(server.close(), 'server close');
    await closed(a);
    await closed(b);
    const gone = await ev.closes.take(2, 'closes');
    assert.deepEqual(gone.map((c) => c.id).sort(), frames.map((f) => f.conn.id).sort());
    assert.equal(server.connections, 0);
    // send on a closed connection reports the drop instead of throwing.
    assert.equal(frames[0]!.conn.send(Uint8Array.from([1])), false);
  });
});

async function tcpClientFrom(t: TestContext, port: number, localAddress: string): Promise<Socket> {
  const s = connect({ host: HOST, port, localAddress });
  s.on('error', () => {});
  t.after(() => {
    s.destroy();
  });
  await bounded(once(s, 'connect'), 'tcp connect');
  return s;
}

const decodeAddress = (frame: number[]): string => {
  const r = decodeOscPacket(Uint8Array.from(frame), { maxBytes: 1024, maxDepth: 2 });
  assert.ok(r.ok && r.packet.kind === 'message');
  return r.packet.address;
};

const frameOf = (address: string) => slipEncode(encodeOscPacket(oscMessage(address)));

describe('OSC over TCP (size-prefixed, OSC 1.0, as liblo sends it)', () => {
  const packet = (address: string, value = 1) => encodeOscPacket(oscMessage(address, [{ type: 'i', value }]));

  it('reads size-prefixed frames split anywhere, and answers the client in its own framing', async (t) => {
    const { server, ev } = await tcpServer(t);
    const client = await tcpClient(t, server.port);
    const received = inbox<number[]>();
    const decoder = createLengthPrefixDecoder({
      maxFrameBytes: 1024,
      onFrame: (f) => received.push(Array.from(f)),
      onError: (code) => assert.fail(`client saw ${code}`),
    });
    client.on('data', (chunk: Buffer) => decoder.push(chunk));
    const a = packet('/a');
    const b = packet('/b', 0xc0); // an END byte inside means nothing here
    const stream = Buffer.concat([lengthPrefixEncode(a), lengthPrefixEncode(b)]);
    // Split inside the first size prefix and inside the second frame.
    client.write(stream.subarray(0, 2));
    await new Promise((r) => setImmediate(r));
    client.write(stream.subarray(2, 15));
    client.write(stream.subarray(15));
    const two = await ev.frames.take(2, 'frames');
    assert.deepEqual(
      two.map((f) => f.frame),
      [Array.from(a), Array.from(b)],
    );
    assert.equal(two[0]!.conn.framing, 'length-prefix');

    const reply = packet('/reply', 0xc0);
    assert.equal(two[0]!.conn.send(reply), true);
    const [frame] = await received.take(1, 'frames at the client');
    assert.deepEqual(frame, Array.from(reply));
    assert.deepEqual(ev.rejects.items, []);
  });

  it('a SLIP client on the same server still gets SLIP back', async (t) => {
    const { server, ev } = await tcpServer(t);
    const sized = await tcpClient(t, server.port);
    const slip = await tcpClient(t, server.port);
    sized.write(lengthPrefixEncode(packet('/sized')));
    slip.write(slipEncode(packet('/slip')));
    const frames = await ev.frames.take(2, 'frames');
    const framings = Object.fromEntries(frames.map((f) => [decodeAddress(f.frame), f.conn.framing] as const));
    assert.deepEqual(framings, { '/sized': 'length-prefix', '/slip': 'slip' });
  });

  it('the attacker: a size over the frame limit, or zero, is refused and the connection closed, nothing applied', async (t) => {
    const { server, ev } = await tcpServer(t);
    const big = await tcpClient(t, server.port);
    // After a good frame, 4 GiB - 1: read as unsigned; nothing is allocated for it. (As a
    // first byte 0xFF would mean SLIP: only 0x00 starts a size-prefixed stream.)
    big.write(
      Buffer.concat([
        lengthPrefixEncode(packet('/first')),
        Buffer.from([0xff, 0xff, 0xff, 0xff]),
        lengthPrefixEncode(packet('/after')),
      ]),
    );
    await closed(big);
    const zero = await tcpClient(t, server.port);
    zero.write(Buffer.concat([Buffer.from([0, 0, 0, 0]), lengthPrefixEncode(packet('/after'))]));
    await closed(zero);
    const rejects = await ev.rejects.take(2, 'rejects');
    assert.deepEqual(
      rejects.map((r) => r.code),
      ['oversize', 'empty-frame'],
    );
    assert.match(rejects[0]!.message, /4294967295 bytes, over the 1024-byte frame limit: closed/);
    assert.deepEqual(
      ev.frames.items.map((f) => decodeAddress(f.frame)),
      ['/first'],
      'nothing after the bad size',
    );
    assert.equal(server.connections, 0);
  });

  it('the attacker: a size prefix that promises more than ever comes is reaped as stalled', async (t) => {
    const clock = createFakeClock();
    const { server, ev } = await tcpServer(t, { stallMs: 500, timers: clock.timers, now: clock.now });
    const c = await tcpClient(t, server.port);
    c.write(Buffer.concat([lengthPrefixEncode(packet('/whole')), Buffer.from([0, 0, 3, 0, 1, 2])]));
    await ev.frames.take(1, 'frames');
    await clock.advance(600);
    await closed(c);
    assert.equal(ev.rejects.items[0]!.code, 'tcp-stalled');
  });
});

describe('OSC over TCP: idle reaping and connection slots per source', () => {
  it('closes a half-sent frame after stallMs and a silent connection after idleMs, on the injected clock', async (t) => {
    const clock = createFakeClock();
    const { server, ev } = await tcpServer(t, {
      idleMs: 1000,
      stallMs: 500,
      timers: clock.timers,
      now: clock.now,
    });
    const active = await tcpClient(t, server.port);
    const stalled = await tcpClient(t, server.port);
    const silent = await tcpClient(t, server.port);
    const [stalledPort, silentPort] = [stalled.localPort, silent.localPort];
    active.write(frameOf('/a'));
    // A whole frame, then the start of one that never ends (a slowloris).
    stalled.write(Buffer.concat([frameOf('/s'), Buffer.from('/half')]));
    await ev.frames.take(2, 'frames');
    assert.equal(ev.admitted.length, 3, 'the silent one is connected too');

    await clock.advance(600);
    await closed(stalled);
    assert.deepEqual(
      ev.rejects.items.map((r) => [r.code, r.from.port]),
      [['tcp-stalled', stalledPort]],
    );
    active.write(frameOf('/still-here'));
    await ev.frames.take(3, 'frames');

    await clock.advance(500);
    await closed(silent);
    assert.deepEqual(
      ev.rejects.items.map((r) => [r.code, r.from.port]),
      [
        ['tcp-stalled', stalledPort],
        ['tcp-idle', silentPort],
      ],
    );
    assert.equal(server.connections, 1, 'the connection that spoke within idleMs stays');
    assert.equal(active.destroyed, false);

    await clock.advance(1500);
    await closed(active);
    assert.equal(ev.rejects.items.at(-1)!.code, 'tcp-idle');
    assert.equal(server.connections, 0);
    assert.equal(clock.pending(), 0, 'no sweep runs while no connection is open');
  });

  it('a frame trickled a byte at a time is still reaped: the clock starts at its first byte', async (t) => {
    const clock = createFakeClock();
    const { server, ev } = await tcpServer(t, { stallMs: 500, timers: clock.timers, now: clock.now });
    const c = await tcpClient(t, server.port);
    c.write(Buffer.concat([frameOf('/x'), Buffer.from('/')]));
    await ev.frames.take(1, 'frames');
    for (let i = 0; i < 4; i++) {
      await clock.advance(100);
      c.write('a');
    }
    await clock.advance(200);
    await closed(c);
    assert.equal(ev.rejects.items[0]!.code, 'tcp-stalled');
  });

  it('32 idle connections from one address do not lock out a controller from another', async (t) => {
    const { server, ev } = await tcpServer(t, { maxConnections: 32, maxConnectionsPerSource: 8 });
    const hog: Socket[] = [];
    for (let i = 0; i < 32; i++) hog.push(await tcpClientFrom(t, server.port, '127.0.0.2'));
    await ev.rejects.take(24, 'evictions');
    assert.ok(ev.rejects.items.every((r) => r.code === 'tcp-evicted' && r.from.address === '127.0.0.2'));
    // The oldest went first: the 8 most recent remain.
    await Promise.all(hog.slice(0, 24).map(closed));
    assert.equal(server.connections, 8);
    const controller = await tcpClient(t, server.port);
    controller.write(frameOf('/fader'));
    const [f] = await ev.frames.take(1, 'frames');
    assert.equal(f!.conn.address, HOST);
    assert.equal(server.connections, 9);
  });

  it('when every slot is taken, a newcomer takes one from the address holding the most, down to an even share', async (t) => {
    const { server, ev } = await tcpServer(t, { maxConnections: 6, maxConnectionsPerSource: 3 });
    const a: Socket[] = [];
    const b: Socket[] = [];
    for (let i = 0; i < 3; i++) a.push(await tcpClientFrom(t, server.port, '127.0.0.2'));
    for (let i = 0; i < 3; i++) b.push(await tcpClientFrom(t, server.port, '127.0.0.3'));
    // A client's connect can come before the server's accept: wait for the server's side.
    assert.ok(await waitFor(() => ev.admitted.length === 6, WAIT_MS), 'the server accepted all six');
    b[0]!.write(frameOf('/b0')); // b's first is the least recently connected, but it spoke last
    await ev.frames.take(1, 'frames');
    const c1 = await tcpClientFrom(t, server.port, '127.0.0.4');
    await closed(a[0]!);
    const c2 = await tcpClientFrom(t, server.port, '127.0.0.4');
    await closed(b[1]!);
    assert.equal(b[0]!.destroyed, false, 'the connection that spoke stays');
    assert.deepEqual(
      ev.rejects.items.map((r) => [r.code, r.from.address]),
      [
        ['tcp-evicted', '127.0.0.2'],
        ['tcp-evicted', '127.0.0.3'],
      ],
    );
    // 2 + 2 + 2: an even share. A third from 127.0.0.4 would make it the biggest: refused.
    const c3 = await tcpClientFrom(t, server.port, '127.0.0.4');
    await closed(c3);
    assert.equal(ev.rejects.items.at(-1)!.code, 'too-many-connections');
    c1.write(frameOf('/c1'));
    c2.write(frameOf('/c2'));
    await ev.frames.take(3, 'frames');
    assert.equal(server.connections, 6);
  });
});
