// What an idle daemon costs: CPU (share of one core) and resident memory of the daemon and its
// plugin host with the bundled examples installed, with no output page and with one page
// watching, next to `node -e setInterval` measured the same way in the same run. CPU is read
// from /proc (utime + stime), so it counts what the processes used, not what the machine did.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { eventually, startDaemon, type TestDaemon } from '../helpers/daemon.ts';

const WINDOW_MS = 10_000;
const TICKS = 100; // USER_HZ on Linux

type Sample = { ticks: number; rssMb: number };

async function sample(pid: number): Promise<Sample> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { ticks: Number(f[11]) + Number(f[12]), rssMb: rssKb / 1024 };
}

type Usage = { cpu: number; rssMb: number };

/** CPU % of one core over the window and RSS at its end: summed, and per process. */
async function measure(pids: () => Promise<number[]>): Promise<Usage & { each: Usage[] }> {
  const list = await pids();
  const before = await Promise.all(list.map(sample));
  const t0 = performance.now();
  await sleep(WINDOW_MS);
  const ms = performance.now() - t0;
  const after = await Promise.all(list.map(sample));
  const each = after.map((a, i) => ({
    cpu: (100 * ((a.ticks - before[i]!.ticks) / TICKS) * 1000) / ms,
    rssMb: a.rssMb,
  }));
  return {
    cpu: each.reduce((a, u) => a + u.cpu, 0),
    rssMb: each.reduce((a, u) => a + u.rssMb, 0),
    each,
  };
}

async function baseline(): Promise<{ cpu: number; rssMb: number }> {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await sleep(500);
    return await measure(async () => [p.pid!]);
  } finally {
    p.kill();
  }
}

// Not through `status`: a status call starts the daemon's event-loop delay histogram for a
// minute (daemon/runtime-stats.ts), which is not idle. The host is the daemon's forked child.
const hostPid = async (d: TestDaemon): Promise<number | undefined> => {
  const pid = d.proc.pid!;
  const kids = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const n = Number(kids.trim().split(/\s+/)[0]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
};

export async function run(report: (line: string) => void): Promise<void> {
  const bare = await baseline();
  const d = await startDaemon({ config: { plugins: { enabled: true } } });
  let ws: WebSocket | undefined;
  try {
    await eventually(async () => d.logs.filter((l) => l.event === 'plugin.started').length >= 3, 300, 100);
    const pids = async () => [d.proc.pid!, ...[await hostPid(d)].filter((p): p is number => p !== undefined)];
    await sleep(2000); // start-up work settles
    const idle = await measure(pids);
    const url = new URL((JSON.parse((await d.cli('output', '--json')).stdout) as { url: string }).url);
    ws = new WebSocket(`ws://${url.host}/ws?token=${url.searchParams.get('token')}`, { origin: url.origin });
    ws.on('message', () => {});
    await new Promise((r, j) => ws!.once('open', r).once('error', j));
    await sleep(1000);
    const watched = await measure(pids);
    const f = (x: Usage) =>
      `${x.cpu.toFixed(2).padStart(6)} % of a core  ${x.rssMb.toFixed(0).padStart(5)} MiB`;
    const split = (x: { each: Usage[] }) =>
      `    daemon ${f(x.each[0]!)}${x.each[1] ? `; plugin host ${f(x.each[1])}` : ''}`;
    report(`  over ${WINDOW_MS / 1000} s each, daemon + plugin host, bundled examples installed:`);
    report(`  node -e setInterval (baseline)      ${f(bare)}`);
    report(
      `  hana, no output page                ${f(idle)}  (${(idle.cpu / Math.max(bare.cpu, 0.01)).toFixed(1)}× CPU, ${(idle.rssMb / bare.rssMb).toFixed(1)}× RSS)`,
    );
    report(split(idle));
    report(`  hana, one output page watching      ${f(watched)}`);
    report(split(watched));
  } finally {
    ws?.close();
    await d.stop();
  }
}
