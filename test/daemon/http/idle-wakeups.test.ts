import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { answerClientErrors, createBoundedServer, startHeartbeat } from '../../../daemon/http/serve.ts';
import { startDaemon } from '../../helpers/daemon.ts';

// Issue 18: an idle daemon must be idle. Each HTTP server's request-timeout check and each
// WebSocket heartbeat ran for the server's whole life; they now run only while there is a
// connection to check, and must still reap when one comes.

const sockets: Socket[] = [];
after(() => {
  for (const s of sockets) s.destroy();
});

/** Connects and sends a request line and one header, never the blank line that ends it. */
function halfSent(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
      resolve(s);
    });
    s.on('error', () => {});
    s.once('error', reject);
    s.resume();
    sockets.push(s);
  });
}

async function closedWithin(s: Socket, ms: number): Promise<boolean> {
  for (let t = 0; t < ms && !s.closed; t += 20) await sleep(20);
  return s.closed;
}

/** Counts the intervals set and cleared through the global timers while `fn` runs. */
async function countIntervals<T>(fn: (live: () => number) => Promise<T>): Promise<T> {
  const set = globalThis.setInterval;
  const clear = globalThis.clearInterval;
  const live = new Set<unknown>();
  globalThis.setInterval = ((...a: Parameters<typeof setInterval>) => {
    const t = set(...a);
    live.add(t);
    return t;
  }) as typeof setInterval;
  globalThis.clearInterval = ((t: Parameters<typeof clearInterval>[0]) => {
    live.delete(t);
    clear(t);
  }) as typeof clearInterval;
  try {
    return await fn(() => live.size);
  } finally {
    globalThis.setInterval = set;
    globalThis.clearInterval = clear;
  }
}

describe('wake-ups only while something is connected', () => {
  it('a bounded server checks request timeouts only while a connection is open, and still reaps a half-sent request after an idle spell', async () => {
    await countIntervals(async (live) => {
      const server = createBoundedServer(200);
      const reaped: string[] = [];
      answerClientErrors(server, (kind) => reaped.push(kind));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const { port } = server.address() as { port: number };
        assert.equal(live(), 0, 'no check armed with no connection');
        // Node's own interval (under a private symbol) is stopped: it is what woke idle daemons.
        const key = Object.getOwnPropertySymbols(server).find(
          (k) => k.description === 'http.server.connectionsCheckingInterval',
        );
        const nodeTimer = key && (server as unknown as Record<symbol, { _destroyed?: boolean }>)[key];
        assert.equal(nodeTimer?._destroyed, true, "Node's own request check still runs");
        for (let round = 1; round <= 2; round++) {
          const s = await halfSent(port);
          assert.ok(await closedWithin(s, 10_000), `round ${round}: the half-sent request was not reaped`);
          assert.equal(reaped.length, round, `round ${round}: reaped as a timeout`);
          for (let i = 0; i < 100 && live() > 0; i++) await sleep(20);
          assert.equal(live(), 0, `round ${round}: the check stops once the connection is gone`);
          await sleep(300); // an idle spell longer than the check's interval
        }
        assert.deepEqual(reaped, ['timeout', 'timeout']);
      } finally {
        server.close();
      }
    });
  });

  it('a heartbeat pings only while a WebSocket is connected', async () => {
    await countIntervals(async (live) => {
      const hb = startHeartbeat(20);
      assert.equal(live(), 0, 'nothing to ping: no timer');
      let pings = 0;
      let terminated = false;
      const ws = {
        on: () => ws,
        ping: () => pings++,
        terminate: () => {
          terminated = true;
        },
      } as unknown as WebSocket;
      hb.add(ws);
      assert.equal(live(), 1);
      for (let i = 0; i < 100 && !terminated; i++) await sleep(20);
      assert.ok(pings >= 1 && terminated, 'a peer that answers no ping is dropped');
      hb.delete(ws);
      assert.equal(live(), 0, 'the last peer gone: no timer');
      hb.stop();
    });
  });

  // Before this, an idle daemon with no plugins woke 5 times a second (three HTTP servers'
  // request checks, the audit coalescer, the sync release loop); the context switches of its
  // main thread count every wake-up, whatever set it.
  it('an idle daemon with nothing connected hardly wakes its main thread', async () => {
    const d = await startDaemon();
    try {
      const pid = d.proc.pid!;
      const switches = async () => {
        const s = await readFile(`/proc/${pid}/task/${pid}/status`, 'utf8');
        return (
          Number(/\nvoluntary_ctxt_switches:\s+(\d+)/.exec(s)![1]) +
          Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(s)![1])
        );
      };
      await sleep(2000); // start-up work settles
      const a = await switches();
      await sleep(4000);
      const n = (await switches()) - a;
      assert.ok(n <= 4, `${n} wake-ups of the main thread in 4 s idle (12-20 before)`);
    } finally {
      await d.stop();
    }
  });
});
