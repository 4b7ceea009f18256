// OSC ingest at show rates with the default config (one declared parameter, default limits):
// four apps on this machine, each its own sender process and port, at 10k, 20k and 50k msgs/s
// together, into the daemon, a bare dgram socket and liblo's server (Debian liblo-dev; skipped
// with a reason without it), each receiver a process of its own, so accepted/s, loss and CPU
// time per message are measured the same way for all three in the same run.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';
import { startDaemon } from '../helpers/daemon.ts';

const exec = promisify(execFile);
const BLAST = join(import.meta.dirname, '..', 'helpers', 'osc-blast-cli.ts');
const BARE = join(import.meta.dirname, 'bare-receiver-cli.ts');
const LIBLO_C = join(import.meta.dirname, 'liblo-receiver.c');
const APPS = 4;
const SECONDS = 1;
const RATES = [10_000, 20_000, 50_000];
/**
 * Rounds per rate, the receivers taking turns in each, who goes first rotating from round to
 * round: on a laptop whose load moves, one round's ratio went from 1.09× to 2.33× between runs
 * minutes apart, and from 1.11× to 1.73× between rounds a minute apart (docs/bench.md). Many
 * short rounds, each ratio taken within its own round, and their median with the range, is the
 * figure to read.
 */
const ROUNDS = 7;
/**
 * Messages each receiver takes, unmeasured except as the "cold" line, before the rounds: V8
 * compiles the daemon's OSC path in tiers as it runs. With V8's code log (`--log-code`), 10k
 * fader messages/s from four apps: after 10,000 messages `handleUdp` was Maglev code and the
 * ingest's `apply` too; after 20,000 `handleUdp` was TurboFan code, after 30,000 both `apply`s
 * (docs/bench.md, "Seventh round"). Without this the first rounds at 10k/s measured a
 * half-compiled daemon against a bare socket whose handler has next to nothing to compile. A
 * show runs warm after its first seconds; the cold figure is still printed.
 */
const WARM_UP_RATE = 20_000;
const WARM_UP_TURNS = 3;

type Receiver = {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** Messages accepted so far. */
  count(): Promise<number>;
  /** Whether everything received has been handled (the daemon's queue is empty). */
  drained(): Promise<boolean>;
  close(): Promise<void>;
};

