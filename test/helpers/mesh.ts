import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startDaemon, type TestDaemon } from './daemon.ts';
import { deleteNetns, makeBridgedHosts, netnsUnavailable } from './netns.ts';
import { missingTool } from './tools.ts';

// N daemons on a switch, for sync tests and benchmarks: one namespace per laptop, a bridge in a
// namespace of its own (DESIGN.md §5), static peers on a fixed port, and chaos by nftables on
// the bridge (this kernel has no netem). Loss is dropped where frames cross the bridge, never on
// a sender's own egress (that would show as ENOBUFS and be resent).

const exec = promisify(execFile);
export const PEER_PORT = 7400;

export type Mesh = {
  readonly daemons: TestDaemon[];
  readonly namespaces: string[];
  /** Namespaces on the same switch with no daemon (10.77.0.<count + 1>…), for a test's own peers. */
  readonly spare: string[];
  /** Drops `percent` % of frames entering the bridge from every laptop. */
  loss(percent: number): Promise<void>;
  /** Cuts laptops i and j (0-based) off from each other; others still see both. */
  partition(i: number, j: number): Promise<void>;
  /** Removes partitions, keeps loss. */
  heal(): Promise<void>;
  /** Restarts daemon i in its namespace with the same home, e.g. after a SIGKILL. */
  restart(i: number): Promise<TestDaemon>;
  close(): Promise<void>;
};

/** Why a mesh cannot run here: namespaces, and nft in the bridge's for loss and partitions. */
export function meshUnavailable(): string | undefined {
  return netnsUnavailable() ?? missingTool('nft', 'nftables');
}

export type MeshOptions = {
  count: number;
  config?: (i: number) => Record<string, unknown>;
  /** Extra namespaces on the switch that run no daemon (default 0); no daemon dials them. */
  spare?: number;
  /** Added to daemon i's environment, e.g. a preload that sets its clock off (skewed-clock.ts). */
  env?: (i: number) => NodeJS.ProcessEnv | undefined;
  /** Writes into daemon i's home before its first start, e.g. an identity of the test's choosing. */
  seed?: (i: number) => ((home: string) => Promise<void>) | undefined;
  /** Runs once the switch is up and before any daemon starts, e.g. a peer of the test's own in a spare namespace. */
  beforeDaemons?: (spare: string[]) => Promise<void>;
};

export async function startMesh(opts: MeshOptions): Promise<Mesh> {
  const { hosts: everyHost, all } = await makeBridgedHosts(opts.count + (opts.spare ?? 0));
  const hosts = everyHost.slice(0, opts.count);
  const bridge = all[0]!;
  const daemons: TestDaemon[] = [];
  const nft = (script: string) => exec('ip', ['netns', 'exec', bridge, 'nft', script]);
  let lossRules: string[] = [];
  let cutRules: string[] = [];

  const configOf = (i: number) => {
    const extra = opts.config?.(i) ?? {};
    const peers = (extra.peers ?? {}) as Record<string, unknown>;
    return {
      name: `laptop-${i + 1}`,
      ...extra,
      peers: {
        bind: '0.0.0.0',
        port: PEER_PORT,
        discovery: false,
        static: hosts.map((_, j) => `10.77.0.${j + 1}:${PEER_PORT}`).filter((_, j) => j !== i),
        ...peers,
      },
    };
  };
  const start = (i: number, home?: string) =>
    startDaemon({
      wrap: ['ip', 'netns', 'exec', hosts[i]!],
      config: configOf(i),
      home,
      env: opts.env?.(i),
      // A restart keeps the home it had: nothing to seed.
      seed: home ? undefined : opts.seed?.(i),
    });

  async function rewrite(): Promise<void> {
    await exec('ip', ['netns', 'exec', bridge, 'nft', 'delete table bridge chaos']).catch(() => {});
    const rules = [...cutRules, ...lossRules];
    if (rules.length === 0) return;
    await nft(
      [
        'add table bridge chaos',
        'add chain bridge chaos fw { type filter hook forward priority 0; }',
        ...rules.map((r) => `add rule bridge chaos fw ${r}`),
      ].join('; '),
    );
  }

  try {
    await opts.beforeDaemons?.(everyHost.slice(opts.count));
    for (let i = 0; i < opts.count; i++) daemons.push(await start(i));
  } catch (err) {
    for (const d of daemons) await d.stop();
    await deleteNetns(all);
    throw err;
  }

  return {
    daemons,
    namespaces: all,
    spare: everyHost.slice(opts.count),
    async loss(percent) {
      lossRules =
        percent > 0
          ? hosts.map((_, i) => `iifname "p-${i + 1}" numgen random mod 100 < ${Math.round(percent)} drop`)
          : [];
      await rewrite();
    },
    async partition(i, j) {
      cutRules.push(
        `iifname "p-${i + 1}" oifname "p-${j + 1}" drop`,
        `iifname "p-${j + 1}" oifname "p-${i + 1}" drop`,
      );
      await rewrite();
    },
    async heal() {
      cutRules = [];
      await rewrite();
    },
    async restart(i) {
      const d = await start(i, daemons[i]!.home);
      daemons[i] = d;
      return d;
    },
    async close() {
      for (const d of daemons) await d.stop();
      await deleteNetns(all);
    },
  };
}
