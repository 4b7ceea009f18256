import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { createNetns, ip, type Netns, netnsUnavailable } from '../helpers/netns.ts';
import { missingPythonModule } from '../helpers/tools.ts';

// Another app's view of hana's announcements: Debian's python3-zeroconf browses `_oscjson._tcp`
// and `_osc._udp` in a private namespace (nothing leaves it) and resolves the ports the daemon
// serves. An interface with an address, as on a LAN: on loopback alone bonjour announces no A
// record, and zeroconf resolves no service without one.

const run = promisify(execFile);
const skip = netnsUnavailable() ?? missingPythonModule('zeroconf', 'python3-zeroconf');
const HOST = '10.67.0.1';
const BROWSE = join(import.meta.dirname, '..', 'helpers', 'zeroconf-browse.py');

describe('OSCQuery over mDNS, found by python3-zeroconf', { skip }, () => {
  let ns: Netns;
  let d: TestDaemon;
  before(async () => {
    ns = await createNetns([`${HOST}/24`]);
    // Without it every mDNS send fails with ENETUNREACH (DESIGN.md §5).
    await ip('-n', ns.name, 'route', 'add', '224.0.0.0/4', 'dev', 'v0');
    d = await startDaemon({ wrap: ns.exec(), config: { name: 'stage', oscquery: { advertise: true } } });
  });
  after(async () => {
    await d?.stop();
    await ns?.remove();
  });

  it('finds _oscjson._tcp at the OSCQuery port and _osc._udp at the OSC port', async () => {
    const port = (await d.status()).oscquery!.port;
    const types = ['_oscjson._tcp.local.', '_osc._udp.local.'];
    const [cmd, ...args] = ns.exec('/usr/bin/python3', BROWSE, HOST, '20', ...types);
    const { stdout } = await run(cmd!, args, { timeout: 60_000 });
    const found = JSON.parse(stdout) as Record<string, { name: string; port: number | null }>;
    assert.equal(found['_oscjson._tcp.local.']?.port, port, stdout);
    assert.equal(found['_osc._udp.local.']?.port, d.udpPort, stdout);
    assert.match(found['_oscjson._tcp.local.']!.name, /^stage-/);
  });
});
