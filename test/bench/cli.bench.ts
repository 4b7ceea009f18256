// How long `hana status`, `get` and `set` take against a running daemon (issue 15 part 7: under
// 150 ms on an idle machine), each beside `node -e 0` on the same Node in the same run: that is
// the floor for any command in a process of its own, and the ratio is what stays put on a loaded
// machine. Each variant runs in interleaved rounds, so load that comes and goes hits all alike.
// Also shown: what the ways around the direct call cost (the shebang's flags, npx, npm run) and
// what the module compile cache saves; and CPU time per call, which load inflates far less than
// wall time, so it is the nearer guess at an idle machine's figure.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT, startDaemon } from '../helpers/daemon.ts';

const ROUNDS = 15;
const SLOW_ROUNDS = 3; // npx and npm run take seconds each
const BIN = join(ROOT, 'daemon', 'cli', 'bin.js');
const NODE = process.execPath;

type Variant = { name: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv; slow?: boolean };

/**
 * CPU seconds of this process's reaped children (user + system, /proc/self/stat cutime and
 * cstime, in clock ticks of 10 ms), or undefined off Linux. A child's whole tree counts: npm's
 * and npx's own children are reaped into theirs. Load inflates CPU time far less than wall time.
 */
function childCpuS(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return undefined;
  }
}

type Sample = { ms: number; cpuMs: number | undefined };

function once(v: Variant): Sample {
  const cpu0 = childCpuS();
  const t0 = performance.now();
  const r = spawnSync(v.cmd, v.args, {
    cwd: ROOT,
    env: { ...process.env, ...v.env },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 120_000,
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${v.name} exited ${r.status}: ${r.stderr}`);
  const cpu1 = childCpuS();
  return { ms, cpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) * 1000 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

export async function run(report: (line: string) => void): Promise<void> {
  const d = await startDaemon();
  try {
    const home = ['--home', d.home];
    const direct = (name: string, ...args: string[]): Variant => ({ name, cmd: NODE, args: [BIN, ...args] });
    const variants: Variant[] = [
      { name: 'node -e 0 (baseline)', cmd: NODE, args: ['-e', '0'] },
      direct('hana --version', '--version'),
      direct('hana status', 'status', ...home),
      direct('hana get /tempo', 'get', '/tempo', ...home),
      direct('hana set /tempo 120', 'set', '/tempo', '120', ...home),
      {
        name: 'hana status, shebang flags',
        cmd: NODE,
        args: ['--no-node-snapshot', '--max-semi-space-size=16', BIN, 'status', ...home],
      },
      {
        ...direct('hana status, no compile cache', 'status', ...home),
        env: { NODE_DISABLE_COMPILE_CACHE: '1' },
      },
      {
        name: 'npm run -s hana -- status',
        cmd: 'npm',
        args: ['run', '-s', 'hana', '--', 'status', ...home],
        slow: true,
      },
      { name: 'npx hana status', cmd: 'npx', args: ['hana', 'status', ...home], slow: true },
    ];
    const load0 = loadavg();
    for (const v of variants) once(v); // warm: the compile cache, the page cache, npx's own cache
    const times = new Map<Variant, Sample[]>(variants.map((v) => [v, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) if (!v.slow || round < SLOW_ROUNDS) times.get(v)!.push(once(v));
    }
    const load1 = loadavg();
    const wall = (v: Variant) => times.get(v)!.map((t) => t.ms);
    // Ticks are 10 ms: the mean over the rounds, not a median of coarse values.
    const cpu = (v: Variant) => {
      const c = times.get(v)!.map((t) => t.cpuMs);
      return c.includes(undefined) ? undefined : (c as number[]).reduce((x, y) => x + y, 0) / c.length;
    };
    const base = median(wall(variants[0]!));
    const baseCpu = cpu(variants[0]!);
    report(
      `  ${ROUNDS} rounds (${SLOW_ROUNDS} for npm and npx), ms from spawn to exit, Node ${process.version}; load average ${load0[0]!.toFixed(2)} before, ${load1[0]!.toFixed(2)} after`,
    );
    report(
      `  ${'command'.padEnd(32)} ${'median'.padStart(7)} ${'min'.padStart(7)} ${'cpu'.padStart(6)}  vs node -e 0 (wall; cpu)`,
    );
    for (const v of variants) {
      const t = wall(v);
      const m = median(t);
      const c = cpu(v);
      const vsCpu = c !== undefined && baseCpu ? `; ${(c / baseCpu).toFixed(2)}×` : '';
      const ratio =
        v === variants[0]
          ? ''
          : `  ${(m / base).toFixed(2)}×, ${m >= base ? '+' : ''}${(m - base).toFixed(0)} ms${vsCpu}`;
      report(
        `  ${v.name.padEnd(32)} ${m.toFixed(0).padStart(7)} ${Math.min(...t)
          .toFixed(0)
          .padStart(7)} ${(c === undefined ? '-' : c.toFixed(0)).padStart(6)}${ratio}`,
      );
    }
  } finally {
    await d.stop();
  }
}
