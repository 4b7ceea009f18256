import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { eventually, ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.ts';

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
const linkedTo = (d: TestDaemon, id: string) =>
  eventually(
    async () =>
      (JSON.parse((await d.cli('peers', '--json')).stdout) as { id: string; state: string }[]).some(
        (p) => p.id === id && p.state === 'linked',
      ),
    150,
    50,
  );
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
});
