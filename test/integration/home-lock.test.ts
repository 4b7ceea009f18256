import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { callDaemon } from '../../daemon/control/client.ts';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import { removeStaleTemps } from '../../trust-store/stale-temps.ts';
import { eventually, runStartRefusal, startDaemon, type TestDaemon } from '../helpers/daemon.ts';

// One daemon per home. Two daemons on one home would each restore, save and audit the same
// files and undo each other's writes, so the second must be turned away before it reads or
// writes anything there; and a daemon that was SIGKILLed must not lock its home forever.

const LOCK = 'daemon.lock';

async function call(d: TestDaemon, method: string, params: unknown = {}): Promise<unknown> {
  const r = await callDaemon(controlSocketPath(d.home), method, params, { timeoutMs: 5_000 });
  if (!r.ok) assert.fail(`${method}: ${r.error.message}`);
  return r.result;
}
const status = (d: TestDaemon) => call(d, 'status') as Promise<DaemonStatus>;

type Entry = { type: string; mode: number; ino: number; size: number; mtimeNs: bigint; sha256?: string };

/** Every entry under `root` (the root too): type, mode, inode, size, mtime and, for files, content hash. */
async function snapshot(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  async function walk(rel: string): Promise<void> {
    const abs = join(root, rel);
    const st = await lstat(abs, { bigint: true });
    const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSocket() ? 'socket' : 'other';
    const entry: Entry = {
      type,
      mode: Number(st.mode),
      ino: Number(st.ino),
      size: Number(st.size),
      mtimeNs: st.mtimeNs,
    };
    if (type === 'file')
      entry.sha256 = createHash('sha256')
        .update(await readFile(abs))
        .digest('hex');
    out.set(rel || '.', entry);
    if (type === 'dir') for (const n of (await readdir(abs)).sort()) await walk(join(rel, n));
  }
  await walk('');
  return out;
}

function deadPid(): number {
  // A process that has exited; its PID is not reused within this test's few milliseconds.
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('one daemon per home', () => {
  it('refuses a second daemon on the same home in one sentence, exit 1, leaving the home byte-for-byte untouched', async () => {
    const d = await startDaemon({ config: { storage: { saveDelayMs: 0 } } });
    try {
      // Give the home state, scenes-free audit records and a saved state file, then let it settle.
      await call(d, 'set', { path: '/layer/1/opacity', words: ['0.5'] });
      assert.ok(
        await eventually(async () => {
          const s = (await status(d)).storage;
          return (s.persist?.saves ?? 0) >= 1 && (s.audit?.records ?? 0) >= 1;
        }),
        'the first daemon saved its state and audited the change',
      );
      // A save of the live daemon caught mid-write: its temp file must survive the second start.
      const liveTemp = `.state.sealed.${d.proc.pid}.0123abcd.tmp`;
      await writeFile(join(d.home, liveTemp), 'half a save', { mode: 0o600 });

      const before = await snapshot(d.home);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await snapshot(d.home), before, 'the first daemon is quiet (no writes of its own)');

      const second = await runStartRefusal(
        ['start', '--home', d.home, '--osc-port', '0', '--log-json'],
        15_000,
      );
      const after = await snapshot(d.home);

      assert.deepEqual(after, before, 'the second daemon left the home untouched');
      assert.ok(after.has(liveTemp), "the live daemon's temp file is still there");
      assert.equal(second.code, 1, second.stderr);
      assert.equal(
        second.stderr,
        `hana: could not start: another hana (pid ${d.proc.pid}) is running with home ${d.home}: stop it, or start this one with another --home\n`,
      );
      assert.equal((await readFile(join(d.home, LOCK), 'utf8')).split('\n')[0], String(d.proc.pid));
      // The first daemon is unharmed: its control socket still answers.
      assert.equal((await status(d)).pid, d.proc.pid);
    } finally {
      await d.stop();
    }
  });

  it('a SIGKILLed daemon leaves a stale lock that does not block a restart; a clean stop removes the lock', async () => {
    const d = await startDaemon();
    const home = d.home;
    const killedPid = d.proc.pid;
    assert.equal(await d.stop('SIGKILL', { keepHome: true }), null);
    assert.equal(
      (await readFile(join(home, LOCK), 'utf8')).split('\n')[0],
      String(killedPid),
      'stale lock left',
    );

    const again = await startDaemon({ home });
    try {
      assert.equal((await status(again)).pid, again.proc.pid);
      assert.equal((await readFile(join(home, LOCK), 'utf8')).split('\n')[0], String(again.proc.pid));
    } finally {
      assert.equal(await again.stop('SIGTERM', { keepHome: true }), 0);
    }
    assert.equal(existsSync(join(home, LOCK)), false, 'a clean stop releases the home');
    await rm(home, { recursive: true, force: true });
  });

  it('a lock whose PID now belongs to another process (PID reuse) does not block a start', {
    skip: !existsSync('/proc/self/stat') && 'process start times come from /proc',
  }, async () => {
    const home = await mkdtemp(join(tmpdir(), 'hana-test-'));
    // This test runner is alive, but it is not the process that took the lock: the start time differs.
    await writeFile(join(home, LOCK), `${process.pid}\n1\n`, { mode: 0o600 });
    const d = await startDaemon({ home });
    try {
      assert.equal((await status(d)).pid, d.proc.pid);
    } finally {
      await d.stop();
    }
  });
});

describe('temp files left beside the state file', () => {
  it("removes a dead writer's temp files and old ones, never a live writer's fresh one", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hana-temps-'));
    try {
      await mkdir(dir, { recursive: true });
      const path = join(dir, 'state.sealed');
      const live = `.state.sealed.${process.pid}.aaaa0000.tmp`;
      const dead = `.state.sealed.${deadPid()}.bbbb0000.tmp`;
      const old = `.state.sealed.${process.pid}.cccc0000.tmp`;
      for (const n of [live, dead, old, 'unrelated.tmp', '.state.sealed.notapid.dddd0000.tmp'])
        await writeFile(join(dir, n), 'x');
      const hourAgo = new Date(Date.now() - 3_600_000);
      await utimes(join(dir, old), hourAgo, hourAgo);
      assert.equal(await removeStaleTemps(path), 2);
      assert.deepEqual(
        (await readdir(dir)).sort(),
        ['.state.sealed.notapid.dddd0000.tmp', live, 'unrelated.tmp'].sort(),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
