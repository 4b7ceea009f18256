import type { EncodedFrame } from '../../../plugins/runtime/engine.ts';
import { type HostInit, type PluginHost, startPluginHost } from '../../../plugins/runtime/host.ts';
import type { HostEvent } from '../../../plugins/runtime/protocol.ts';
import type { PluginWrite } from '../../../plugins/sandbox/sandbox.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// A real plugin host (child process) for the host tests, with what it hands the daemon kept:
// the last 200 frames, every event, write batch and log line. closeHosts() ends every child.

export type HostRun = {
  host: PluginHost;
  frames: EncodedFrame[];
  events: HostEvent[];
  writes: [string, PluginWrite[]][];
  lines: Record<string, unknown>[];
  /** Frames received in all. */
  count(): number;
  /** Layer ids of the latest frame. */
  layers(): string[];
};

const hosts: PluginHost[] = [];

export async function closeHosts(): Promise<void> {
  for (const h of hosts.splice(0)) await h.close();
}

export function runHost(plugins: HostInit['plugins'], init: Partial<HostInit> = {}): HostRun {
  const frames: EncodedFrame[] = [];
  const events: HostEvent[] = [];
  const writes: [string, PluginWrite[]][] = [];
  const { log, lines } = captureLogger();
  let count = 0;
  const host = startPluginHost({
    plugins,
    frameRate: 60,
    width: 320,
    height: 180,
    clock: () => ({ timeMs: 1_000_000 + performance.now(), beat: 42, tempo: 90 }),
    log,
    policy: { faultsToRestart: 3, faultWindowFrames: 3, maxRestarts: 2, backoffMs: 20, maxBackoffMs: 100 },
    restart: { backoffMs: 50, maxBackoffMs: 200 },
    onFrame: (f) => {
      count++;
      frames.push(f);
      if (frames.length > 200) frames.shift();
    },
    onWrites: (p, w) => writes.push([p, w]),
    onEvent: (e) => events.push(e),
    ...init,
  });
  hosts.push(host);
  return {
    host,
    frames,
    events,
    writes,
    lines,
    count: () => count,
    layers: () => {
      const last = frames.at(-1);
      return last ? (JSON.parse(last.json) as { layers: { id: string }[] }).layers.map((l) => l.id) : [];
    },
  };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
