import { readFileSync } from 'node:fs';

// The plugin host's resident memory, read by the daemon from /proc, not reported by the child:
// a child whose isolate was escaped could report anything. Memory outside the V8 heaps that
// `memoryLimit` counts (measured: Intl objects grew a host with a 32 MB plugin to 3 GB, all of
// it ICU's) shows up here, whatever allocated it.

/**
 * The process's resident set in MiB, or undefined if it is gone or /proc is not there. Read
 * synchronously: /proc is made by the kernel from memory, and the promise API cost ten times
 * the CPU (172 µs against 16 µs a read, measured) four times a second in an idle daemon.
 */
export async function readRssMb(pid: number): Promise<number | undefined> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) / 1024 : undefined;
}

/**
 * The default ceiling: what the plugins may hold in their heaps, twice over (V8 keeps room to
 * collect into, and each isolate has code and bookkeeping besides its heap), plus the host's own
 * Node.js, isolated-vm and frame buffers (measured: ≈ 70–100 MB with the examples running).
 */
export function defaultRssCeilingMb(memoryMbs: readonly number[]): number {
  let sum = 0;
  for (const m of memoryMbs) sum += m;
  return 256 + 2 * sum;
}
