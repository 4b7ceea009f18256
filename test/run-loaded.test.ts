import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers/daemon.ts';
import { HIDE_ENV } from './helpers/tools.ts';
import { waitFor } from './helpers/wait.ts';

// test/run-loaded.ts, the runner behind `npm run test:loaded`: the suite's exit code is its own,
// and no spinner outlives it, however it ends. Commands here are tiny stand-ins for the suite.

const RUNNER = join(ROOT, 'test', 'run-loaded.ts');

type Run = { code: number | null; stderr: string; stdout: string; pids: number[] };

function runLoaded(args: string[], opts: { killAfterStart?: boolean } = {}): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [RUNNER, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      if (opts.killAfterStart && /\(PIDs [\d ]+\)/.test(stderr)) child.kill('SIGKILL');
    });
    child.on('close', (code) => {
      const m = /\(PIDs ([\d ]+)\)/.exec(stderr);
      done({ code, stderr, stdout, pids: m ? m[1]!.trim().split(' ').map(Number) : [] });
    });
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('run-loaded', () => {
  it('exits with the suite’s code and kills its spinners by PID', async () => {
    const r = await runLoaded(['--spinners', '2', '--', process.execPath, '-e', 'process.exit(3)']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.pids.length, 2, r.stderr);
    assert.ok(await waitFor(() => r.pids.every((p) => !alive(p)), 30_000), 'no spinner outlives the run');
  });

  it('keeps the spinners busy while the suite runs', async () => {
    // The stand-in suite reads a spinner's CPU time from /proc twice, 300 ms apart.
    const probe = `
      const fs = require('node:fs');
      const spinners = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).filter((p) => {
        try { return fs.readFileSync('/proc/' + p + '/stat', 'utf8').split(' ')[3] === String(process.ppid)
          && p !== String(process.pid); } catch { return false; }
      });
      const ticks = (p) => { const f = fs.readFileSync('/proc/' + p + '/stat', 'utf8').split(') ')[1].split(' ');
        return Number(f[11]) + Number(f[12]); };
      const before = ticks(spinners[0]);
      setTimeout(() => { console.log(JSON.stringify({ n: spinners.length, used: ticks(spinners[0]) - before })); }, 300);`;
    const r = await runLoaded(['--spinners', '1', '--', process.execPath, '-e', probe]);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as { n: number; used: number };
    assert.equal(seen.n, 1, 'one spinner beside the suite');
    assert.ok(seen.used > 0, 'the spinner burned CPU while the suite ran');
  });

  it('leaves no spinner behind when the runner itself is SIGKILLed', async () => {
    const r = await runLoaded(
      ['--spinners', '1', '--', process.execPath, '-e', 'setTimeout(() => {}, 5000)'],
      {
        killAfterStart: true,
      },
    );
    assert.equal(r.pids.length, 1, r.stderr);
    assert.ok(
      await waitFor(() => r.pids.every((p) => !alive(p)), 60_000),
      'the orphaned spinner ends itself',
    );
  });

  it('--no-tools runs the command with the Debian tools hidden', async () => {
    const r = await runLoaded([
      '--no-tools',
      '--spinners',
      '0',
      '--',
      process.execPath,
      '-e',
      `console.log(process.env.${HIDE_ENV} ?? 'unset')`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /iproute2/);
  });

  it('refuses a spinner count that is not a whole number, in one sentence, exit 2', async () => {
    for (const bad of ['x', '-1', '1.5', '65']) {
      const r = await runLoaded([`--spinners=${bad}`, '--', process.execPath, '-e', '']);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, `run-loaded: --spinners takes a whole number from 0 to 64, got ${bad}\n`);
      assert.deepEqual(r.pids, []);
    }
  });
});
