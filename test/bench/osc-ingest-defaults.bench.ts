// OSC ingest with the default limits (osc-ingest.bench.ts lifts them): several apps on this
// machine at controller rates, each a separate sender process with its own port, against a bare
// dgram socket fed the same way in the same run; then a fan-out flood from eight ports while a
// performer moves a fader, with how long `hana status` takes to answer meanwhile.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { callDaemon } from '../../daemon/control/client.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import { encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';
import { startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { oscSender } from '../helpers/osc-client.ts';

const BLAST = join(import.meta.dirname, '..', 'helpers', 'osc-blast-cli.ts');
const APPS = 4;
const SECONDS = 2;

type Status = {
  ingest: { packets: number; writes: number; queuedUnits?: number; maxWaitUnits?: number };
  rejected: Record<string, number>;
};

/** Starts osc-blast-cli.ts; `done` waits for it (or stops it) and returns how many it sent. */
async function blast(port: number, count: number, rate: number, sockets: number, packets: Uint8Array[]) {
  const hex = packets.map((p) => Buffer.from(p).toString('hex'));
  const child: ChildProcess = spawn(
    process.execPath,
    [BLAST, String(port), String(count), String(rate), String(sockets), ...hex],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  await lines.next(); // "ready"
  return {
    async done(stop: boolean): Promise<number> {
      if (stop) child.kill('SIGTERM');
      const line = (await lines.next()).value as string;
      await once(child, 'exit');
      return (JSON.parse(line) as { sent: number }).sent;
    },
  };
}

const appPackets = (a: number) => [
  encodeOscPacket(oscMessage(`/app/${a}`, [{ type: 'f', value: 0.25 }])),
  encodeOscPacket(oscMessage(`/app/${a}`, [{ type: 'f', value: 0.75 }])),
];

/** Runs APPS senders at `total`/s together for SECONDS; resolves with how many they sent. */
async function apps(port: number, total: number): Promise<number> {
  const per = Math.round(total / APPS);
  const senders = await Promise.all(
    Array.from({ length: APPS }, (_, a) => blast(port, per * SECONDS, per, 1, appPackets(a))),
  );
  return (await Promise.all(senders.map((s) => s.done(false)))).reduce((x, y) => x + y, 0);
}

async function status(d: TestDaemon): Promise<Status> {
  const r = await callDaemon(controlSocketPath(d.home), 'status', {}, { timeoutMs: 60_000 });
  if (!r.ok) throw new Error(r.error.message);
  return r.result as Status;
}

async function settled(d: TestDaemon): Promise<Status> {
  for (;;) {
    const s = await status(d);
    if (!s.ingest.queuedUnits) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function run(report: (line: string) => void): Promise<void> {
  const params: Record<string, unknown> = {};
  for (let a = 0; a < APPS; a++) params[`/app/${a}`] = { type: 'float', min: 0, max: 1 };
  for (let i = 0; i < 2000; i++) params[`/p/${i}`] = { type: 'float', min: 0, max: 1 };
  params['/fader'] = { type: 'float', min: 0, max: 100000 };
  const d = await startDaemon({ config: { params } });
  const bare = createSocket('udp4');
  let bareCount = 0;
  bare.on('message', () => {
    bareCount++;
  });
  await new Promise<void>((r) => bare.bind(0, '127.0.0.1', () => r()));
  bare.setRecvBufferSize(4 * 1024 * 1024);
  try {
    report(`${APPS} apps, each its own process and port, ${SECONDS} s at each total rate, default limits`);
    for (const total of [10_000, 20_000, 40_000]) {
      const b0 = bareCount;
      const bs = await apps(bare.address().port, total);
      await new Promise((r) => setTimeout(r, 200));
      const bareShare = (bareCount - b0) / bs;
      const h0 = await status(d);
      const hs = await apps(d.udpPort, total);
      const h1 = await settled(d);
      const hanaShare = (h1.ingest.packets - h0.ingest.packets) / hs;
      const refused = ['flood', 'overload', 'too-costly']
        .map((r) => `${r} ${(h1.rejected[r] ?? 0) - (h0.rejected[r] ?? 0)}`)
        .join(', ');
      report(
        `  ${String(total).padStart(6)}/s  bare ${(bareShare * 100).toFixed(1)} %  hana ${(hanaShare * 100).toFixed(1)} %  ratio ${(hanaShare / bareShare).toFixed(2)}  refused: ${refused}`,
      );
    }

    report(
      'fan-out flood: 8 ports × 250 packets/s of /p/* (2,000 parameters, 4 M units/s offered), a fader at 100 moves/s',
    );
    const before = await status(d);
    const flood = await blast(
      d.udpPort,
      0,
      2000,
      8,
      [0.25, 0.75].map((v) => encodeOscPacket(oscMessage('/p/*', [{ type: 'f', value: v }]))),
    );
    const fader = await oscSender(d.udpPort);
    const statusMs: number[] = [];
    let last = 0;
    for (let i = 1; i <= 200; i++) {
      await fader.send(oscMessage('/fader', [{ type: 'f', value: i }]));
      last = i;
      if (i % 20 === 0) {
        const t = performance.now();
        await status(d);
        statusMs.push(performance.now() - t);
      } else await new Promise((r) => setTimeout(r, 10));
    }
    fader.close();
    await flood.done(true);
    const after = await settled(d);
    const r = await callDaemon(controlSocketPath(d.home), 'get', { pattern: '/fader' });
    const value = r.ok ? (r.result as { params: { value: number }[] }).params[0]!.value : Number.NaN;
    statusMs.sort((a, b) => a - b);
    report(
      `  fader at its last move: ${value === last ? 'yes' : `no (${value} of ${last})`}; applied ${after.ingest.writes - before.ingest.writes} units in all; longest fader wait ${after.ingest.maxWaitUnits ?? 'n/a'} units`,
    );
    report(
      `  hana status during the flood: median ${statusMs[statusMs.length >> 1]!.toFixed(0)} ms, worst ${statusMs.at(-1)!.toFixed(0)} ms (${statusMs.length} calls); flood refused ${(after.rejected.flood ?? 0) - (before.rejected.flood ?? 0)}, overload ${(after.rejected.overload ?? 0) - (before.rejected.overload ?? 0)}`,
    );
  } finally {
    bare.close();
    await d.stop();
  }
}
