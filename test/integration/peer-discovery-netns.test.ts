import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, linkStory, peersOf, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { deleteNetns, makeBridgedHosts, netnsUnavailable } from '../helpers/netns.ts';

// Three laptops on one switch: namespaces joined by a bridge inside a namespace of its own.
// The daemons find each other over real mDNS, pin each other and link, with no set-up.

const skip = netnsUnavailable();

describe('three daemons discover and link over mDNS', { skip }, () => {
  let namespaces: string[] = [];
  const daemons: TestDaemon[] = [];
  before(async () => {
    const { hosts, all } = await makeBridgedHosts(3);
    namespaces = all;
    for (const [i, ns] of hosts.entries()) {
      daemons.push(
        await startDaemon({
          wrap: ['ip', 'netns', 'exec', ns],
          config: { name: `laptop-${i + 1}`, peers: { bind: '0.0.0.0', discovery: true } },
        }),
      );
    }
  });
  after(async () => {
    for (const d of daemons) await d.stop();
    await deleteNetns(namespaces);
  });

  it('every daemon links with the other two, each pinned once', async () => {
    for (const d of daemons) {
      const others = daemons.filter((o) => o !== d).map((o) => o.deviceId);
      const ok = await eventually(
        async () => {
          const peers = await peersOf(d);
          return others.every((id) => peers.find((p) => p.id === id)?.state === 'linked');
        },
        150,
        100,
      );
      assert.ok(ok, `${d.deviceId} links both others; its last link events:\n${linkStory(d)}`);
      const peers = await peersOf(d);
      assert.equal(peers.length, 2);
      for (const p of peers) assert.match(p.address ?? '', /^10\.77\.0\.\d:\d+$/);
      assert.equal((await d.status()).peers.linked, 2);
    }
  });
});
