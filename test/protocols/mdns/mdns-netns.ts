import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { DiscoveredPeer } from '../../../protocols/mdns/index.ts';

// Namespaces and discovery child processes for the mDNS tests. Multicast happens only inside
// namespaces created here; every child is tracked by PID and killed before its namespace goes.

const RUNNER = join(import.meta.dirname, 'run-discovery.ts');

/** `ms`: since the child's module started; `at`: since spawn, as received here. */
export type ChildEvent = { ms: number; at: number } & (
  | { event: 'started' | 'closed' }
  | { event: 'found'; peer: DiscoveredPeer }
  | { event: 'lost'; instance: string }
  | { event: 'warning'; message: string }
  | { event: 'known'; peers: DiscoveredPeer[] }
);

export type DiscoveryChild = {
  readonly name: string;
  readonly events: ChildEvent[];
  /** Resolves with the first matching event, or undefined after `timeoutMs`. */
  waitFor(match: (e: ChildEvent) => boolean, timeoutMs: number): Promise<ChildEvent | undefined>;
  found(instance: string): DiscoveredPeer[];
  /** SIGTERM (the child closes discovery and exits), SIGKILL after 5 s; resolves with the exit code. */
  stop(): Promise<number | null>;
  diagnostics(): string;
};

export type ChildInit = {
  instance: string;
  port: number;
  deviceId: string;
  ensembleTag: string;
  protocolVersion?: number;
  interface?: string;
  requeryMs?: number;
};

export function spawnDiscovery(ns: string, init: ChildInit): DiscoveryChild {
  const args = ['netns', 'exec', ns, process.execPath, '--no-node-snapshot', RUNNER];
  // `ip netns exec` execs node, so this PID is node's own: killing it kills the discovery.
  const spawnedAt = performance.now();
  const child: ChildProcess = spawn('ip', [...args, JSON.stringify({ protocolVersion: 1, ...init })], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: ChildEvent[] = [];
  const waiters = new Set<() => void>();
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        events.push({ ...JSON.parse(line), at: Math.round(performance.now() - spawnedAt) } as ChildEvent);
      } catch {
        // bonjour-service console.logs some conditions; kept in diagnostics only.
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  return {
    name: init.instance,
    events,
    waitFor(match, timeoutMs) {
      return new Promise((resolve) => {
        const check = () => {
          const hit = events.find(match);
          if (!hit) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          resolve(undefined);
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    found: (instance) =>
      events.flatMap((e) => (e.event === 'found' && e.peer.instance === instance ? [e.peer] : [])),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
    diagnostics: () => `[${init.instance}] stdout:\n${stdout}\nstderr:\n${stderr}`,
  };
}

export { addNetns, deleteNetns, makeBridgedHosts, uniqueName } from '../../helpers/netns.ts';
