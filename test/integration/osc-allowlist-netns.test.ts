import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { eventually, ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { createNetns, type Netns, netnsUnavailable } from '../helpers/netns.ts';

// OSC opened to a "LAN" (a dummy interface inside a namespace this test creates): only
// allowlisted sources get through; everyone else is dropped and counted as a security event.

const exec = promisify(execFile);
const SENDER = join(ROOT, 'test', 'helpers', 'send-osc-cli.ts');
const skip = netnsUnavailable();

describe('OSC allowlist on a LAN address', { skip }, () => {
  let ns: Netns;
  let d: TestDaemon;
  before(async () => {
    ns = await createNetns(['10.99.0.1/24', '10.99.0.2/24', '10.99.0.3/24']);
    d = await startDaemon({
      wrap: ns.exec(),
      args: ['--osc-bind', '0.0.0.0'],
      config: { osc: { allow: ['10.99.0.2/32'] } },
    });
  });
  after(async () => {
    await d?.stop();
    await ns?.remove();
  });

  const sendFrom = (from: string, address: string, value: number) => {
    const [cmd, ...args] = ns.exec(
      process.execPath,
      SENDER,
      from,
      '10.99.0.1',
      String(d.udpPort),
      address,
      String(value),
    );
    return exec(cmd!, args);
  };

  it('applies packets from an allowed source', async () => {
    await sendFrom('10.99.0.2', '/layer/1/hue', 30);
    assert.ok(await eventually(async () => (await d.values('/layer/1/hue'))['/layer/1/hue'] === 30));
  });

  it('drops and counts packets from a source outside the allowlist', async () => {
    await sendFrom('10.99.0.3', '/layer/1/hue', 60);
    assert.ok(await eventually(async () => (await d.status()).rejected['not-allowed'] === 1));
    assert.equal((await d.values('/layer/1/hue'))['/layer/1/hue'], 30);
    const line = d.logs.find((l) => l.reason === 'not-allowed');
    assert.equal(line?.security, true);
    assert.equal(line?.source, '10.99.0.3');
  });

  it('always accepts loopback', async () => {
    await sendFrom('127.0.0.1', '/layer/1/hue', 90);
    assert.ok(await eventually(async () => (await d.values('/layer/1/hue'))['/layer/1/hue'] === 90));
  });
});
