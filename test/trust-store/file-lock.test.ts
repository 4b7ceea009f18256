import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acquireLock, withLock } from '../../trust-store/file-lock.ts';

// The lock beside plugins.json and publishers.json: one holder at a time, a crashed holder's
// lock is taken over, a live holder's is waited for and then reported by PID.

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hana-lock-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function deadPid(): number {
  // A process that has exited; its PID is not reused within this test's few milliseconds.
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('file lock', () => {
  it('serialises holders in one process and removes the lock after', async () => {
    const path = join(root, 'a.lock');
    const order: string[] = [];
    const job = (name: string) =>
      withLock(path, async () => {
        order.push(`${name}+`);
        await new Promise((r) => setTimeout(r, 5));
        order.push(`${name}-`);
        return name;
      });
    const results = await Promise.all([job('x'), job('y'), job('z')]);
    assert.deepEqual(results.map((r) => r.ok && r.value).sort(), ['x', 'y', 'z']);
    for (let i = 0; i < order.length; i += 2)
      assert.equal(order[i]!.slice(0, -1), order[i + 1]!.slice(0, -1));
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  it('takes over a lock whose process is gone', async () => {
    const path = join(root, 'stale.lock');
    await writeFile(path, `${deadPid()}\n`);
    const lock = await acquireLock(path, { tries: 5, intervalMs: 5 });
    if (!lock.ok) assert.fail(lock.error);
    assert.equal((await readFile(path, 'utf8')).split('\n')[0], String(process.pid));
    await lock.release();
  });

  it('takes over a lock naming our own PID that this process does not hold (a PID reused after a crash)', async () => {
    const path = join(root, 'own-pid.lock');
    await writeFile(path, `${process.pid}\n`);
    const lock = await acquireLock(path, { tries: 2, intervalMs: 5 });
    if (!lock.ok) assert.fail(lock.error);
    await lock.release();
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  it('a release does not delete a lock another process took over', async () => {
    const path = join(root, 'taken.lock');
    const lock = await acquireLock(path);
    if (!lock.ok) assert.fail(lock.error);
    await writeFile(path, `${process.ppid}\n`);
    await lock.release();
    assert.equal(await readFile(path, 'utf8'), `${process.ppid}\n`);
  });

  it('waits for a live holder, then reports it by PID', async () => {
    const path = join(root, 'held.lock');
    await writeFile(path, `${process.ppid}\n`);
    const lock = await acquireLock(path, { tries: 3, intervalMs: 5 });
    assert.equal(lock.ok, false);
    assert.match(
      lock.ok ? '' : lock.error,
      new RegExp(`held by another hana process \\(pid ${process.ppid}\\)`),
    );
    assert.equal((await readFile(path, 'utf8')).trim(), String(process.ppid), 'a live lock is left alone');
  });

  it("a holder's error propagates and still releases the lock", async () => {
    const path = join(root, 'throw.lock');
    await assert.rejects(
      withLock(path, async () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });
});
