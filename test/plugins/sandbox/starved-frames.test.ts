import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { missingTool } from '../../helpers/tools.ts';

// A plugin is charged the CPU it used, never the time it waited for a core. isolated-vm's
// `cpuTime` is wall time under the isolate's lock in the build we run (plugins/sandbox/cpu-clock.ts),
// so this starves a sandbox for real: its process pinned to one core at nice 19 beside a busy loop
// at nice 0 on that core. Charged by `cpuTime`, its frames of a few ms were charged 490–670 ms,
// every one an overrun; charged by what the process's other threads could have used, 3–15 ms.

const skip =
  missingTool('taskset', 'util-linux') ??
  (process.getuid?.() === 0 ? undefined : 'needs root to lower and pin threads');

const CHILD = join(import.meta.dirname, 'starved-frames-child.ts');
type Row = { code: string; cpuMs: number; wallMs: number };

const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

const spinOnCore0 = (): ChildProcess => {
  const loop = 'const p = process.ppid; for (;;) if (process.ppid !== p) process.exit();';
  const p = spawn('taskset', ['-c', '0', process.execPath, '-e', loop], { stdio: 'ignore' });
  procs.push(p);
  return p;
};

describe('frames starved of CPU', { skip }, () => {
  it('are not charged the time they waited: no overrun, and each frame costs a fraction of its wall time', async () => {
    const child = spawn('taskset', ['-c', '0', process.execPath, '--no-node-snapshot', CHILD], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    procs.push(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const rows: Row[] = [];
    let ready = false;
    const lines = createInterface({ input: child.stdout! });
    const done = (async () => {
      for await (const line of lines) {
        if (line === 'ready') {
          ready = true;
          spinOnCore0();
          // Every thread of the child, the isolate's pool included, at the lowest priority.
          for (const tid of readdirSync(`/proc/${child.pid}/task`)) {
            try {
              setPriority(Number(tid), 19);
            } catch {
              // a thread that ended meanwhile
            }
          }
          child.stdin!.write('go\n');
        } else if (line.startsWith('{')) rows.push(JSON.parse(line) as Row);
      }
    })();
    const bound = new Promise<never>((_, reject) => {
      const t = setTimeout(
        () => reject(new Error(`the child answered ${rows.length} frames in 100 s`)),
        100_000,
      );
      t.unref();
      void exited.then(() => clearTimeout(t));
    });
    await Promise.race([Promise.all([done, exited]), bound]);
    assert.ok(ready, 'the child loaded its plugin');
    assert.equal(rows.length, 24);
    const overruns = rows.filter((r) => r.code === 'overrun');
    assert.deepEqual(overruns, [], 'a starved frame is not an overrun');
    // Each frame does a few ms of work: charged with what it waited it cost hundreds.
    for (const r of rows)
      assert.ok(r.cpuMs < 40, `charged ${r.cpuMs} ms for a frame of a few ms: ${JSON.stringify(r)}`);
    for (const r of rows) assert.ok(r.code === 'ok' || r.code === 'starved', JSON.stringify(r));
    // Last, so that charging by `cpuTime` fails on the overruns above, not here: with that charge
    // no frame looks starved, since what it waited is counted as its CPU.
    const waited = rows.filter((r) => r.wallMs > 10 * Math.max(r.cpuMs, 0.05));
    assert.ok(
      waited.length >= 10,
      `the machine did starve it: ${waited.length} of 24 frames took 10× their CPU in wall time (${JSON.stringify(rows.slice(0, 5))})`,
    );
  });
});
