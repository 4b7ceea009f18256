import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { formatDeviceId } from '../../../trust-store/device-id.ts';
import { ip, netnsUnavailable } from '../../helpers/netns.ts';
import {
  addNetns,
  type ChildEvent,
  type DiscoveryChild,
  deleteNetns,
  makeBridgedHosts,
  spawnDiscovery,
  uniqueName,
} from './mdns-netns.ts';

// Real mDNS between discovery processes, only inside network namespaces this file creates.

const skip = netnsUnavailable();
// Peers reject an announcement whose id is not a device ID, so each child gets a real one.
const newId = () => formatDeviceId(randomBytes(32));
const ID = { ALPHA: newId(), BRAVO: newId(), CHARLIE: newId(), DELTA: newId(), L: newId() };
const HOST_ID = [newId(), newId(), newId()];
const FIND_MS = 15_000;

const foundPeer = (instance: string) => (e: ChildEvent) =>
  e.event === 'found' && e.peer.instance === instance;
const firstFound = (c: DiscoveryChild) => {
  const e = c.events.find((x) => x.event === 'found');
  return e ? `${e.ms} ms after start (${e.at} ms after spawn)` : 'none';
};

async function expectFound(by: DiscoveryChild, instance: string): Promise<ChildEvent> {
  const hit = await by.waitFor(foundPeer(instance), FIND_MS);
  assert.ok(hit, `${by.name} did not find ${instance} within ${FIND_MS} ms\n${by.diagnostics()}`);
  return hit;
}

describe('mDNS discovery, one namespace with loopback only', { skip }, () => {
  const namespaces: string[] = [];
  let a: DiscoveryChild;
  let b: DiscoveryChild;
  let c: DiscoveryChild;
  let d: DiscoveryChild;

  before(async () => {
    const ns = await addNetns(uniqueName('lo'));
    namespaces.push(ns);
    const band = { ensembleTag: 'band-one', requeryMs: 500 };
    a = spawnDiscovery(ns, { instance: 'alpha-1', port: 41001, deviceId: ID.ALPHA, ...band });
    b = spawnDiscovery(ns, { instance: 'bravo-2', port: 41002, deviceId: ID.BRAVO, ...band });
    // Another band on the same LAN: c and d see each other (so both really advertise), a and b not.
    const other = { ensembleTag: 'band-two', requeryMs: 500 };
    c = spawnDiscovery(ns, { instance: 'charlie-3', port: 41003, deviceId: ID.CHARLIE, ...other });
    d = spawnDiscovery(ns, { instance: 'delta-4', port: 41004, deviceId: ID.DELTA, ...other });
  });
  after(async () => {
    await Promise.all([a, b, c, d].filter(Boolean).map((x) => x.stop()));
    await deleteNetns(namespaces);
  });

  it('two daemons find each other with device ID, port and the loopback address', async (t) => {
    const [ab, ba] = await Promise.all([expectFound(a, 'bravo-2'), expectFound(b, 'alpha-1')]);
    assert.deepEqual(ab.event === 'found' && ab.peer, {
      instance: 'bravo-2',
      deviceId: ID.BRAVO,
      ensembleTag: 'band-one',
      protocolVersion: 1,
      address: '127.0.0.1',
      port: 41002,
    });
    assert.deepEqual(
      ba.event === 'found' && { id: ba.peer.deviceId, port: ba.peer.port, at: ba.peer.address },
      {
        id: ID.ALPHA,
        port: 41001,
        at: '127.0.0.1',
      },
    );
    t.diagnostic(`first discovery: alpha ${firstFound(a)}; bravo ${firstFound(b)}`);
  });

  it('never reports a daemon of another ensemble, nor itself, nor the same peer twice', async () => {
    await Promise.all([expectFound(c, 'delta-4'), expectFound(d, 'charlie-3')]);
    // Several re-query rounds (every 500 ms) after everyone has announced.
    await new Promise((r) => setTimeout(r, 3000));
    for (const x of [a, b]) {
      const names = x.events.flatMap((e) => (e.event === 'found' ? [e.peer.instance] : []));
      assert.deepEqual(names, [x === a ? 'bravo-2' : 'alpha-1'], x.diagnostics());
    }
    for (const x of [c, d]) {
      assert.deepEqual(
        x.events.flatMap((e) => (e.event === 'found' ? [e.peer.ensembleTag] : [])),
        ['band-two'],
      );
    }
    assert.deepEqual(
      [a, b, c, d].flatMap((x) => x.events.filter((e) => e.event === 'warning')),
      [],
    );
  });

  it('reports a stopped peer lost (goodbye) and close() is clean and idempotent', async () => {
    const code = await b.stop();
    assert.equal(code, 0, b.diagnostics());
    const known = b.events.find((e) => e.event === 'known');
    assert.deepEqual(known?.event === 'known' && known.peers.map((p) => p.instance), ['alpha-1']);
    assert.ok(b.events.some((e) => e.event === 'closed'));
    const lost = await a.waitFor((e) => e.event === 'lost' && e.instance === 'bravo-2', 5000);
    assert.ok(lost, `alpha did not report bravo lost within 5 s\n${a.diagnostics()}`);
    assert.ok(!c.events.some((e) => e.event === 'lost'), 'other band saw a loss it never found');
  });
});

