import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Remote } from '../../protocols/osc/udp.ts';
import { missingTool } from './tools.ts';

// A forger and sniffer of loopback UDP (raw-udp.py under Debian's python3, as root): it sends
// datagrams with any source address:port, as an attacker on the LAN can, and records the
// datagrams between two endpoints, as a sniffer can. dgram cannot do either: a socket cannot
// send from a port another socket holds.

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, 'raw-udp.py');

/** Why raw-socket tests cannot run here, or undefined when they can. */
export function rawUdpUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'forging a UDP source needs a raw socket, and so root';
  const missing = missingTool(PYTHON, 'python3');
  if (missing) return missing;
  return undefined;
}

export type Sniffed = { src: Remote; dst: Remote; bytes: Buffer };

export type RawUdp = {
  readonly pid: number;
  /** Sends `bytes` to `to` as if from `from`. */
  send(from: Remote, to: Remote, bytes: Uint8Array): Promise<void>;
  /** Records datagrams from `from` to `to` (either may be left open) until unsniff. */
  sniff(from?: Remote, to?: Remote): Promise<void>;
  unsniff(): Promise<void>;
  /** Datagrams recorded so far. */
  readonly sniffed: Sniffed[];
  close(): Promise<void>;
};

const pair = (r?: Remote) => (r ? [r.address, r.port] : null);
const remote = ([address, port]: [string, number]): Remote => ({ address, port });

export async function startRawUdp(timeoutMs = 5000): Promise<RawUdp> {
  const child: ChildProcess = spawn(PYTHON, ['-u', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const sniffed: Sniffed[] = [];
  let next = 1;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as {
      id?: number;
      ok?: boolean;
      error?: string;
      event?: string;
      src: [string, number];
      dst: [string, number];
      hex: string;
    };
    if (m.event === 'packet') {
      sniffed.push({ src: remote(m.src), dst: remote(m.dst), bytes: Buffer.from(m.hex, 'hex') });
      return;
    }
    const p = pending.get(m.id!);
    pending.delete(m.id!);
    if (m.ok) p?.resolve();
    else p?.reject(new Error(`raw-udp: ${m.error}`));
  });
  void exited.then(() => {
    for (const p of pending.values()) p.reject(new Error(`raw-udp exited: ${stderr}`));
    pending.clear();
  });

  const call = (req: Record<string, unknown>) =>
    new Promise<void>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`raw-udp did not answer ${String(req.op)} in ${timeoutMs} ms: ${stderr}`));
      }, timeoutMs);
      pending.set(id, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    });

  return {
    pid: child.pid!,
    send: (from, to, bytes) =>
      call({ op: 'send', src: pair(from), dst: pair(to), hex: Buffer.from(bytes).toString('hex') }),
    sniff: (from, to) => call({ op: 'sniff', src: pair(from), dst: pair(to) }),
    unsniff: () => call({ op: 'unsniff' }),
    sniffed,
    async close() {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}
