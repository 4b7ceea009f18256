// How long `hana status`, `get` and `set` take against a running daemon (issue 15 part 7: under
// 150 ms on an idle machine), each beside `node -e 0` on the same Node in the same run: that is
// the floor for any command in a process of its own, and the ratio is what stays put on a loaded
// machine. Each variant runs in interleaved rounds, so load that comes and goes hits all alike.
// Also shown: what the ways around the direct call cost (the shebang's flags, npx, npm run) and
// what the module compile cache saves.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT, startDaemon } from '../helpers/daemon.ts';

const ROUNDS = 15;
const SLOW_ROUNDS = 3; // npx and npm run take seconds each
const BIN = join(ROOT, 'daemon', 'cli', 'bin.js');
const NODE = process.execPath;

type Variant = { name: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv; slow?: boolean };

function once(v: Variant): number {
  const t0 = performance.now();
  const r = spawnSync(v.cmd, v.args, {
    cwd: ROOT,
    env: { ...process.env, ...v.env },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 120_000,
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${v.name} exited ${r.status}: ${r.stderr}`);
  return ms;
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
    const times = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) if (!v.slow || round < SLOW_ROUNDS) times.get(v)!.push(once(v));
    }
    const load1 = loadavg();
    const base = median(times.get(variants[0]!)!);
    report(
      `  ${ROUNDS} rounds (${SLOW_ROUNDS} for npm and npx), wall ms from spawn to exit, Node ${process.version}; load average ${load0[0]!.toFixed(2)} before, ${load1[0]!.toFixed(2)} after`,
    );
    report(`  ${'command'.padEnd(32)} ${'median'.padStart(7)} ${'min'.padStart(7)}  vs node -e 0`);
    for (const v of variants) {
      const t = times.get(v)!;
      const m = median(t);
      const ratio =
        v === variants[0]
          ? ''
          : `  ${(m / base).toFixed(2)}×, ${m >= base ? '+' : ''}${(m - base).toFixed(0)} ms`;
      report(
        `  ${v.name.padEnd(32)} ${m.toFixed(0).padStart(7)} ${Math.min(...t)
          .toFixed(0)
          .padStart(7)}${ratio}`,
      );
    }
  } finally {
    await d.stop();
  }
}