describe('mDNS discovery, three hosts on a bridge', { skip }, () => {
  let namespaces: string[] = [];
  const kids: DiscoveryChild[] = [];

  before(async () => {
    const { hosts, all } = await makeBridgedHosts(3);
    namespaces = all;
    hosts.forEach((ns, i) => {
      const n = i + 1;
      kids.push(
        spawnDiscovery(ns, {
          instance: `host-${n}`,
          port: 42000 + n,
          deviceId: HOST_ID[i]!,
          ensembleTag: 'band-one',
          // One host names its interface: exercises bind 0.0.0.0 alongside it (DESIGN.md §1).
          ...(n === 3 ? { interface: '10.77.0.3' } : {}),
        }),
      );
    });
  });
  after(async () => {
    await Promise.all(kids.map((k) => k.stop()));
    await deleteNetns(namespaces);
  });

  it('all three find each other at their bridge addresses', async (t) => {
    const checks = kids.flatMap((by, i) =>
      kids.map(async (other, j) => {
        if (i === j) return;
        const hit = await expectFound(by, other.name);
        assert.ok(hit.event === 'found');
        assert.equal(hit.peer.address, `10.77.0.${j + 1}`);
        assert.equal(hit.peer.port, 42000 + j + 1);
        assert.equal(hit.peer.deviceId, HOST_ID[j]);
      }),
    );
    await Promise.all(checks);
    t.diagnostic(`first discovery: ${kids.map((k) => `${k.name} ${firstFound(k)}`).join('; ')}`);
  });
});

describe('mDNS discovery without a multicast route', { skip }, () => {
  const namespaces: string[] = [];
  let kid: DiscoveryChild | undefined;

  after(async () => {
    await kid?.stop();
    await deleteNetns(namespaces);
  });

  it('surfaces ENETUNREACH through onWarning instead of failing silently', async () => {
    const ns = await addNetns(uniqueName('noroute'));
    namespaces.push(ns);
    // An address (so there is a non-loopback interface) but no 224.0.0.0/4 route.
    await ip('-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    await ip('-n', ns, 'addr', 'add', '10.78.0.1/24', 'dev', 'v0');
    await ip('-n', ns, 'link', 'set', 'v0', 'up');
    await ip('-n', ns, 'link', 'set', 'v1', 'up');
    kid = spawnDiscovery(ns, {
      instance: 'lonely-1',
      port: 43001,
      deviceId: ID.L,
      ensembleTag: 'band-one',
    });
    const warning = await kid.waitFor(
      (e) => e.event === 'warning' && e.message.includes('ENETUNREACH'),
      5000,
    );
    assert.ok(warning, `no ENETUNREACH warning within 5 s\n${kid.diagnostics()}`);
    // Rate limited: one report, not one per failed send.
    assert.equal(kid.events.filter((e) => e.event === 'warning').length, 1);
  });
});
