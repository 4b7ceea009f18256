// OSC ingest end to end (socket → decode → validate → apply in a real daemon) against a bare
// dgram socket receiving the same traffic from the same sender process, in the same run.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeOscPacket } from '../../protocols/osc/codec.ts';
import { startDaemon, type TestDaemon } from '../helpers/daemon.ts';

const exec = promisify(execFile);
const SENDER = join(import.meta.dirname, 'osc-sender.ts');
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

type Sent = { sent: number; errors: number; elapsedMs: number; sendTimes: number[] };

async function sender(port: number, ...args: (string | number)[]): Promise<Sent> {
  const { stdout } = await exec(process.execPath, [SENDER, String(port), ...args.map(String)], {
    timeout: 120_000,
  });
  return JSON.parse(stdout);
}

/** A bare receiver: counts datagrams, records receive times of `/bench/seq` when asked. */
async function bareReceiver() {
  const socket = createSocket('udp4');
  let received = 0;
  let times: Map<number, number> | undefined;
  socket.on('message', (m) => {
    received++;
    if (times) times.set(m.readInt32BE(m.length - 4), nowMs());
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  socket.setRecvBufferSize(4 * 1024 * 1024);
  return {
    port: socket.address().port,
    count: () => received,
    record: () => {
      times = new Map();
      return times;
    },
    close: () => socket.close(),
  };
}

async function accepted(d: TestDaemon): Promise<number> {
  return (await d.status()).ingest.writes as number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export async function run(report: (line: string) => void): Promise<void> {
  const d = await startDaemon({
    config: {
      osc: { rateLimit: { unitsPerSecond: 1e9, burst: 65_536 }, fairness: { cpuShare: 1 } },
      params: { '/bench/seq': { type: 'int', min: 0, max: 2147483647 } },
    },
  });
  const bare = await bareReceiver();
  try {
    // 1. Saturation: the same blast at each receiver; accepted per second of sending.
    const N = 200_000;
    const b0 = bare.count();
    const sb = await sender(bare.port, 'blast', N);
    await new Promise((r) => setTimeout(r, 200));
    const bareRate = (bare.count() - b0) / (sb.elapsedMs / 1000);
    const d0 = await accepted(d);
    const sd = await sender(d.udpPort, 'blast', N);
    await new Promise((r) => setTimeout(r, 500));
    const hanaRate = ((await accepted(d)) - d0) / (sd.elapsedMs / 1000);
    report(`saturation (${N} packets, one sender process, blast)`);
    report(
      `  bare dgram socket  ${Math.round(bareRate).toLocaleString('en')} packets/s received (sender ${Math.round(N / (sb.elapsedMs / 1000)).toLocaleString('en')}/s)`,
    );
    report(
      `  hana end to end    ${Math.round(hanaRate).toLocaleString('en')} packets/s applied  (sender ${Math.round(N / (sd.elapsedMs / 1000)).toLocaleString('en')}/s)`,
    );
    report(`  ratio hana/bare    ${(hanaRate / bareRate).toFixed(2)}`);

    // 2. Loss at paced rates, 1 s each.
    report('loss at paced rates (1 s each)');
    for (const rate of [10_000, 20_000, 50_000, 100_000]) {
      const b1 = bare.count();
      const pb = await sender(bare.port, 'paced', rate, rate);
      await new Promise((r) => setTimeout(r, 200));
      const bareLoss = 1 - (bare.count() - b1) / pb.sent;
      const h1 = await accepted(d);
      const ph = await sender(d.udpPort, 'paced', rate, rate);
      await new Promise((r) => setTimeout(r, 500));
      const hanaLoss = 1 - ((await accepted(d)) - h1) / ph.sent;
      const achieved = Math.round(ph.sent / (ph.elapsedMs / 1000));
      report(
        `  ${String(rate).padStart(6)}/s  bare loss ${(bareLoss * 100).toFixed(2)} %   hana loss ${(hanaLoss * 100).toFixed(2)} %   (sender achieved ${achieved.toLocaleString('en')}/s)`,
      );
    }

    // 3. Latency at 1k/s: bare one-way vs hana send → applied → feedback received.
    const times = bare.record();
    const lb = await sender(bare.port, 'paced', 1000, 1000);
    await new Promise((r) => setTimeout(r, 100));
    const bareLat = lb.sendTimes
      .map((t, i) => (times.get(i) ?? Number.NaN) - t)
      .filter(Number.isFinite)
      .sort((a, b) => a - b);

    const fb = createSocket('udp4');
    const fbTimes = new Map<number, number>();
    fb.on('message', (m) => {
      const t = nowMs();
      const r = decodeOscPacket(m, { maxBytes: 65536, maxDepth: 4 });
      if (r.ok && r.packet.kind === 'message' && r.packet.address === '/bench/seq') {
        fbTimes.set(r.packet.args[0]!.value as number, t);
      }
    });
    await new Promise<void>((r) => fb.bind(0, '127.0.0.1', () => r()));
    const { encodeOscPacket, oscMessage } = await import('../../protocols/osc/codec.ts');
    fb.send(encodeOscPacket(oscMessage('/hana/subscribe')), d.udpPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 200));
    fbTimes.clear();
    // Start from a value the store does not hold, so every packet is a change (and fed back).
    fb.send(
      encodeOscPacket(oscMessage('/bench/seq', [{ type: 'i', value: 999_999 }])),
      d.udpPort,
      '127.0.0.1',
    );
    await new Promise((r) => setTimeout(r, 50));
    const lh = await sender(d.udpPort, 'paced', 1000, 1000);
    await new Promise((r) => setTimeout(r, 200));
    fb.close();
    const hanaLat = lh.sendTimes
      .map((t, i) => (fbTimes.get(i) ?? Number.NaN) - t)
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const fmt = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
    report('latency at 1,000 packets/s (1,000 packets)');
    report(
      `  bare one-way                       p50 ${fmt(percentile(bareLat, 50))}  p99 ${fmt(percentile(bareLat, 99))}  (${bareLat.length} samples)`,
    );
    report(
      `  hana send→applied→feedback back    p50 ${fmt(percentile(hanaLat, 50))}  p99 ${fmt(percentile(hanaLat, 99))}  (${hanaLat.length} samples; an upper bound of send→applied)`,
    );
  } finally {
    bare.close();
    await d.stop();
  }
}
