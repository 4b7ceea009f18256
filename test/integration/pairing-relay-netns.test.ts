import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { callDaemon } from '../../daemon/control/client.ts';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import type { PeerView } from '../../daemon/link/manager.ts';
import { HANDSHAKE_CHECKS } from '../../protocols/dtls/verify-handshake.ts';
import { type LogLine, ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import type { RelayMode, RewriteStats } from '../helpers/dtls-relay.ts';
import { meshUnavailable } from '../helpers/mesh.ts';
import { deleteNetns, makeBridgedHosts } from '../helpers/netns.ts';

// Issue 11: "a relay namespace that forwards between A and B cannot complete a pairing, and the
// operator sees why". Three namespaces on a bridge: A (10.77.0.1), B (10.77.0.2) and the relay
// R (10.77.0.3), which runs the DTLS man in the middle of test/helpers/dtls-relay.ts in a
// process of its own. nftables on the bridge drops every frame between A and B, and neither
// has discovery or static peers, so B's only route to A is `hana pair <code> --peer <R>`.
// A forward-only relay is the control: pairing through it works and writes flow, so the
// tampering relays fail because of what they do, not because of the topology.

const exec = promisify(execFile);
const skip = meshUnavailable();

const PEER_PORT = 7400;
const A_ADDR = '10.77.0.1';
const R_ADDR = '10.77.0.3';
const CHILD = join(ROOT, 'test', 'helpers', 'dtls-relay-netns-child.ts');
const WAIT_MS = 15_000;
const POLL_MS = 100;

async function call<T>(d: TestDaemon, method: string, params: unknown = {}): Promise<T> {
  const r = await callDaemon(controlSocketPath(d.home), method, params, { timeoutMs: 10_000 });
  if (!r.ok) throw new Error(`${method}: ${r.error.message}`);
  return r.result as T;
}
const peers = async (d: TestDaemon) => (await call<{ peers: PeerView[] }>(d, 'peers')).peers;
const status = (d: TestDaemon) => call<DaemonStatus>(d, 'status');
const pins = async (d: TestDaemon) => (await call<{ peers: unknown[] }>(d, 'trust.list')).peers;
const value = async (d: TestDaemon, path: string) =>
  (await call<{ params: { path: string; value: unknown }[] }>(d, 'get', { pattern: path })).params[0]?.value;

async function until(check: () => Promise<boolean>, ms = WAIT_MS): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

type Relay = { port: number; stats(): Promise<RewriteStats>; close(): Promise<void> };

/** The relay process in namespace `ns`, listening on R_ADDR and forwarding to A. */
async function startRelay(ns: string, mode: RelayMode): Promise<Relay> {
  const init = { bind: R_ADDR, target: { address: A_ADDR, port: PEER_PORT }, mode };
  // `ip netns exec` execs node, so the child's PID is node's own and a signal reaches it.
  const proc: ChildProcessWithoutNullStreams = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '--no-node-snapshot', CHILD, JSON.stringify(init)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  proc.stderr.on('data', (c) => {
    stderr += c;
  });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const lines: Interface = createInterface({ input: proc.stdout });
  const next = (what: string) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay gave no ${what} in time: ${stderr}`)), 10_000);
      lines.once('line', (l) => {
        clearTimeout(timer);
        resolve(l);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`relay exited: ${stderr}`));
      });
    });
  let port: number;
  try {
    port = (JSON.parse(await next('port')) as { port: number }).port;
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    port,
    async stats() {
      const line = next('stats');
      proc.stdin.write('stats\n');
      return JSON.parse(await line) as RewriteStats;
    },
    async close() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A handshake refusal as the security log shows it: the reason, and which check failed. */
const verifyFailed = (l: LogLine) =>
  l.event === 'input.rejected' && l.reason === 'peer-handshake-verify-failed' && l.security === true;
const namesCheck = (l: LogLine) => HANDSHAKE_CHECKS.some((c) => String(l.msg).startsWith(`${c}:`));

describe('pairing through a relay namespace between A and B', { skip }, () => {
  let namespaces: string[] = [];
  let hosts: string[] = [];
  before(async () => {
    ({ hosts, all: namespaces } = await makeBridgedHosts(3));
    // Cut A and B off from each other on the bridge: whatever they say to each other crosses R.
    const bridge = namespaces[0]!;
    await exec('ip', [
      'netns',
      'exec',
      bridge,
      'nft',
      [
        'add table bridge cut',
        'add chain bridge cut fw { type filter hook forward priority 0; }',
        'add rule bridge cut fw iifname "p-1" oifname "p-2" drop',
        'add rule bridge cut fw iifname "p-2" oifname "p-1" drop',
      ].join('; '),
    ]);
  });
  after(async () => {
    await deleteNetns(namespaces);
  });

  /** Fresh A and B (embedded defaults, no discovery, no static peers) and a relay; all stopped after. */
  async function withRelay(
    mode: RelayMode,
    body: (x: { a: TestDaemon; b: TestDaemon; relay: Relay }) => Promise<void>,
  ): Promise<void> {
    const peersConfig = {
      bind: '0.0.0.0',
      port: PEER_PORT,
      discovery: false,
      static: [],
      policy: 'pair',
      newPeerRole: 'observer',
    };
    const daemon = (i: number, name: string) =>
      startDaemon({ wrap: ['ip', 'netns', 'exec', hosts[i]!], config: { name, peers: peersConfig } });
    // Started side by side (nothing dials before the test says so); whatever started is stopped.
    const started = await Promise.allSettled([
      daemon(0, 'ay'),
      daemon(1, 'bee'),
      startRelay(hosts[2]!, mode),
    ]);
    const [a, b, relay] = started.map((s) => (s.status === 'fulfilled' ? s.value : undefined)) as [
      TestDaemon | undefined,
      TestDaemon | undefined,
      Relay | undefined,
    ];
    try {
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
      await body({ a: a!, b: b!, relay: relay! });
    } finally {
      // Each stop kills its daemon by PID and removes its home; the relay is killed by its PID.
      await Promise.all([a?.stop(), b?.stop(), relay?.close()]);
    }
  }

  it('forward-only relay (control): the pairing completes through it and writes flow', async () => {
    await withRelay({}, async ({ a, b, relay }) => {
      const open = await a.cli('pair', '--json');
      assert.equal(open.code, 0, open.stderr);
      const { code } = JSON.parse(open.stdout) as { code: string };
      const join = await b.cli('pair', code, '--peer', `${R_ADDR}:${relay.port}`);
      assert.equal(join.code, 0, join.stderr);
      assert.match(join.stdout, /^paired with ay \(/);
      assert.ok(
        await until(async () => (await peers(a)).some((p) => p.id === b.deviceId && p.state === 'linked')),
      );
      // A sees B at the relay's address: the relay is the only path between them.
      const bOnA = (await peers(a)).find((p) => p.id === b.deviceId);
      assert.match(bOnA?.address ?? '', /^10\.77\.0\.3:\d+$/);
      await call(b, 'set', { path: '/layer/1/opacity', words: ['0.42'] });
      assert.ok(await until(async () => (await value(a, '/layer/1/opacity')) === 0.42));
      assert.ok((await relay.stats()).applicationData.dialler > 0, 'the relay carried the session');
    });
  });

  const tampering: Array<[string, RelayMode, (s: RewriteStats) => boolean]> = [
    [
      'strips extended master secret and zeroes both key shares (issue 10)',
      { stripEms: true, shares: 'zero' },
      (s) => s.clientHelloEmsStripped > 0 && s.clientKeyExchangeRewritten > 0,
    ],
    [
      'swaps both key shares for its own and bridges the records',
      { shares: 'relay' },
      (s) => s.serverKeyExchangeRewritten > 0,
    ],
  ];
  for (const [what, mode, tampered] of tampering) {
    it(`a relay that ${what}: no pairing, no pin, and both operators see why`, async () => {
      await withRelay(mode, async ({ a, b, relay }) => {
        const open = await a.cli('pair', '--json');
        assert.equal(open.code, 0, open.stderr);
        const { code } = JSON.parse(open.stdout) as { code: string };
        const join = await b.cli('pair', code, '--peer', `${R_ADDR}:${relay.port}`);
        const stats = await relay.stats();
        assert.ok(tampered(stats), `the relay did tamper: ${JSON.stringify(stats)}`);
        assert.equal(join.code, 1, join.stdout);
        assert.match(join.stderr, /^hana: [^\n]+\n$/, 'one sentence');
        assert.match(
          join.stderr,
          /failed verification \(.+\): something between the laptops tampered with it/,
        );
        assert.equal(join.stdout, '');

        assert.deepEqual(await pins(a), [], 'no pin on A');
        assert.deepEqual(await pins(b), [], 'no pin on B');
        assert.equal((await peers(a)).length, 0, 'A never got as far as a pending link');
        assert.equal((await peers(b)).length, 0, 'nor did B');
        const pairing = (await status(a)).peers.pairing;
        assert.deepEqual(
          [pairing.state, pairing.triesLeft],
          ['open', 3],
          'the code is untouched: no try was even charged',
        );

        // Each operator sees why: the failed check in a security log line, counted in `hana status`.
        for (const [name, d] of [
          ['A', a],
          ['B', b],
        ] as const) {
          const seen = await until(async () => d.logs.some(verifyFailed));
          const lines = d.logs.filter(verifyFailed);
          assert.ok(seen, `${name} logged no handshake verification failure`);
          assert.ok(
            lines.some(namesCheck),
            `${name}'s line names the failed check: ${JSON.stringify(lines)}`,
          );
          const counted = (await status(d)).rejected['peer-handshake-verify-failed'] ?? 0;
          assert.ok(counted > 0, `${name}'s status counts it: ${JSON.stringify((await status(d)).rejected)}`);
          const shown = await d.cli('status');
          assert.match(shown.stdout, /peer-handshake-verify-failed/, `${name}'s \`hana status\` shows it`);
        }
      });
    });
  }
});
