import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, type TestDaemon } from '../helpers/daemon.ts';
import { type Mesh, meshUnavailable, startMesh } from '../helpers/mesh.ts';

// Three laptops on one switch, each in its own network namespace, with the switch dropping
// 10 % of frames: writes everywhere converge; a cut between two laptops heals by itself; a
// laptop killed mid-show comes back with everyone's state. Every phase ends with all live
// daemons agreeing on every value, read with `hana get --json`.

const skip = meshUnavailable();

const everything = (d: TestDaemon) => d.values('//*');

async function agree(daemons: readonly TestDaemon[], tries = 300): Promise<boolean> {
  return eventually(
    async () => {
      const views = await Promise.all(daemons.map((d) => everything(d).then((v) => JSON.stringify(v))));
      return views.every((v) => v === views[0]);
    },
    tries,
    100,
  );
}

async function set(d: TestDaemon, path: string, value: string): Promise<void> {
  const r = await d.cli('set', path, value);
  assert.equal(r.code, 0, `hana set ${path} ${value}: ${r.stderr}`);
}

describe('sync across three namespaces with loss, a partition and a crash', { skip }, () => {
  let mesh: Mesh;
  before(async () => {
    // A shorter liveness than the default so the partition drops links within the test's time.
    mesh = await startMesh({ count: 3, config: () => ({ peers: { heartbeatMs: 300, livenessMs: 1500 } }) });
  });
  after(async () => {
    await mesh?.close();
  });

  it('links all three, then converges under 10 % loss', async () => {
    const [a, b, c] = mesh.daemons as [TestDaemon, TestDaemon, TestDaemon];
    for (const d of mesh.daemons) {
      assert.ok(await eventually(async () => (await d.status()).sync.links === 2, 300, 100), 'fully linked');
    }
    await mesh.loss(10);
    const writes: Array<[TestDaemon, string, string]> = [];
    for (let i = 0; i < 12; i++) {
      writes.push([a, `/layer/${(i % 4) + 1}/opacity`, String((i + 1) / 20)]);
      writes.push([b, `/layer/${(i % 4) + 1}/hue`, String((i + 1) / 13)]);
      writes.push([c, '/master/opacity', String((i % 10) / 10)]);
    }
    for (const [d, path, v] of writes) await set(d, path, v);
    assert.ok(await agree(mesh.daemons), 'all three agree after writes under loss');
    const v = await everything(a);
    assert.equal(v['/layer/4/opacity'], 0.6);
    assert.equal(v['/master/opacity'], 0.1);
  });

  it('heals a cut between two laptops: concurrent writes on both sides resolve the same everywhere', async () => {
    const [a, b, c] = mesh.daemons as [TestDaemon, TestDaemon, TestDaemon];
    await mesh.partition(0, 1);
    // Long enough for a and b to see each other go silent; c still sees both.
    assert.ok(
      await eventually(
        async () => (await a.status()).peers.linked === 1 && (await b.status()).peers.linked === 1,
        100,
        100,
      ),
      'a and b see each other go silent',
    );
    await set(a, '/layer/1/color', '#ff0000');
    await set(b, '/layer/1/color', '#0000ff'); // written later: the higher stamp wins everywhere
    await set(a, '/tempo', '140');
    await set(c, '/layer/2/color', '#00ff00');
    await mesh.heal();
    assert.ok(await agree(mesh.daemons), 'all three agree after the heal');
    const v = await everything(c);
    assert.equal(v['/layer/1/color'], '#0000ffff');
    assert.equal(v['/tempo'], 140);
    assert.ok(
      await eventually(async () => (await a.status()).peers.linked === 2, 100, 100),
      'a and b hear each other again on their own',
    );
  });

  it('a laptop killed with SIGKILL restarts and catches up', async () => {
    await mesh.daemons[2]!.stop('SIGKILL', { keepHome: true });
    const [a, b] = mesh.daemons as [TestDaemon, TestDaemon];
    await set(a, '/master/blackout', 'true');
    await set(b, '/layer/3/opacity', '0.33');
    const c2 = await mesh.restart(2);
    // Bounded at 90 s: at a load average of 13 on 2 cores (a clean-clone suite beside a soak) the
    // restarted daemon's start, handshakes and snapshot pull together outlasted 30 s.
    assert.ok(await agree(mesh.daemons, 900), 'all three agree after the restart');
    assert.equal((await everything(c2))['/layer/3/opacity'], 0.33);
  });
});
