// Replication, four scenarios, each beside a baseline measured in the same run:
//  0. what signatures cost (sync-signing.ts): propagation, bytes and CPU per update, signed
//     next to unsigned;
//  1. a fader on loopback: OSC messages into daemon A → applied on daemon B (over the verified
//     DTLS link), seen as B's OSC feedback arriving here, at 1k and 5k updates/s for 3 s each:
//     the share of the fader's values that arrived, and their p50/p99; baseline at the same
//     rate: the same two UDP hops through a bare relay socket (send → relay → receive);
//  2. coalescing: 10k updates/s into A for one second, on one path and spread over 1,000 paths:
//     sync datagrams and bytes per update A sent to B, against the entry's own path + value +
//     stamp bytes;
//  3. three laptops in namespaces with 10 % loss: one laptop cut off from both others for 10 s
//     while both sides write; time from heal until all three agree (root only).
// Daemons are real child processes; traffic stays on 127.0.0.0/8 or inside namespaces made here.
import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { callDaemon } from '../../daemon/control/client.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import type { PeerSyncView } from '../../daemon/sync/service.ts';
import { decodeOscPacket, encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';
import { eventually, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { meshUnavailable, startMesh } from '../helpers/mesh.ts';
import { signing } from './sync-signing.ts';

type Report = (line: string) => void;

/** The fader rates the propagation scenario runs at, updates/s (issue 18: controllers send 1–5k/s). */
const RATES = [1000, 5000];
const SECONDS = 3;
const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
const now = () => performance.now();

async function bindSocket(): Promise<Socket> {
  // A large receive buffer (up to net.core.rmem_max), so this process, spinning to pace its
  // sends on a loaded machine, does not itself drop what hana delivered in a burst.
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  await new Promise<void>((r) => s.bind({ address: '127.0.0.1', port: 0 }, () => r()));
  return s;
}
const portOf = (s: Socket) => s.address().port;

const turn = () => new Promise<void>((r) => setImmediate(r));

/** Sends `count` messages at `rate`/s, yielding to the event loop (receives) while ahead of schedule. */
async function paced(count: number, rate: number, send: (i: number) => void): Promise<void> {
  const start = now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    while (now() < due) await turn();
    send(i);
  }
}

function summary(lat: number[]): string {
  lat.sort((x, y) => x - y);
  return `p50 ${us(pct(lat, 50))}, p99 ${us(pct(lat, 99))} (n=${lat.length})`;
}

/** The baseline: the same two UDP hops through a bare relay socket, at `rate` for SECONDS. */
async function bareRelay(report: Report, rate: number): Promise<void> {
  const rx = await bindSocket();
  const relay = await bindSocket();
  const tx = await bindSocket();
  const count = rate * SECONDS;
  const sentAt = new Map<number, number>();
  const lat: number[] = [];
  relay.on('message', (m) => relay.send(m, portOf(rx), '127.0.0.1'));
  rx.on('message', (m) => {
    const t = sentAt.get(m.readUInt32BE(0));
    if (t !== undefined) lat.push(now() - t);
  });
  await paced(count, rate, (i) => {
    const b = Buffer.alloc(40);
    b.writeUInt32BE(i, 0);
    sentAt.set(i, now());
    tx.send(b, portOf(relay), '127.0.0.1');
  });
  await sleep(200);
  report(`  ${rate}/s  baseline bare UDP two hops (relay)    ${delivered(lat, count)}`);
  for (const s of [rx, relay, tx]) s.close();
}

/** UDP datagrams the kernel dropped for a full receive buffer, machine-wide (any process's socket). */
async function rcvbufErrors(): Promise<number | undefined> {
  try {
    const lines = (await readFile('/proc/net/snmp', 'utf8')).split('\n').filter((l) => l.startsWith('Udp:'));
    const [names, values] = lines.map((l) => l.split(/\s+/));
    const i = names?.indexOf('RcvbufErrors') ?? -1;
    return i > 0 ? Number(values?.[i]) : undefined;
  } catch {
    return undefined;
  }
}

/** Share of `count` values that arrived, and their latency. */
function delivered(lat: number[], count: number): string {
  return `delivered ${((100 * lat.length) / count).toFixed(1)} % (${lat.length}/${count}), ${summary(lat)}`;
}

async function pair(
  feedbackPort: number,
  params?: object,
  sync?: object,
): Promise<{ a: TestDaemon; b: TestDaemon }> {
  const b = await startDaemon({
    config: {
      name: 'bee',
      osc: { feedback: { targets: [{ host: '127.0.0.1', port: feedbackPort }] } },
      ...(params && { params }),
      ...(sync && { sync }),
    },
  });
  const a = await startDaemon({
    config: {
      name: 'ay',
      peers: { static: [`127.0.0.1:${b.peerPort}`] },
      ...(params && { params }),
      ...(sync && { sync }),
    },
  });
  const linked = await eventually(
    async () => (await a.status()).sync.links === 1 && (await b.status()).sync.links === 1,
    200,
    50,
  );
  if (!linked) throw new Error('daemons did not link');
  return { a, b };
}

async function syncView(d: TestDaemon, peer: string): Promise<PeerSyncView> {
  const r = await callDaemon(controlSocketPath(d.home), 'peers', {});
  if (!r.ok) throw new Error(r.error.message);
  const peers = (r.result as { peers: Array<{ id: string; sync: PeerSyncView | null }> }).peers;
  const v = peers.find((p) => p.id === peer)?.sync;
  if (!v) throw new Error('no sync view');
  return v;
}

/** `sync` overrides both daemons' sync config (to compare settings by hand; the bench runs the defaults). */
export async function propagation(report: Report, sync?: object, rates = RATES): Promise<void> {
  const fb = await bindSocket();
  const { a, b } = await pair(portOf(fb), undefined, sync);
  const tx = await bindSocket();
  try {
    for (const rate of rates) {
      // The figures depend on what else the laptop is doing: say how loaded it was.
      report(
        `  load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
      );
      await bareRelay(report, rate);
      const count = rate * SECONDS;
      // Each update carries a distinct value i/(count+1); B's feedback echoes it back with the
      // path. A float32 keeps far more precision than the step, so the index comes back exact.
      const sentAt = new Map<number, number>();
      const lat: number[] = [];
      const onFeedback = (m: Buffer) => {
        const d = decodeOscPacket(m, { maxBytes: 2048, maxDepth: 2 });
        if (!d.ok || d.packet.kind !== 'message' || d.packet.address !== '/layer/1/hue') return;
        const i = Math.round((d.packet.args[0]?.value as number) * (count + 1));
        const t = sentAt.get(i);
        if (t !== undefined) {
          lat.push(now() - t);
          sentAt.delete(i);
        }
      };
      fb.on('message', onFeedback);
      const dropsBefore = await rcvbufErrors();
      const before = await syncView(a, b.deviceId);
      const heardBefore = (await syncView(b, a.deviceId)).received;
      const gateBefore = (await b.status()).sync;
      await paced(count, rate, (i) => {
        sentAt.set(i + 1, now());
        tx.send(
          encodeOscPacket(oscMessage('/layer/1/hue', [{ type: 'f', value: (i + 1) / (count + 1) }])),
          a.udpPort,
          '127.0.0.1',
        );
      });
      // Values still on their way count as delivered: wait until B has been quiet for a
      // second (at most 10 s). On a loaded machine the last ones can be most of a second late.
      for (let quiet = 0, seen = -1, waited = 0; quiet < 1000 && waited < 10_000; waited += 100) {
        await sleep(100);
        quiet = lat.length === seen ? quiet + 100 : 0;
        seen = lat.length;
      }
      fb.off('message', onFeedback);
      const after = await syncView(a, b.deviceId);
      const heard = (await syncView(b, a.deviceId)).received - heardBefore;
      const drops = await rcvbufErrors();
      const gate = (await b.status()).sync;
      const dg = after.datagrams - before.datagrams;
      const perDatagram = (after.sent - before.sent) / Math.max(1, dg);
      report(
        `  ${rate}/s  hana OSC in on A → B → B's feedback  ${delivered(lat, count)}; ` +
          `sync: A sent ${after.sent - before.sent} updates, B received ${heard}, applied ${gate.applied - gateBefore.applied}, stale ${gate.stale - gateBefore.stale}; ` +
          `${perDatagram.toFixed(2)} updates per sync datagram, retransmits ${after.retransmits - before.retransmits}, ` +
          `coalesced ${(after.coalesced ?? 0) - (before.coalesced ?? 0)}, window ${after.window}, srtt ${after.srttMs?.toFixed(1) ?? '–'} ms; ` +
          `kernel receive-buffer drops on this machine meanwhile ${drops === undefined || dropsBefore === undefined ? '–' : drops - dropsBefore}`,
      );
      await sleep(300);
    }
  } finally {
    tx.close();
    fb.close();
    await a.stop();
    await b.stop();
  }
}

const GRID = Array.from({ length: 1000 }, (_, i) => `/grid/${i}/level`);

async function coalescing(report: Report): Promise<void> {
  const fb = await bindSocket();
  const params = Object.fromEntries(GRID.map((p) => [p, { type: 'float', min: 0, max: 1 }]));
  const { a, b } = await pair(portOf(fb), params);
  const tx = await bindSocket();
  try {
    for (const [label, paths] of [
      ['one path', GRID.slice(0, 1)],
      ['1,000 paths', GRID],
    ] as const) {
      const before = await syncView(a, b.deviceId);
      const count = 10_000;
      await paced(count, 10_000, (i) =>
        tx.send(
          encodeOscPacket(
            oscMessage(paths[i % paths.length]!, [{ type: 'f', value: ((i % 997) + 1) / 1000 }]),
          ),
          a.udpPort,
          '127.0.0.1',
        ),
      );
      await sleep(1500);
      const after = await syncView(a, b.deviceId);
      const sent = after.sent - before.sent;
      const dg = after.datagrams - before.datagrams;
      const bytes = after.bytes - before.bytes;
      // What the update itself is: path, an f64 value, and a stamp of 8-byte time + 4-byte counter.
      const own = Buffer.byteLength(paths[0]!) + 8 + 12;
      report(
        `  10k/s on ${label}: ${count} OSC updates → ${sent} sync updates in ${dg} datagrams ` +
          `(${(dg / count).toFixed(3)} datagrams and ${(bytes / count).toFixed(1)} bytes per OSC update); ` +
          `${(bytes / Math.max(1, sent)).toFixed(1)} bytes per sent update vs ${own} of path+value+stamp ` +
          `(${(bytes / Math.max(1, sent) / own).toFixed(2)}×), retransmits ${after.retransmits - before.retransmits}`,
      );
    }
  } finally {
    tx.close();
    fb.close();
    await a.stop();
    await b.stop();
  }
}

async function stateOf(d: TestDaemon): Promise<string> {
  const r = await callDaemon(controlSocketPath(d.home), 'get', { pattern: '//*' });
  if (!r.ok) throw new Error(r.error.message);
  return JSON.stringify(
    (r.result as { params: Array<{ path: string; value: unknown }> }).params.map((p) => [p.path, p.value]),
  );
}

async function set(d: TestDaemon, path: string, value: string): Promise<void> {
  const r = await callDaemon(controlSocketPath(d.home), 'set', { path, words: [value] });
  if (!r.ok) throw new Error(r.error.message);
}

const ROUNDS = 3;
const CUT_MS = 10_000;

async function healing(report: Report): Promise<void> {
  const skip = meshUnavailable();
  if (skip) {
    report(`  skipped: ${skip}`);
    return;
  }
  const mesh = await startMesh({ count: 3 });
  try {
    const [a, b, c] = mesh.daemons as [TestDaemon, TestDaemon, TestDaemon];
    const linked = await eventually(
      async () => (await Promise.all(mesh.daemons.map((d) => d.status()))).every((s) => s.sync.links === 2),
      300,
      100,
    );
    if (!linked) throw new Error('mesh did not link');
    await mesh.loss(10);
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Laptop a loses its cable: cut from b and from c.
      await mesh.partition(0, 1);
      await mesh.partition(0, 2);
      const cutAt = now();
      for (let i = 0; i < 20; i++) {
        await set(a, `/layer/${(i % 4) + 1}/opacity`, String(((round * 20 + i) % 100) / 100));
        await set(b, `/layer/${(i % 4) + 1}/hue`, String(((round * 7 + i) % 100) / 100));
        await set(c, '/master/opacity', String(((round + i) % 10) / 10));
      }
      await sleep(Math.max(0, CUT_MS - (now() - cutAt)));
      await mesh.heal();
      const healedAt = now();
      let agreed = Number.NaN;
      for (let tries = 0; tries < 3000 && now() - healedAt < 30_000; tries++) {
        const views = await Promise.all(mesh.daemons.map(stateOf));
        if (views.every((v) => v === views[0])) {
          agreed = now() - healedAt;
          break;
        }
        await sleep(10);
      }
      times.push(agreed);
      report(
        `  round ${round + 1}: cut ${CUT_MS / 1000} s under 10 % loss → all three agree ${agreed.toFixed(0)} ms after the heal`,
      );
      await sleep(2000);
    }
  } finally {
    await mesh.close();
  }
}

export async function run(report: Report): Promise<void> {
  report(
    'signed writes next to the same run without signatures (two sync services, loopback UDP, 1k updates/s):',
  );
  await signing(report);
  report(
    `a fader at ${RATES.map((r) => `${r / 1000}k`).join(' and ')} updates/s on loopback, ${SECONDS} s each:`,
  );
  await propagation(report);
  report('coalescing:');
  await coalescing(report);
  report('three laptops in namespaces, 10 % loss, one cut off for 10 s:');
  await healing(report);
}
