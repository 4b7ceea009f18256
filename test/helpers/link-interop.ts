import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { ip, netnsUnavailable } from './netns.ts';
import { missingTool } from './tools.ts';

// What the Ableton Link interop tests share: the reason they cannot run, a real Link peer built
// from Debian's ableton-link-dev (cached by source hash: compiling takes ~10-20 s), two
// namespaces on a veth pair with the multicast route Link needs, and line-oriented children.

const exec = promisify(execFile);
export const PEER_SOURCE = join(import.meta.dirname, '..', 'fixtures', 'link', 'link-peer.cpp');
const CXX_FLAGS = ['-std=c++17', '-O1', '-DLINK_PLATFORM_LINUX=1', '-I/usr/include/ableton'];

export function linkInteropUnavailable(): string | undefined {
  return (
    netnsUnavailable() ??
    missingTool('g++', 'g++') ??
    missingTool('/usr/include/ableton/Link.hpp', 'ableton-link-dev') ??
    missingTool('/usr/include/asio.hpp', 'libasio-dev')
  );
}

/** The compiled Link peer, built once per source and flags. */
export async function buildLinkPeer(): Promise<string> {
  const hash = createHash('sha256')
    .update(readFileSync(PEER_SOURCE))
    .update(CXX_FLAGS.join(' '))
    .digest('hex');
  const dir = join(tmpdir(), 'hana-link-peer-cache');
  const bin = join(dir, `link-peer-${hash.slice(0, 16)}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  await exec('g++', [...CXX_FLAGS, PEER_SOURCE, '-lpthread', '-o', tmp], { timeout: 180_000 });
  renameSync(tmp, bin);
  return bin;
}

export type VethPair = { a: string; b: string; addrA: string; addrB: string; remove(): Promise<void> };

/** Two namespaces joined by a veth pair, each with the multicast route (DESIGN.md §5/§6). */
export async function vethPair(): Promise<VethPair> {
  const tag = randomBytes(3).toString('hex');
  const a = `hana-t-lka-${tag}`;
  const b = `hana-t-lkb-${tag}`;
  const net = `10.${100 + (randomBytes(1)[0]! % 100)}.${randomBytes(1)[0]!}`;
  const remove = async () => {
    for (const ns of [a, b]) await ip('netns', 'del', ns).catch(() => {});
  };
  try {
    for (const ns of [a, b]) {
      await ip('netns', 'add', ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    await ip('link', 'add', 'veth0', 'netns', a, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', b);
    for (const [ns, host] of [
      [a, 1],
      [b, 2],
    ] as const) {
      await ip('-n', ns, 'addr', 'add', `${net}.${host}/24`, 'dev', 'veth0');
      await ip('-n', ns, 'link', 'set', 'veth0', 'up');
      await ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'veth0');
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { a, b, addrA: `${net}.1`, addrB: `${net}.2`, remove };
}

export type LineChild = {
  proc: ChildProcess;
  lines: string[];
  write(line: string): void;
  /** The first line (from `from` on) that `match` accepts, or undefined after `ms`. */
  waitLine(match: (line: string) => boolean, ms?: number, from?: number): Promise<string | undefined>;
  stop(): Promise<void>;
};

export function spawnLines(cmd: readonly string[]): LineChild {
  const proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [proc.stdout!, proc.stderr!]) {
    createInterface({ input: stream }).on('line', (l) => {
      lines.push(l);
      for (const w of waiters) w();
    });
  }
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    lines,
    write: (line) => proc.stdin!.write(`${line}\n`),
    waitLine(match, ms = 10_000, from = 0) {
      return new Promise((resolve) => {
        const check = () => {
          for (let i = from; i < lines.length; i++) {
            if (match(lines[i]!)) {
              done();
              return resolve(lines[i]);
            }
          }
        };
        const timer = setTimeout(() => {
          done();
          resolve(undefined);
        }, ms);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.stdin!.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      proc.kill('SIGTERM');
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * How far apart two beat lines are, in ms of the first one's tempo, by the phase within
 * `quantum`: Link peers agree on phase, not on beat numbers. `ours` and `theirs` are
 * (CLOCK_MONOTONIC µs, beat) samples taken at interleaved instants; `theirs` is fitted with a
 * line and read at each of `ours` instants, so no two samples need be simultaneous.
 */
export function phaseErrorsMs(
  ours: ReadonlyArray<readonly [number, number]>,
  theirs: ReadonlyArray<readonly [number, number]>,
  bpm: number,
  quantum: number,
): number[] {
  const n = theirs.length;
  const mt = theirs.reduce((s, [t]) => s + t, 0) / n;
  const mb = theirs.reduce((s, [, b]) => s + b, 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, b] of theirs) {
    num += (t - mt) * (b - mb);
    den += (t - mt) ** 2;
  }
  const slope = num / den;
  return ours.map(([t, b]) => {
    let d = (((b - (mb + slope * (t - mt))) % quantum) + quantum) % quantum;
    if (d > quantum / 2) d -= quantum;
    return (d * 60_000) / bpm;
  });
}

/** A status line of the C++ Link peer (test/fixtures/link/link-peer.cpp). */
export type PeerStatus = { tempo: number; peers: number; playing: boolean };

export function peerStatus(line: string): PeerStatus | undefined {
  const m = /^status tempo=([\d.]+) peers=(\d+) playing=(\d)/.exec(line);
  return m ? { tempo: Number(m[1]), peers: Number(m[2]), playing: m[3] === '1' } : undefined;
}

/** The first status line the Link peer prints from now on that `f` accepts. */
export function waitPeer(
  peer: LineChild,
  f: (p: PeerStatus) => boolean,
  ms = 15_000,
): Promise<string | undefined> {
  return peer.waitLine(
    (l) => {
      const p = peerStatus(l);
      return p !== undefined && f(p);
    },
    ms,
    peer.lines.length,
  );
}

/** (CLOCK_MONOTONIC µs, beat) pairs the Link peer printed after line `from`. */
export function peerSamples(peer: LineChild, from: number): Array<[number, number]> {
  return peer.lines
    .slice(from)
    .filter((l) => l.startsWith('sample '))
    .map((l) => l.split(' ').slice(1).map(Number) as [number, number]);
}
