import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
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

  it('never lets two holders in one process overlap, and the lock is never seen empty or partial', async () => {
    // Holders in one process write the same PID: a waiter that read a released holder's lock
    // must not judge the next holder's stale (publishers.test.ts once lost one of 12 concurrent
    // trusts under load that way), nor take a lock caught between create and write for a
    // crash's leftover. acquireLock directly, so the in-process queue of withLock is bypassed.
    const path = join(root, 'many.lock');
    let inside = 0;
    let most = 0;
    let entered = 0;
    const job = async () => {
      // Mutual exclusion is under test, not waiting: a budget no loaded machine runs out of.
      const lock = await acquireLock(path, { tries: 5000 });
      if (!lock.ok) return false;
      most = Math.max(most, ++inside);
      entered++;
      // Real file work, as a store change does, so releases land amid other holders' I/O.
      await writeFile(`${path}.data`, String(entered));
      await readFile(`${path}.data`, 'utf8');
      inside--;
      await lock.release();
      return true;
    };
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      for (let i = 0; watching && i < 1_000_000; i++) {
        const text = await readFile(path, 'utf8').catch(() => undefined);
        if (text !== undefined) seen.add(text.replace(/[0-9a-f]{16}\n$/, 'TOKEN\n'));
      }
    })();
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(Array.from({ length: 12 }, job));
      assert.ok(results.every(Boolean), `round ${round}: a holder was refused`);
    }
    watching = false;
    await watcher;
    assert.equal(entered, 120);
    assert.equal(most, 1, 'two holders were inside the lock at once');
    assert.ok(seen.size > 0, 'the watcher never saw the lock');
    for (const text of seen)
      assert.match(text, /^\d+\n(\d+|-)\nTOKEN\n$/, 'the lock was seen empty or partial');
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  it('gives each acquisition its own token, and takes over an empty lock left by a crash', async () => {
    const path = join(root, 'token.lock');
    const texts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const lock = await acquireLock(path);
      if (!lock.ok) assert.fail(lock.error);
      texts.push(await readFile(path, 'utf8'));
      await lock.release();
    }
    assert.notEqual(texts[0], texts[1]);
    await writeFile(path, '');
    const lock = await acquireLock(path, { tries: 20, intervalMs: 1 });
    if (!lock.ok) assert.fail(lock.error);
    assert.equal((await readFile(path, 'utf8')).split('\n')[0], String(process.pid));
    await lock.release();
    assert.deepEqual(
      (await readdir(root)).filter((f) => f.startsWith('.token.lock')),
      [],
      'no temp file is left beside the lock',
    );
  });

  it('never loses a change when several processes, each with several callers, fight for it', async () => {
    // The attacker here is timing: the CLI and a daemon change the same store at once, each
    // with concurrent callers of its own. Every increment is a read-modify-write under the lock.
    const path = join(root, 'fight.lock');
    const counter = join(root, 'fight.count');
    await writeFile(counter, '0');
    const procs = 4;
    const rounds = 15;
    const parallel = 6;
    const cli = fileURLToPath(new URL('../helpers/lock-counter-cli.ts', import.meta.url));
    const outs = await Promise.all(
      Array.from(
        { length: procs },
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, [cli, path, counter, String(rounds), String(parallel)], {
              stdio: ['ignore', 'pipe', 'inherit'],
            });
            let out = '';
            child.stdout.on('data', (d) => {
              out += d;
            });
            const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
            child.on('error', reject);
            child.on('exit', (code) => {
              clearTimeout(timer);
              if (code === 0) resolve(out.trim());
              else reject(new Error(`lock fighter exited ${code}`));
            });
          }),
      ),
    );
    assert.deepEqual(outs, Array(procs).fill('done 0'), 'a caller was refused the lock');
    assert.equal(Number(await readFile(counter, 'utf8')), procs * rounds * parallel, 'an increment was lost');
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  it('a holder in this process that hangs costs the callers behind it a bounded wait and a refusal', async () => {
    const path = join(root, 'hung.lock');
    let release: () => void = () => {};
    const hung = withLock(path, () => new Promise<void>((r) => (release = r)));
    // Queued behind the hung holder: waits its bound, then polls the file, then says busy.
    const behind = await withLock(path, async () => 'ran', { queueWaitMs: 50, tries: 3, intervalMs: 5 });
    assert.equal(behind.ok, false);
    assert.match(
      behind.ok ? '' : behind.error,
      new RegExp(`held by another hana process \\(pid ${process.pid}\\)`),
    );
    release();
    assert.deepEqual(await hung, { ok: true, value: undefined });
    // Once it let go, the next caller gets in at once.
    assert.deepEqual(await withLock(path, async () => 'next'), { ok: true, value: 'next' });
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  it("sweeps the temp file a killed acquisition left, never a live process's", async () => {
    const dir = join(root, 'sweep');
    await mkdir(dir);
    const path = join(dir, 'x.lock');
    const dead = join(dir, `.x.lock.${deadPid()}.0123abcd.tmp`);
    const live = join(dir, `.x.lock.${process.ppid}.0123abcd.tmp`);
    const other = join(dir, `.y.lock.${deadPid()}.0123abcd.tmp`);
    for (const f of [dead, live, other]) await writeFile(f, '1\n-\n00\n');
    const lock = await acquireLock(path);
    if (!lock.ok) assert.fail(lock.error);
    await lock.release();
    // Another lock's temp file is that lock's to sweep.
    assert.deepEqual((await readdir(dir)).sort(), [basename(live), basename(other)].sort());
  });

  it('a directory where the lock should be is a clear error at once, never taken for junk and removed', async () => {
    const path = join(root, 'dir.lock');
    await mkdir(path);
    const lock = await acquireLock(path, { tries: 3, intervalMs: 1 });
    assert.equal(lock.ok, false);
    assert.match(lock.ok ? '' : lock.error, new RegExp(`cannot create lock ${path}: .*EISDIR`));
    assert.ok((await stat(path)).isDirectory(), 'left where it was');
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
