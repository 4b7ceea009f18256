import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { createRewriter, type From, type RelayMode } from './dtls-relay.ts';

// The DTLS man in the middle of test/helpers/dtls-relay.ts as a process of its own, so it can
// run inside a network namespace (`ip netns exec <ns> node … this-file <json>`) as a laptop on
// the bridge would, not on the test's loopback. The rewriter is the same; only the sockets
// differ: they bind the namespace's own address, which the test created.
//
// argv[2]: JSON { bind, target: { address, port }, mode }. Prints `{"port":…}` once listening;
// then answers each line "stats" on stdin with the rewriter's stats as one JSON line, and
// exits when stdin closes (the test went away) or on SIGTERM.

type Init = { bind: string; target: { address: string; port: number }; mode: RelayMode };
const init = JSON.parse(process.argv[2] ?? '{}') as Init;
const rewriter = createRewriter(init.mode);
/** As the in-process relay: a few diallers at most, each with its own socket towards the target. */
const MAX_DIALLERS = 8;

function bindUdp(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, init.bind, () => {
      s.off('error', reject);
      // An ICMP port unreachable after a daemon stopped must not end the relay.
      s.on('error', () => {});
      resolve(s);
    });
  });
}

const front = await bindUdp();
const backs = new Map<string, Promise<Socket>>();
const pass = (msg: Uint8Array, from: From) => rewriter.rewrite(msg, from);

// The target sees one source per dialler, as it would see the dialler itself.
function backFor(address: string, port: number): Promise<Socket> | undefined {
  const key = `${address}:${port}`;
  const known = backs.get(key);
  if (known || backs.size >= MAX_DIALLERS) return known;
  const made = bindUdp().then((back) => {
    back.on('message', (msg) => front.send(pass(msg, 'target'), port, address));
    return back;
  });
  backs.set(key, made);
  return made;
}

front.on('message', (msg, rinfo) => {
  const out = pass(msg, 'dialler');
  // Datagrams wait on the same promise, so they leave in the order they came.
  void backFor(rinfo.address, rinfo.port)?.then((back) =>
    back.send(out, init.target.port, init.target.address),
  );
});

process.stdout.write(`${JSON.stringify({ port: front.address().port })}\n`);
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(`${JSON.stringify(rewriter.stats)}\n`);
});
lines.on('close', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
