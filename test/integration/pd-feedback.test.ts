import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { control, eventually, ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { missingTool } from '../helpers/tools.ts';

// Pure Data vanilla (Debian's puredata-core) with the patch from docs/examples: it subscribes
// with plain types and sends a value, as a performer's patch would. Vanilla's [oscparse] cannot
// read T/F, which is why "plain" exists. Pd is killed by PID after the file's tests.

const noPd = missingTool('pd', 'puredata-core');
const PATCH = join(ROOT, 'docs', 'examples', 'hana-feedback.pd');

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind({ address: '127.0.0.1', port: 0 }, () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('Pure Data vanilla and hana', { skip: noPd }, () => {
  let d: TestDaemon;
  let pd: ChildProcess | undefined;
  const printed: string[] = [];

  before(async () => {
    d = await startDaemon();
    const mine = await freeUdpPort();
    pd = spawn(
      'pd',
      [
        '-nogui',
        '-nosound',
        '-nomidi',
        '-noprefs',
        '-stderr',
        '-open',
        PATCH,
        '-send',
        `hana-connect ${d.udpPort} ${mine}; hana-opacity 0.25`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let rest = '';
    pd.stderr!.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      printed.push(...lines.map((l) => l.trim()));
    });
  });
  after(async () => {
    pd?.kill('SIGKILL');
    await d?.stop('SIGTERM');
  });

  it('a value sent by the patch is applied', async () => {
    assert.ok(
      await eventually(async () => (await d.values('/layer/1/opacity'))['/layer/1/opacity'] === 0.25),
      `pd printed: ${printed.join(' | ')}`,
    );
  });

  it('plain feedback reaches [oscparse]: the snapshot, then a change made elsewhere, bools as 0/1', async () => {
    assert.ok(
      await eventually(async () => printed.includes('fb: master blackout 0')),
      `pd printed: ${printed.join(' | ')}`,
    );
    await control(d, 'set', { path: '/master/blackout', words: ['true'] });
    assert.ok(
      await eventually(async () => printed.includes('fb: master blackout 1')),
      `pd printed: ${printed.join(' | ')}`,
    );
    assert.ok(
      !printed.some((l) => /unknown tag/.test(l)),
      `oscparse refused nothing: ${printed.join(' | ')}`,
    );
    const status = (await control(d, 'status')) as { feedback: { subscriptions: { format: string }[] } };
    assert.deepEqual(
      status.feedback.subscriptions.map((s) => s.format),
      ['plain'],
    );
  });
});