/** CPU time of a process in µs (user + system), from the scheduler's nanosecond counter. */
async function cpuUs(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/schedstat`, 'utf8');
  return Number(text.split(' ')[0]) / 1000;
}

/** A child that prints its port, then answers each stdin line with a count. */
async function lineReceiver(name: string, cmd: string, args: string[]): Promise<Receiver> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const port = Number((await lines.next()).value);
  return {
    name,
    port,
    pid: child.pid!,
    async count() {
      child.stdin!.write('\n');
      return Number((await lines.next()).value);
    },
    drained: async () => true,
    async close() {
      child.stdin!.end();
      await once(child, 'exit');
    },
  };
}

async function liblo(): Promise<Receiver | string> {
  const bin = join(tmpdir(), `hana-bench-liblo-${process.pid}`);
  try {
    await exec('cc', ['-O2', '-o', bin, LIBLO_C, '-llo']);
  } catch (err) {
    return `skipped: cannot build the liblo receiver (${(err as Error).message.split('\n')[0]}); apt-get install liblo-dev`;
  }
  return lineReceiver('liblo server', bin, []);
}

/** APPS sender processes at `total`/s together for SECONDS; resolves with how many they sent. */
async function apps(port: number, total: number): Promise<number> {
  const per = Math.round(total / APPS);
  const runs = Array.from({ length: APPS }, async (_, a) => {
    const packets = [a, a + 0.5].map((v) =>
      Buffer.from(encodeOscPacket(oscMessage('/bench/value', [{ type: 'f', value: v }]))).toString('hex'),
    );
    const child = spawn(
      process.execPath,
      [BLAST, String(port), String(per * SECONDS), String(per), '1', ...packets],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    await lines.next(); // ready
    const done = (JSON.parse((await lines.next()).value as string) as { sent: number }).sent;
    await once(child, 'exit');
    return done;
  });
  return (await Promise.all(runs)).reduce((x, y) => x + y, 0);
}

/** One receiver's turn: `total`/s from the apps for SECONDS; what it accepted and its CPU time. */
async function measure(r: Receiver, total: number): Promise<{ accepted: number; sent: number; cpu: number }> {
  const c0 = await r.count();
  const t0 = await cpuUs(r.pid);
  const sent = await apps(r.port, total);
  await new Promise((res) => setTimeout(res, 200));
  // Read before asking the daemon anything: a status call costs it about a millisecond
  // of CPU, a tenth of a microsecond a message here, which bare's counter does not pay.
  let t1 = await cpuUs(r.pid);
  for (let i = 0; i < 100 && !(await r.drained()); i++) {
    await new Promise((res) => setTimeout(res, 50));
    t1 = await cpuUs(r.pid);
  }
  return { accepted: (await r.count()) - c0, sent, cpu: t1 - t0 };
}

export async function run(report: (line: string) => void): Promise<void> {
  const d = await startDaemon({
    config: { params: { '/bench/value': { type: 'float', min: 0, max: 1000 } } },
  });
  const status = async () =>
    (await d.status()) as unknown as {
      ingest: { packets: number; queuedUnits?: number };
      rejected: Record<string, number>;
    };
  const hana: Receiver = {
    name: 'hana (defaults)',
    port: d.udpPort,
    pid: d.proc.pid!,
    count: async () => (await status()).ingest.packets,
    drained: async () => !(await status()).ingest.queuedUnits,
    close: async () => {
      await d.stop();
    },
  };
  const bare = await lineReceiver('bare dgram', process.execPath, [BARE]);
  const lo = await liblo();
  const receivers = [bare, hana, ...(typeof lo === 'string' ? [] : [lo])];
  try {
    report(
      `${APPS} apps (a process and port each), ${SECONDS} s per rate, /bench/value f; each receiver its own process`,
    );
    if (typeof lo === 'string') report(`  liblo ${lo}`);
    const cold: Record<string, { accepted: number; cpu: number }> = Object.fromEntries(
      receivers.map((r) => [r.name, { accepted: 0, cpu: 0 }]),
    );
    for (let i = 0; i < WARM_UP_TURNS; i++)
      for (const r of receivers) {
        const m = await measure(r, WARM_UP_RATE);
        const c = cold[r.name]!;
        c.accepted += m.accepted;
        c.cpu += m.cpu;
      }
    const perMsg = (c: { accepted: number; cpu: number }) => c.cpu / Math.max(1, c.accepted);
    report(
      `  warm-up, not counted below: ${WARM_UP_TURNS} turns of ${SECONDS} s at ${WARM_UP_RATE.toLocaleString('en')}/s each; CPU/msg cold ${receivers
        .slice(1)
        .map((r) => `${r.name} ${(perMsg(cold[r.name]!) / perMsg(cold[bare.name]!)).toFixed(2)}×`)
        .join(', ')} bare`,
    );
    for (const total of RATES) {
      report(`  ${total.toLocaleString('en')}/s offered`);
      const ratios: number[] = [];
      const accepts: number[] = [];
      const libloRatios: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const rows: { name: string; accepted: number; sent: number; cpu: number }[] = [];
        const refused0 = (await status()).rejected;
        const turn = receivers.map((_, i) => receivers[(i + round - 1) % receivers.length]!);
        for (const r of turn) rows.push({ name: r.name, ...(await measure(r, total)) });
        rows.sort(
          (a, b) =>
            receivers.findIndex((r) => r.name === a.name) - receivers.findIndex((r) => r.name === b.name),
        );
        const refused1 = (await status()).rejected;
        const base = rows[0]!;
        const basePerMsg = base.cpu / Math.max(1, base.accepted);
        report(`   round ${round}`);
        for (const row of rows) {
          const loss = 1 - row.accepted / row.sent;
          const perMsg = row.cpu / Math.max(1, row.accepted);
          if (row.name === hana.name) {
            ratios.push(perMsg / basePerMsg);
            accepts.push(row.accepted / Math.max(1, base.accepted));
          } else if (row !== base) libloRatios.push(perMsg / basePerMsg);
          const vsBare =
            row === base
              ? ''
              : `  ratio accepted ${(row.accepted / base.accepted).toFixed(2)}, CPU/msg ${(perMsg / basePerMsg).toFixed(2)}× bare`;
          report(
            `    ${row.name.padEnd(16)} ${Math.round(row.accepted / SECONDS)
              .toLocaleString('en')
              .padStart(
                7,
              )}/s accepted  loss ${(loss * 100).toFixed(1).padStart(5)} %  CPU ${perMsg.toFixed(2).padStart(6)} µs/msg${vsBare}`,
          );
        }
        const refused = ['flood', 'overload', 'too-costly']
          .map((k) => `${k} ${(refused1[k] ?? 0) - (refused0[k] ?? 0)}`)
          .join(', ');
        report(`    hana refused: ${refused}`);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
      const spread = (xs: number[]) =>
        `${median(xs).toFixed(2)} (median; ${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
      report(
        `   hana over ${ROUNDS} rounds: accepted ${spread(accepts)} of bare, CPU/msg ${spread(ratios)}× bare`,
      );
      if (libloRatios.length > 0)
        report(`   liblo over ${ROUNDS} rounds: CPU/msg ${spread(libloRatios)}× bare`);
    }
  } finally {
    for (const r of receivers) await r.close();
  }
}
