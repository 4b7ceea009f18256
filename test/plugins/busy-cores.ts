import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

// Keeps every core busy while a test runs: one busy loop per core, plus one, so the code under
// test competes for a core the way it does on a loaded machine. The loops are killed by PID
// when the test is done, and each also ends by itself when its parent is gone (a test process
// that dies must not leave them spinning).

export type BusyCores = { readonly pids: number[]; stop(): Promise<void> };

export function busyCores(extra = 1): BusyCores {
  const procs: ChildProcess[] = [];
  for (let i = 0; i < availableParallelism() + extra; i++) {
    const loop = 'const p = process.ppid; for (;;) if (process.ppid !== p) process.exit();';
    procs.push(spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }));
  }
  return {
    pids: procs.map((p) => p.pid!),
    async stop() {
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.exitCode !== null || p.signalCode !== null) return resolve();
              p.once('exit', () => resolve());
              p.kill('SIGKILL');
            }),
        ),
      );
    },
  };
}
