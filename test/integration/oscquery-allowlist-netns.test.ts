import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { eventually, ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { createNetns, type Netns, netnsUnavailable } from '../helpers/netns.ts';

// OSCQuery opened with OSC to a "LAN" (addresses inside a namespace this test creates): it admits
// whom `osc.allow` admits, on every connection, and closes the rest as a security event.

const exec = promisify(execFile);
const CLIENT = join(ROOT, 'test', 'helpers', 'oscquery-from-cli.ts');
const skip = netnsUnavailable();

describe('OSCQuery allowlist on a LAN address', { skip }, () => {
  let ns: Netns;
  let d: TestDaemon;
  let port: number;
  before(async () => {
    ns = await createNetns(['10.98.0.1/24', '10.98.0.2/24', '10.98.0.3/24']);
    d = await startDaemon({
      wrap: ns.exec(),
      args: ['--osc-bind', '0.0.0.0'],
      config: { osc: { allow: ['10.98.0.2/32'] } },
    });
    port = (await d.status()).oscquery!.port;
  });
  after(async () => {
    await d?.stop();
    await ns?.remove();
  });

  const from = async (address: string) => {
    const [cmd, ...args] = ns.exec(
      process.execPath,
      CLIENT,
      address,
      '10.98.0.1',
      String(port),
      '/tempo?TYPE',
    );
    return JSON.parse((await exec(cmd!, args, { timeout: 60_000 })).stdout) as { http: unknown; ws: unknown };
  };

  it('serves an allowed address over HTTP and WebSocket', async () => {
    assert.deepEqual(await from('10.98.0.2'), { http: 200, ws: 'open' });
  });

  it('closes both to an address outside osc.allow, counted and logged as a security event', async () => {
    const r = await from('10.98.0.3');
    assert.notEqual(r.http, 200);
    assert.notEqual(r.ws, 'open');
    assert.ok(
      await eventually(async () => (await d.status()).oscquery!.rejected['oscquery-not-allowed'] === 2),
    );
    const line = d.logs.find((l) => l.reason === 'oscquery-not-allowed');
    assert.equal(line?.security, true);
    assert.equal(line?.source, '10.98.0.3');
  });

  it('always admits loopback', async () => {
    assert.deepEqual(await from('127.0.0.1'), { http: 200, ws: 'open' });
  });
});
