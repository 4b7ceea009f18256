import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// Drives forge-cli.ts inside a namespace the test created (by PID: `ip netns exec` execs node).

const CLI = join(import.meta.dirname, 'forge-cli.ts');

export type ForgerEvent = { event: string } & Record<string, unknown>;

export type Forger = {
  readonly events: ForgerEvent[];
  /** Sends every packet to 224.0.0.251:5353; resolves with how many left. */
  send(
    packets: readonly Buffer[],
    opts?: { gapMs?: number; iface?: string; timeoutMs?: number },
  ): Promise<number>;
  /** Binds a UDP socket; resolves with its port. */
  listen(address: string, port?: number): Promise<number>;
  datagramsTo(address: string, port: number): ForgerEvent[];
  stop(): Promise<void>;
};

export async function spawnForger(wrap: readonly string[]): Promise<Forger> {
  const cmd = [...wrap, process.execPath, '--no-node-snapshot', CLI];
  const proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: ForgerEvent[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr += d;
  });
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line));
    } catch {
      return;
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));

  const next = (match: (e: ForgerEvent) => boolean, from: number, timeoutMs: number) =>
    new Promise<ForgerEvent>((done, fail) => {
      const check = () => {
        const hit = events.slice(from).find(match);
        if (!hit) return;
        clearTimeout(timer);
        waiters.delete(check);
        done(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        fail(new Error(`forger: no matching event in ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  const command = (c: object) => proc.stdin!.write(`${JSON.stringify(c)}\n`);

  await next((e) => e.event === 'ready', 0, 10_000);
  return {
    events,
    async send(packets, opts = {}) {
      const from = events.length;
      command({
        op: 'send',
        packets: packets.map((p) => p.toString('base64')),
        gapMs: opts.gapMs ?? 0,
        iface: opts.iface,
      });
      const e = await next((x) => x.event === 'sent' || x.event === 'error', from, opts.timeoutMs ?? 30_000);
      if (e.event === 'error') throw new Error(`forger: ${String(e.message)}`);
      return e.count as number;
    },
    async listen(address, port = 0) {
      const from = events.length;
      command({ op: 'listen', address, port });
      const e = await next((x) => x.event === 'listening' || x.event === 'error', from, 5000);
      if (e.event === 'error') throw new Error(`forger: ${String(e.message)}`);
      return e.port as number;
    },
    datagramsTo: (address, port) =>
      events.filter((e) => e.event === 'datagram' && e.to === `${address}:${port}`),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}
