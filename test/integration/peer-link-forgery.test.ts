import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { callDaemon } from '../../daemon/control/client.ts';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import type { PeerView } from '../../daemon/link/manager.ts';
import { createCertificate } from '../../protocols/dtls/werift.ts';
import type { Remote } from '../../protocols/osc/udp.ts';
import { startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { alert, CONTENT, captureClientHello, record, recordsOf } from '../helpers/dtls-forge.ts';
import { type RawUdp, rawUdpUnavailable, startRawUdp } from '../helpers/raw-udp.ts';

// Issue 10, "Records", between two real daemons linked on loopback: a forger on the LAN sends
// records with a live peer's exact source address:port (a raw socket, root only), and replays
// what a sniffer recorded of a peer that has since been SIGKILLed. Daemons are asked over their
// control socket. Heartbeats and liveness are short, so an outage would show within a second.

const noRaw = rawUdpUnavailable();
const LOCAL = '127.0.0.1';
const HEARTBEAT_MS = 200;
const LIVENESS_MS = 1000;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const at = (port: number): Remote => ({ address: LOCAL, port });

async function ask<T>(d: TestDaemon, method: string): Promise<T> {
  const r = await callDaemon(controlSocketPath(d.home), method, {}, { timeoutMs: 5000 });
  if (!r.ok) throw new Error(`${method}: ${r.error.message}`);
  return r.result as T;
}
const status = (d: TestDaemon) => ask<DaemonStatus>(d, 'status');
const stateOf = async (d: TestDaemon, id: string) =>
  (await ask<{ peers: PeerView[] }>(d, 'peers')).peers.find((p) => p.id === id)?.state;
const rejected = async (d: TestDaemon, code: string) => (await status(d)).rejected[`peer-${code}`] ?? 0;

/** Polls every 50 ms for at most `ms`; resolves with how long it took, or undefined. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number | undefined> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await check()) return Date.now() - start;
    await wait(50);
  }
  return undefined;
}

/** Watches both ends for `ms`: every answer must say linked. Returns the states seen. */
async function stayLinked(a: TestDaemon, b: TestDaemon, ms: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (const end = Date.now() + ms; Date.now() < end; await wait(100)) {
    seen.add(`a:${await stateOf(a, b.deviceId)}`);
    seen.add(`b:${await stateOf(b, a.deviceId)}`);
  }
  return seen;
}

const closedLinks = (d: TestDaemon) => d.logs.filter((l) => l.event === 'link.closed');
const peers = (extra: object = {}) => ({ heartbeatMs: HEARTBEAT_MS, livenessMs: LIVENESS_MS, ...extra });

async function linkedPair(): Promise<{ a: TestDaemon; b: TestDaemon }> {
  const b = await startDaemon({ config: { name: 'bee', peers: peers() } });
  const a = await startDaemon({
    config: { name: 'ay', peers: peers({ static: [`${LOCAL}:${b.peerPort}`] }) },
  });
  const linked = await within(15_000, async () => {
    return (await stateOf(a, b.deviceId)) === 'linked' && (await stateOf(b, a.deviceId)) === 'linked';
  });
  assert.ok(linked !== undefined, 'the daemons linked');
  return { a, b };
}

let forger: RawUdp | undefined;
let hello: Buffer;
before(async () => {
  if (noRaw) return;
  forger = await startRawUdp();
  hello = await captureClientHello(await createCertificate());
});
after(async () => {
  await forger?.close();
});

describe('forged and replayed records between linked daemons', { skip: noRaw }, () => {
  it('a forged ClientHello from a live peer’s address leaves the link up both ways', async () => {
    const { a, b } = await linkedPair();
    try {
      const f = forger!;
      const plainAtB = await rejected(b, 'plaintext-on-session');
      const closedBefore = closedLinks(a).length + closedLinks(b).length;
      const heardBefore = await ask<{ peers: PeerView[] }>(a, 'peers');
      // As b towards a, then as a towards b. werift alone renegotiated the live session on it.
      await f.send(at(b.peerPort), at(a.peerPort), hello);
      await wait(200);
      await f.send(at(a.peerPort), at(b.peerPort), hello);
      const seen = await stayLinked(a, b, 3 * LIVENESS_MS);
      assert.deepEqual([...seen].sort(), ['a:linked', 'b:linked'], 'never offline after the forged hellos');
      // Each end holds the forged handshake beside the link (until its 10 s timeout), and a's
      // answer to it (a HelloVerifyRequest) reached b's live session, which dropped and counted it.
      assert.equal((await status(a)).peers.endpoint.halfOpen, 1);
      assert.equal((await status(b)).peers.endpoint.halfOpen, 1);
      assert.ok((await rejected(b, 'plaintext-on-session')) > plainAtB);
      const heardAfter = await ask<{ peers: PeerView[] }>(a, 'peers');
      const lastHeard = (r: { peers: PeerView[] }) =>
        Date.parse(r.peers.find((p) => p.id === b.deviceId)!.lastHeard!);
      assert.ok(
        lastHeard(heardAfter) > lastHeard(heardBefore),
        'heartbeats kept arriving on the live session',
      );
      assert.equal(
        closedLinks(a).length + closedLinks(b).length,
        closedBefore,
        'no link was closed or replaced',
      );
      assert.equal((await status(a)).peers.endpoint.sessions, 1);
      assert.equal((await status(b)).peers.endpoint.sessions, 1);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('forged alerts, in the clear or posing as encrypted, cause no outage', async () => {
    const { a, b } = await linkedPair();
    try {
      const f = forger!;
      const forged = [
        alert(2, 0),
        alert(1, 0),
        record(CONTENT.alert, 1, 9000, Uint8Array.of(1, 0)),
        record(CONTENT.alert, 1, 9001, Uint8Array.of(2, 0)),
      ];
      const [ignoredA, ignoredB] = [await rejected(a, 'alert-ignored'), await rejected(b, 'alert-ignored')];
      const closedBefore = closedLinks(a).length + closedLinks(b).length;
      for (let round = 0; round < 3; round++) {
        for (const d of forged) {
          await f.send(at(b.peerPort), at(a.peerPort), d);
          await f.send(at(a.peerPort), at(b.peerPort), d);
        }
      }
      // The old handling closed the link on the first alert and left it down 5-7 s.
      const seen = await stayLinked(a, b, 3 * LIVENESS_MS);
      assert.deepEqual([...seen].sort(), ['a:linked', 'b:linked']);
      assert.equal(closedLinks(a).length + closedLinks(b).length, closedBefore);
      assert.equal((await rejected(a, 'alert-ignored')) - ignoredA, 12, 'every forged alert counted at a');
      assert.equal((await rejected(b, 'alert-ignored')) - ignoredB, 12, 'and at b');
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('replayed records of a SIGKILLed peer do not keep it shown as linked', async (t) => {
    const { a, b } = await linkedPair();
    try {
      const f = forger!;
      // A sniffer on the LAN records b's heartbeats and pongs to a.
      await f.sniff(at(b.peerPort), at(a.peerPort));
      await wait(5 * HEARTBEAT_MS);
      await b.stop('SIGKILL');
      const killedAt = Date.now();
      await f.unsniff();
      const captured = f.sniffed
        .flatMap((p) => recordsOf(p.bytes) ?? [])
        .filter((r) => r.type === CONTENT.applicationData && r.epoch === 1);
      assert.ok(captured.length >= 5, `the sniffer recorded b's records (${captured.length})`);
      const replayBefore = await rejected(a, 'replay');
      // Replay them from b's address:port, round after round, until a says offline (bounded).
      let replayed = 0;
      let offlineAfter: number | undefined;
      for (let i = 0; Date.now() - killedAt < LIVENESS_MS + 3000; i++) {
        await f.send(at(b.peerPort), at(a.peerPort), captured[i % captured.length]!.bytes);
        replayed++;
        if (i % 2 === 1 && (await stateOf(a, b.deviceId)) === 'offline') {
          offlineAfter = Date.now() - killedAt;
          break;
        }
        await wait(50);
      }
      t.diagnostic(`${replayed} records replayed; b shown offline ${offlineAfter} ms after the kill`);
      assert.ok(offlineAfter !== undefined, 'a shows b offline despite the replays');
      // Silence is judged on the heartbeat tick: livenessMs, plus a tick, plus a poll.
      assert.ok(offlineAfter <= LIVENESS_MS + 2 * HEARTBEAT_MS + 500, `offline after ${offlineAfter} ms`);
      const counted = await within(
        2000,
        async () => (await rejected(a, 'replay')) - replayBefore === replayed,
      );
      assert.ok(counted !== undefined, `every one of ${replayed} replayed records was counted as a replay`);
      assert.equal(await rejected(a, 'bad-record'), 0, 'none was mistaken for a forgery');
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('a restarted peer relinks at once through a challenger, and a forged hello does not stop it', async (t) => {
    const { a, b } = await linkedPair();
    let b2: TestDaemon | undefined;
    let b3: TestDaemon | undefined;
    const restart = () =>
      startDaemon({ home: b.home, config: { name: 'bee', peers: peers({ port: b.peerPort }) } });
    const replaced = () =>
      a.logs.filter((l) => l.event === 'link.closed' && /replaced by a new session/.test(String(l.reason)))
        .length;
    try {
      const f = forger!;
      // A forged hello from b's address: a now holds a half-open challenger for b's address
      // (its handshake timeout is 10 s). The live link is not disturbed by it...
      await f.send(at(b.peerPort), at(a.peerPort), hello);
      assert.ok(
        (await within(2000, async () => (await status(a)).peers.endpoint.halfOpen === 1)) !== undefined,
      );
      const seen = await stayLinked(a, b, 1000);
      assert.deepEqual([...seen].sort(), ['a:linked', 'b:linked']);
      // ...and b, killed and restarted on its port meanwhile, hears a's heartbeats, dials back,
      // and its handshake completes in that challenger slot and replaces the silent link.
      await b.stop('SIGKILL', { keepHome: true });
      b2 = await restart();
      assert.equal(b2.deviceId, b.deviceId);
      const relinked = await within(
        8000,
        async () => replaced() === 1 && (await stateOf(a, b.deviceId)) === 'linked',
      );
      t.diagnostic(`relinked ${relinked} ms after the restarted peer was ready (forged hello pending)`);
      assert.ok(relinked !== undefined, 'a replaced the silent link with the restarted peer’s');
      assert.ok(
        (await within(3000, async () => (await stateOf(b2!, a.deviceId)) === 'linked')) !== undefined,
      );
      assert.ok(
        !a.logs.some((l) => l.event === 'link.closed' && l.reason === 'peer silent'),
        'not by waiting for dropAfterMs',
      );
      // Once more without any forgery: the plain restart path.
      await b2.stop('SIGKILL', { keepHome: true });
      b3 = await restart();
      const again = await within(
        8000,
        async () => replaced() === 2 && (await stateOf(a, b.deviceId)) === 'linked',
      );
      t.diagnostic(`relinked ${again} ms after the restarted peer was ready (no forgery)`);
      assert.ok(again !== undefined, 'relinked through the challenger again');
      assert.equal((await status(a)).peers.endpoint.sessions, 1, 'the old session is gone');
      assert.equal((await status(a)).peers.linked, 1);
    } finally {
      await a.stop();
      await (b3 ?? b2 ?? b).stop();
      await rm(b.home, { recursive: true, force: true }); // kept across the kills
    }
  });
});
