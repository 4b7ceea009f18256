import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { eventually, ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { missingPythonModule } from '../helpers/tools.ts';

// The Python recipe of docs/osc.md, run as printed: Debian's python3-liblo sets values over UDP
// and TCP and reads plain-typed feedback.

const noLiblo = missingPythonModule('liblo', 'python3-liblo');
const SCRIPT = join(ROOT, 'docs', 'examples', 'hana-osc.py');
const run = promisify(execFile);

describe('Python (liblo) and hana', { skip: noLiblo }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop('SIGTERM');
  });

  it('the docs example sets over UDP and TCP and prints plain feedback, the clamp included', async () => {
    const { stdout } = await run('/usr/bin/python3', [SCRIPT, String(d.udpPort)], { timeout: 30_000 });
    const lines = stdout.trim().split('\n');
    assert.ok(lines.includes('/master/blackout 0'), `bools as 0/1: ${stdout}`);
    assert.ok(
      lines.some((l) => /^\/layer\/2\/hue 360(\.0)?$/.test(l)),
      `the TCP write, clamped, as feedback: ${stdout}`,
    );
    assert.ok(
      await eventually(async () => {
        const v = await d.values('/layer/*/*');
        return Math.abs((v['/layer/1/opacity'] as number) - 0.4) < 1e-6 && v['/layer/2/hue'] === 360;
      }),
    );
    assert.equal((await d.status()).feedback.subscribers, 0, 'the script unsubscribed');
  });
});
