import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { eventually, linkedTo, ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.ts';

// Identity rotation between real daemons on loopback, against a scripted peer that is trusted
// (it binds with its own key) and then announces whatever rotation the test asks for.

type TrustList = {
  peers: { id: string; name: string; state: string; role: string }[];
  held: { presentedId: string; pinnedId: string; name: string }[];
};
type PeerEvent = { ready?: { deviceId: string }; closed?: string; rotated?: { deviceId: string } };

const trustList = async (d: TestDaemon): Promise<TrustList> =>
  JSON.parse((await d.cli('trust', 'list', '--json')).stdout);
const pinOf = async (d: TestDaemon, id: string) => (await trustList(d)).peers.find((p) => p.id === id);
const logged = (d: TestDaemon, event: string, reason?: string) =>
  eventually(
    () => d.logs.some((l) => l.event === event && (reason === undefined || l.reason === reason)),
    150,
    50,
  );

function scriptedPeer(port: number, name: string) {
  const proc: ChildProcess = spawn(
    process.execPath,
    ['--no-node-snapshot', join(ROOT, 'test/helpers/link-peer-cli.ts'), String(port), name],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const events: PeerEvent[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => events.push(JSON.parse(line)));
  const exited = new Promise((r) => proc.on('exit', r));
  return {
    events,
    send: (cmd: object) => proc.stdin!.write(`${JSON.stringify(cmd)}\n`),
    /** The device ID of the latest bind, once it was sent. */
    async ready(after = 0): Promise<string> {
      assert.ok(await eventually(() => events.slice(after).some((e) => e.ready), 200, 50), `${name} bound`);
      return events.slice(after).find((e) => e.ready)!.ready!.deviceId;
    },
    async closedWith(): Promise<string> {
      assert.ok(await eventually(() => events.some((e) => e.closed), 200, 50), `${name} was closed`);
      return events.find((e) => e.closed)!.closed!;
    },
    async stop() {
      proc.stdin!.end();
      proc.kill();
      await exited;
    },
  };
}

describe('identity rotation', () => {
  it('refuses an observer rotating onto another pinned peer’s certificate, and its name stays taken', async () => {
    const w = await startDaemon({ config: { name: 'watcher' } });
    const v = await startDaemon({ config: { name: 'vee', peers: { static: [`127.0.0.1:${w.peerPort}`] } } });
    const o = scriptedPeer(w.peerPort, 'obs');
    let impostor: ReturnType<typeof scriptedPeer> | undefined;
    try {
      assert.ok(await linkedTo(w, v.deviceId), 'w linked to v');
      const obsId = await o.ready();
      assert.ok(await linkedTo(w, obsId), 'w trusts the scripted peer');
      assert.equal((await w.cli('trust', 'allow', obsId, '--role', 'observer')).code, 0);
      const before = await trustList(w);

      const victim = JSON.parse(await readFile(join(v.home, 'identity.json'), 'utf8')) as { certPem: string };
      o.send({ rotate: { certPem: victim.certPem } });
      assert.ok(
        await eventually(() => w.logs.some((l) => /^peer\.rotat/.test(l.event ?? '')), 150, 50),
        'w answered the rotation',
      );
      assert.deepEqual(
        (await trustList(w)).peers.map((p) => [p.id, p.name, p.state, p.role]),
        before.peers.map((p) => [p.id, p.name, p.state, p.role]),
        'no pin moved or renamed',
      );
      assert.equal(
        w.logs.some((l) => l.event === 'peer.rotated'),
        false,
      );
      const line = w.logs.find((l) => l.event === 'peer.rotation-refused')!;
      assert.equal(line.reason, 'pinned-id');
      assert.equal(line.security, true);
      assert.equal(line.peer, obsId);
      assert.equal(line.next, v.deviceId);
      assert.ok(await linkedTo(w, v.deviceId), 'the real v stays linked');

      // The harm the bug did: with v's pin renamed, a new device calling itself "vee" was pinned.
      impostor = scriptedPeer(w.peerPort, 'vee');
      const impostorId = await impostor.ready();
      assert.ok(await logged(w, 'peer.refused', 'key-change'), 'a new "vee" is a key change');
      assert.match(await impostor.closedWith(), /key-change/);
      assert.equal(await pinOf(w, impostorId), undefined);
      const held = (await trustList(w)).held;
      assert.deepEqual(
        held.map((h) => [h.presentedId, h.pinnedId]),
        [[impostorId, v.deviceId]],
      );
    } finally {
      await o.stop();
      await impostor?.stop();
      await v.stop();
      await w.stop();
    }
  });

  it('moves a pin to a fresh certificate with its own name, role and state, and keeps the old name reserved', async () => {
    const w = await startDaemon({ config: { name: 'watcher' } });
    const o = scriptedPeer(w.peerPort, 'obs');
    let impostor: ReturnType<typeof scriptedPeer> | undefined;
    try {
      const oldId = await o.ready();
      assert.ok(await linkedTo(w, oldId));
      assert.equal((await w.cli('trust', 'allow', oldId, '--role', 'observer')).code, 0);
      const n = o.events.length;
      o.send({ rotate: 'fresh' });
      assert.ok(await eventually(() => o.events.slice(n).some((e) => e.rotated), 100, 50));
      const newId = o.events.slice(n).find((e) => e.rotated)!.rotated!.deviceId;
      assert.ok(await logged(w, 'peer.rotated'));
      const trust = await trustList(w);
      assert.deepEqual(
        trust.peers.map((p) => [p.id, p.name, p.state, p.role]),
        [[newId, 'obs', 'trusted', 'observer']],
      );
      assert.equal(
        w.logs.some((l) => l.event === 'peer.rotation-refused'),
        false,
      );

      const m = o.events.length;
      o.send({ rebind: true });
      assert.equal(await o.ready(m), newId);
      assert.ok(await linkedTo(w, newId), 'relinked under the new identity');

      impostor = scriptedPeer(w.peerPort, 'obs');
      const impostorId = await impostor.ready();
      assert.match(await impostor.closedWith(), /key-change/, 'the old name is not free');
      assert.equal(await pinOf(w, impostorId), undefined);
      assert.deepEqual(
        (await trustList(w)).held.map((h) => [h.presentedId, h.pinnedId, h.name]),
        [[impostorId, newId, 'obs']],
      );
    } finally {
      await o.stop();
      await impostor?.stop();
      await w.stop();
    }
  });
  it('a peer offline during the rotation moves its pin when it comes back; the old key stays 0600 until then', async () => {
    const b = await startDaemon({ config: { name: 'bee' } });
    const cConfig = { name: 'cee', peers: { static: [`127.0.0.1:${b.peerPort}`] } };
    const c = await startDaemon({ config: cConfig });
    let c2: TestDaemon | undefined;
    const previous = join(b.home, 'identity.previous.json');
    try {
      assert.ok(await linkedTo(b, c.deviceId), 'b linked to c');
      assert.ok(await linkedTo(c, b.deviceId), 'c linked to b');
      await c.stop('SIGTERM', { keepHome: true });

      const r = await b.cli('trust', 'rotate', '--json');
      assert.equal(r.code, 0, r.stderr);
      const { deviceId } = JSON.parse(r.stdout) as { deviceId: string };
      assert.equal(((await stat(previous)).mode & 0o777).toString(8), '600');
      const kept = JSON.parse(await readFile(previous, 'utf8')) as { next: string; pending: string[] };
      assert.equal(kept.next, deviceId);
      assert.deepEqual(kept.pending, [c.deviceId]);
      const status = await b.status();
      assert.deepEqual(
        status.peers.rotation?.pending.map((p) => [p.id, p.name]),
        [[c.deviceId, 'cee']],
      );
      assert.match(
        (await b.cli('status')).stdout,
        /rotation {2}old key kept until 1 peer\(s\) move their pin: cee/,
      );
      const again = await b.cli('trust', 'rotate');
      assert.equal(again.code, 1, 'no second rotation while the first is owed');
      assert.match(again.stderr, /still waits for 1 peer/);

      c2 = await startDaemon({
        home: c.home,
        config: { ...cConfig, peers: { ...cConfig.peers, port: c.peerPort } },
      });
      assert.ok(await linkedTo(c2, deviceId), 'c links to b’s new identity with no operator step');
      assert.ok(await linkedTo(b, c2.deviceId));
      const trust = await trustList(c2);
      assert.deepEqual(
        trust.peers.map((p) => [p.id, p.name, p.state]),
        [[deviceId, 'bee', 'trusted']],
      );
      assert.deepEqual(trust.held, []);
      assert.ok(
        c2.logs.some((l) => l.event === 'peer.rotated' && l.next === deviceId && l.security === true),
      );
      assert.ok(await logged(b, 'identity.previous-removed'), 'b deleted the old key after the last ack');
      await assert.rejects(stat(previous), { code: 'ENOENT' });
      assert.equal((await b.status()).peers.rotation, null);
    } finally {
      await c2?.stop();
      await c.stop();
      await b.stop();
    }
  });
});
