import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after } from 'node:test';
import { callDaemon } from '../../daemon/control/client.ts';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import type { PeerView } from '../../daemon/link/manager.ts';

// Real daemons as child processes, each with its own temp home and free ports.

// How long a Node process may take to start, load the TypeScript and answer. Idle that is under
// a second; with both cores spinning and a suite's worth of daemons running, starts of 20 s were
// seen. These bound only how long a broken test waits, so they are generous.
const PROCESS_START_MS = 60_000;

// A test that times out never reaches its `finally`, and a daemon it started would keep the
// test file's process (and so the whole suite) alive for good. Whatever is still running when
// the file's tests are done is killed here, by PID.
const running = new Set<ChildProcess>();
after(() => {
  for (const p of running) p.kill('SIGKILL');
});
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'daemon', 'cli', 'bin.js');
// As daemon/cli/bin.js's shebang runs it.
const NODE_ARGS = ['--no-node-snapshot', '--max-semi-space-size=16'];

export type CliResult = { code: number; stdout: string; stderr: string };

/** Runs `hana <args>` to completion (bounded by timeoutMs); `node` adds Node options and environment. */
export function runCli(
  args: readonly string[],
  timeoutMs = PROCESS_START_MS,
  node: { args?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...NODE_ARGS, ...(node.args ?? []), BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...node.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`hana ${args.join(' ')} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * Runs `hana <args>` in this process through the CLI's own `main(argv, out)`: the same parser,
 * commands, output and exit codes as the binary, without a Node start per call (a second or more
 * on 2 cores, and 6-8 s under load). `start` always gets a process of its own, since in-process
 * it would run a daemon inside the test; so does anything a test needs to see as a process.
 */
export async function runCliInProcess(
  args: readonly string[],
  timeoutMs = PROCESS_START_MS,
): Promise<CliResult> {
  if (args[0] === 'start') return runCli(args, timeoutMs);
  return mainInProcess(args, timeoutMs, `hana ${args.join(' ')} did not finish in ${timeoutMs} ms`);
}

/**
 * Runs a `hana start …` that must be refused (bad config, a held home lock, a wrong passphrase)
 * through the CLI's own `main(argv, out)` in this process: the same parser, checks, message and
 * exit code as the binary, without a Node start (1-2 s idle, 6-8 s under load). Only for starts
 * that must fail: if the daemon starts after all, it runs in this process, so on the timeout a
 * SIGTERM stops it the way `hana start` stops, which exits this test file's process — the test
 * fails either way, and nothing is left running.
 */
export async function runStartRefusal(
  args: readonly string[],
  timeoutMs = PROCESS_START_MS,
): Promise<CliResult> {
  if (args[0] !== 'start') throw new Error('runStartRefusal runs `hana start` only');
  return mainInProcess(args, timeoutMs, `hana ${args.join(' ')} was not refused within ${timeoutMs} ms`, () =>
    process.emit('SIGTERM'),
  );
}

/**
 * The CLI's `main(argv, out)` in this process with its output collected, failing with `late` if
 * it has not returned within `timeoutMs` (then `afterLate` runs: a start that was not refused is
 * stopped). A throw becomes exit 1 with "unexpected error", as bin.js does.
 */
async function mainInProcess(
  args: readonly string[],
  timeoutMs: number,
  late: string,
  afterLate?: () => void,
): Promise<CliResult> {
  const { main } = await import('../../daemon/cli/main.ts');
  let stdout = '';
  let stderr = '';
  const out = {
    stdout: (s: string) => {
      stdout += s;
    },
    stderr: (s: string) => {
      stderr += s;
    },
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => {
      fail(new Error(late));
      afterLate?.();
    }, timeoutMs);
  });
  try {
    const code = await Promise.race([
      main(args, out).catch((err: unknown) => {
        stderr += `hana: unexpected error: ${(err as Error)?.stack ?? err}\n`;
        return 1;
      }),
      timeout,
    ]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

export type LogLine = Record<string, unknown> & { msg?: string; event?: string };

export type TestDaemon = {
  readonly home: string;
  readonly udpPort: number;
  readonly peerPort: number;
  readonly deviceId: string;
  readonly tcpPort: number | null;
  readonly proc: ChildProcess;
  readonly logs: LogLine[];
  cli(...args: string[]): Promise<CliResult>;
  /** `hana get --json <pattern>` → path → value. */
  values(pattern: string): Promise<Record<string, unknown>>;
  status(): Promise<DaemonStatus>;
  /** Sends a signal and waits for exit; resolves with the exit code. The home is removed unless kept. */
  stop(signal?: NodeJS.Signals, opts?: { keepHome?: boolean }): Promise<number | null>;
};

export type StartOptions = {
  config?: unknown;
  args?: string[];
  readyTimeoutMs?: number;
  /** Command prefix, e.g. ['ip', 'netns', 'exec', ns]; it must exec node so the PID is node's. */
  wrap?: string[];
  /** Prepares the home before the daemon starts (e.g. a pre-pinned trust store). */
  seed?: (home: string) => Promise<void>;
  /** Restart in an existing home (its identity and trust store); the config is rewritten. */
  home?: string;
  /** Added to the daemon's environment (the rest is this process's). */
  env?: NodeJS.ProcessEnv;
};

/** One call on the daemon's control socket (no CLI process); a failure throws with the daemon's message. */
export async function control(d: { home: string }, method: string, params: unknown = {}): Promise<unknown> {
  const r = await callDaemon(controlSocketPath(d.home), method, params, { timeoutMs: 30_000 });
  if (!r.ok) throw new Error(`${method}: ${r.error.message}`);
  return r.result;
}

/** `hana peers --json` over the control socket: a poll that spawns no CLI. */
export async function peersOf(d: { home: string }): Promise<PeerView[]> {
  return ((await control(d, 'peers')) as { peers: PeerView[] }).peers;
}

const STORY_EVENT = /^(link|peer|identity)\./;

/**
 * The daemon's last link, peer and identity events, one per line, for an assertion message: a
 * link that never came up in CI is explained by the run's own output, with no rerun.
 */
export function linkStory(d: { logs: LogLine[] }, last = 12): string {
  const lines = d.logs.filter(
    (l) => STORY_EVENT.test(l.event ?? '') || String(l.reason ?? '').startsWith('peer-'),
  );
  return lines
    .slice(-last)
    .map((l) => `  ${l.event}${l.reason ? ` [${l.reason}]` : ''}: ${String(l.msg ?? '').slice(0, 160)}`)
    .join('\n');
}

/** True once `d` shows `id` linked; fails with `d`'s last link events if it never does. */
export async function linkedTo(d: { home: string; logs: LogLine[] }, id: string): Promise<true> {
  const state = async () => (await peersOf(d)).find((p) => p.id === id)?.state;
  if (await eventually(async () => (await state()) === 'linked', 150, 50)) return true;
  assert.fail(`never linked to ${id}, shown ${await state()}; its last link events:\n${linkStory(d)}`);
}

export async function makeHome(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'hana-test-'));
}

export async function startDaemon(opts: StartOptions = {}): Promise<TestDaemon> {
  const home = opts.home ?? (await makeHome());
  // Peers on loopback and no mDNS unless a test asks: tests send nothing beyond loopback
  // except inside namespaces they create. Ports are free ones unless the config names one.
  // Plugins are off unless a test turns them on: each daemon would otherwise fork a plugin host
  // running the bundled examples, which writes /layer/2/opacity on its own.
  const given = (opts.config ?? {}) as {
    peers?: Record<string, unknown>;
    output?: Record<string, unknown>;
    console?: Record<string, unknown>;
    plugins?: Record<string, unknown>;
    oscquery?: Record<string, unknown>;
  };
  const config = {
    ...given,
    // Tests of link mechanics use the rehearsal-room policy (every peer pinned as a performer
    // on first contact); tests of the embedded defaults pass `policy: 'pair'` themselves.
    peers: {
      bind: '127.0.0.1',
      discovery: false,
      port: 0,
      policy: 'accept-new',
      newPeerRole: 'performer',
      ...given.peers,
    },
    output: { port: 0, ...given.output },
    console: { port: 0, ...given.console },
    // No mDNS announcements from tests outside their own namespaces, as for peers above.
    oscquery: { port: 0, advertise: false, ...given.oscquery },
    plugins: { enabled: false, ...given.plugins },
  };
  const args = ['start', '--home', home, '--osc-port', '0', '--log-json', ...(opts.args ?? [])];
  await writeFile(join(home, 'config.json'), JSON.stringify(config));
  await opts.seed?.(home);
  const cmd = [...(opts.wrap ?? []), process.execPath, ...NODE_ARGS, BIN, ...args];
  const proc = spawn(cmd[0]!, cmd.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.env && { env: { ...process.env, ...opts.env } }),
  });
  const logs: LogLine[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr += d;
  });
  running.add(proc);
  const exited = new Promise<number | null>((r) =>
    proc.on('exit', (code) => {
      running.delete(proc);
      r(code);
    }),
  );

  const ready = await new Promise<LogLine>((done, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`daemon not ready in time; stderr: ${stderr}`)),
      opts.readyTimeoutMs ?? PROCESS_START_MS,
    );
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(parsed);
      if (parsed.event === 'daemon.ready') {
        clearTimeout(timer);
        done(parsed);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`daemon exited with ${code} before ready; stderr: ${stderr}`));
    });
  });

  const cli = (...a: string[]) => runCliInProcess([...a, '--home', home]);
  let stopped = false;
  return {
    home,
    udpPort: ready.oscUdpPort as number,
    peerPort: ready.peerPort as number,
    deviceId: ready.deviceId as string,
    tcpPort: ready.oscTcpPort as number | null,
    proc,
    logs,
    cli,
    // Over the control socket, not a CLI process per call: tests poll these, and on a loaded
    // 2-core machine spawning the CLI takes 6-8 s, longer than what the poll waits for.
    // What is asked and answered is what `hana get --json` and `hana status --json` print.
    async values(pattern) {
      const r = (await control({ home }, 'get', { pattern })) as {
        params: { path: string; value: unknown }[];
      };
      return Object.fromEntries(r.params.map((p) => [p.path, p.value]));
    },
    async status() {
      return (await control({ home }, 'status')) as DaemonStatus;
    },
    async stop(signal = 'SIGTERM', stopOpts = {}) {
      if (!stopped) {
        stopped = true;
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        const code = await exited;
        clearTimeout(timer);
        if (!stopOpts.keepHome) await rm(home, { recursive: true, force: true });
        return code;
      }
      return exited;
    },
  };
}

/** The least real time `eventually` waits, however few tries a caller names. */
export const EVENTUALLY_FLOOR_MS = 15_000;

/**
 * Polls `check` `intervalMs` apart until it returns true, for at least `tries` × `intervalMs` of
 * real time and never less than EVENTUALLY_FLOOR_MS. Bounded by time, not by a count of tries:
 * on a loaded machine a check that talks to a daemon can take seconds, so counted tries ran out
 * early or late depending on the load. Waiting longer costs only a failing test's time.
 */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  tries = 100,
  intervalMs = 20,
): Promise<boolean> {
  const end = Date.now() + Math.max(tries * intervalMs, EVENTUALLY_FLOOR_MS);
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
