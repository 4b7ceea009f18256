import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ensembleTag } from '../../daemon/link/binding.ts';
import { eventually, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { createNetns, ip, type Netns, netnsUnavailable } from '../helpers/netns.ts';
import { announce, randomDeviceId, seeded } from '../protocols/mdns/forge.ts';
import { type Forger, spawnForger } from '../protocols/mdns/forger.ts';
import { createFuzzer, type FuzzKind } from '../protocols/mdns/fuzz-announcements.ts';

// Fuzz over real multicast: a host inside a namespace this file creates sends a bounded burst
// of random and mutated `_hana._udp` announcements to a real daemon beside it. The daemon must
// neither crash nor stop discovering, and must count what it ignored. Replay a failure with
// HANA_MDNS_FUZZ_SEED=<seed printed in the diagnostics>.

const skip = netnsUnavailable();
const SOURCE = '10.67.0.1';
const PACKETS = 1500; // ≈ 3 s at a 1 ms gap
const TAG = ensembleTag('default');

describe('mDNS announcement fuzz against a real daemon', { skip }, () => {
  let ns: Netns;
  let daemon: TestDaemon;
  let forger: Forger;

  before(async () => {
    ns = await createNetns([`${SOURCE}/24`]);
    await ip('-n', ns.name, 'route', 'add', '224.0.0.0/4', 'dev', 'v0');
    daemon = await startDaemon({
      wrap: ns.exec(),
      config: { name: 'fuzzed', peers: { bind: '0.0.0.0', discovery: true } },
    });
    forger = await spawnForger(ns.exec());
  });
  after(async () => {
    await forger?.stop();
    await daemon?.stop();
    await ns?.remove();
  });

  it(`survives ${PACKETS} hostile announcements, counts them, and still discovers`, async (t) => {
    const seed = Number(process.env.HANA_MDNS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    t.diagnostic(`seed ${seed}`);
    const fuzz = createFuzzer({ rand: seeded(seed), ensembleTag: TAG });
    const kinds: Partial<Record<FuzzKind, number>> = {};
    const packets = Array.from({ length: PACKETS }, () => {
      const { kind, packet } = fuzz.next();
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      return packet;
    });
    const started = performance.now();
    const sent = await forger.send(packets, { gapMs: 1, iface: SOURCE, timeoutMs: 60_000 });
    t.diagnostic(
      `sent ${sent}/${PACKETS} in ${Math.round(performance.now() - started)} ms: ${JSON.stringify(kinds)}`,
    );
    assert.ok(sent >= PACKETS * 0.99, `only ${sent} packets left the forger`);

    const alive = () => daemon.proc.exitCode === null && daemon.proc.signalCode === null;
    const lastLogs = () =>
      daemon.logs
        .slice(-8)
        .map((l) => JSON.stringify(l))
        .join('\n');
    // Discovery still works: a well-formed announcement after the storm is found and dialled.
    const port = await forger.listen(SOURCE);
    const after = announce({
      instance: 'after-the-storm',
      port,
      txt: { v: '1', id: randomDeviceId(), ens: TAG },
    });
    await forger.send([after, after], { gapMs: 200, iface: SOURCE });
    const dialled = await eventually(() => !alive() || forger.datagramsTo(SOURCE, port).length > 0, 100, 100);
    assert.ok(alive(), `the daemon died (exit ${daemon.proc.exitCode}); last logs:\n${lastLogs()}`);
    assert.ok(dialled, 'a well-formed announcement after the fuzz was not dialled');

    const status = await daemon.status();
    t.diagnostic(`status.mdns ${JSON.stringify(status.mdns)}`);
    const codes = Object.keys(status.mdns.rejected);
    assert.ok(
      status.mdns.rejectedTotal >= PACKETS / 4,
      `only ${status.mdns.rejectedTotal} rejections counted`,
    );
    for (const code of ['undecodable', 'bad-id', 'bad-version', 'no-txt']) {
      assert.ok(codes.includes(code), `no ${code} rejection counted: ${JSON.stringify(status.mdns)}`);
    }

    // One security line per (reason, source) per minute, however many packets.
    const lines = daemon.logs.filter((l) => l.event === 'mdns.rejected');
    const keys = new Set(lines.map((l) => `${String(l.reason)} ${String(l.source)}`));
    assert.equal(lines.length, keys.size, 'a (reason, source) was logged twice within the interval');
    assert.ok(lines.every((l) => l.security === true));
    const failures = daemon.logs.filter(
      (l) =>
        l.event === 'mdns.found-error' ||
        (typeof l.msg === 'string' && l.msg.includes('handling an announcement failed')),
    );
    assert.deepEqual(failures, [], 'an announcement made our own code throw');
  });
});
