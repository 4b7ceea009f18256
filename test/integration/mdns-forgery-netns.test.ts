import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensembleTag } from '../../daemon/link/binding.ts';
import { eventually, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { createNetns, ip, type Netns, netnsUnavailable } from '../helpers/netns.ts';
import { announce, randomDeviceId } from '../protocols/mdns/forge.ts';
import { type Forger, spawnForger } from '../protocols/mdns/forger.ts';

// A hostile host on the daemon's LAN (both inside one namespace this file creates) sends forged
// `_hana._udp` announcements over real multicast. mDNS is only a dialling hint: none of them
// may crash the daemon, pick the address it dials, or stop it dialling anyone.

const skip = netnsUnavailable();
const SOURCE = '10.66.0.1'; // the interface the forged packets leave from
const FORGED = '10.66.0.9'; // an address of this host that the forged A records name instead
const TAG = ensembleTag('default');

describe('forged mDNS announcements against a real daemon', { skip }, () => {
  let ns: Netns;
  let daemon: TestDaemon;
  let forger: Forger;

  before(async () => {
    ns = await createNetns([`${SOURCE}/24`, `${FORGED}/24`]);
    await ip('-n', ns.name, 'route', 'add', '224.0.0.0/4', 'dev', 'v0');
    daemon = await startDaemon({
      wrap: ns.exec(),
      config: { name: 'victim', peers: { bind: '0.0.0.0', discovery: true } },
    });
    forger = await spawnForger(ns.exec());
  });
  after(async () => {
    await forger?.stop();
    await daemon?.stop();
    await ns?.remove();
  });

  const alive = () => daemon.proc.exitCode === null && daemon.proc.signalCode === null;
  const lastLogs = () =>
    daemon.logs
      .slice(-8)
      .map((l) => JSON.stringify(l))
      .join('\n');

  it('an `id` that is not a device ID is rejected and counted, and the daemon lives', async () => {
    const packet = announce({
      instance: 'forged-bad-id',
      port: 40001,
      txt: { v: '1', id: 'NOT-A-DEVICE-ID', ens: TAG },
    });
    await forger.send([packet, packet, packet], { gapMs: 100, iface: SOURCE });
    const counted = await eventually(
      async () => alive() && ((await daemon.status()).mdns?.rejected['bad-id'] ?? 0) >= 1,
      40,
      100,
    );
    assert.ok(alive(), `the daemon died (exit ${daemon.proc.exitCode}); last logs:\n${lastLogs()}`);
    assert.ok(counted, 'status.mdns.rejected counts bad-id');
    const line = daemon.logs.find((l) => l.event === 'mdns.rejected' && l.reason === 'bad-id');
    assert.ok(line, 'a rejection is logged');
    assert.equal(line.security, true, 'on the security logger');
    assert.equal(line.source, SOURCE);
  });

  it('dials the packet source, not the address a forged A record names', async () => {
    const port = await forger.listen(SOURCE);
    assert.equal(await forger.listen(FORGED, port), port);
    const packet = announce({
      instance: 'forged-a-record',
      port,
      txt: { v: '1', id: randomDeviceId(), ens: TAG },
      addresses: [FORGED],
    });
    await forger.send([packet], { iface: SOURCE });
    const dialled = await eventually(() => forger.datagramsTo(SOURCE, port).length > 0, 50, 100);
    assert.ok(alive(), `the daemon died; last logs:\n${lastLogs()}`);
    assert.equal(forger.datagramsTo(FORGED, port).length, 0, 'nothing sent to the forged A record');
    assert.ok(dialled, `no handshake reached ${SOURCE}:${port}`);
  });

  it('a hint naming a blocked device does not stop dialling the address it came from', async () => {
    const blocked = randomDeviceId();
    const r = await daemon.cli('trust', 'block', blocked);
    assert.equal(r.code, 0, r.stderr);
    const port = await forger.listen(SOURCE);
    const packet = announce({
      instance: 'forged-blocked-hint',
      port,
      txt: { v: '1', id: blocked, ens: TAG },
    });
    await forger.send([packet], { iface: SOURCE });
    const dialled = await eventually(() => forger.datagramsTo(SOURCE, port).length > 0, 50, 100);
    assert.ok(alive(), `the daemon died; last logs:\n${lastLogs()}`);
    assert.ok(dialled, `the blocked hint stopped the dial to ${SOURCE}:${port}`);
  });
});
