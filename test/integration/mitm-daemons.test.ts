import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { callDaemon } from '../../daemon/control/client.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import type { PeerView } from '../../daemon/link/manager.ts';
import { createCertificate } from '../../protocols/dtls/werift.ts';
import { createIdentity, saveIdentity } from '../../trust-store/identity.ts';
import { openPeerStore } from '../../trust-store/peers.ts';
import { type LogLine, makeHome, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { type DtlsRelay, type RelayMode, startDtlsRelay } from '../helpers/dtls-relay.ts';

// Issue 10 end to end: two daemons that pinned each other (policy strict, ensemble secret),
// daemon A configured to dial B at the relay's port. The relay that strips extended master
// secret and zeroes both key shares leaves both sessions with one master secret it knows; the
// channel binding then signs the same exporter on both, so forwarding it links A and B through
// the relay. They must never link, nothing written on A may reach B, and both must say why.

const SECRET = 'correct horse battery staple';
const PATH = '/layer/1/opacity';
const WRITTEN = 0.37;
/** Longest wait for a link (control) or for both refusals (attack). */
const WAIT_MS = 15_000;
/** How long after both refusals we keep watching that nothing links or crosses. */
const WATCH_AFTER_MS = 3_000;
const POLL_MS = 250;

/** A log line of a daemon refusing a peer's handshake or link, with the reason. */
const isRefusal = (l: LogLine) =>
  (l.event === 'input.rejected' &&
    String(l.reason).startsWith('peer-') &&
    l.reason !== 'peer-handshake-timeout') ||
  l.event === 'peer.refused';
/** A refusal, or a handshake that never completed: all a side that saw nothing wrong can log. */
const isRefusalOrTimeout = (l: LogLine) => isRefusal(l) || l.reason === 'peer-handshake-timeout';
type Expect = { a: (l: LogLine) => boolean; b: (l: LogLine) => boolean };
const BOTH_REFUSE: Expect = { a: isRefusal, b: isRefusal };

async function call(d: TestDaemon, method: string, params: object = {}): Promise<unknown> {
  const r = await callDaemon(controlSocketPath(d.home), method, params, { timeoutMs: 5_000 });
  if (!r.ok) throw new Error(`${method} failed: ${r.error.message}`);
  return r.result;
}
const peerState = async (d: TestDaemon, id: string) =>
  ((await call(d, 'peers')) as { peers: PeerView[] }).peers.find((p) => p.id === id)?.state;
const opacityOn = async (d: TestDaemon) =>
  ((await call(d, 'get', { pattern: PATH })) as { params: { path: string; value: unknown }[] }).params[0]
    ?.value;

type Pair = { a: TestDaemon; b: TestDaemon; relay: DtlsRelay; idA: string; idB: string };

/** Homes with identities created and pinned both ways before either daemon starts. */
async function pinnedHomes() {
  const homes = [await makeHome(), await makeHome()] as const;
  const ids = await Promise.all([createIdentity(), createIdentity()]);
  for (const [i, home] of homes.entries()) {
    await saveIdentity(home, ids[i]!);
    const other = ids[1 - i]!;
    const opened = await openPeerStore(join(home, 'peers.json'));
    assert.ok(opened.ok, opened.ok ? '' : opened.error);
    await opened.store.pin({
      id: other.deviceId,
      name: i === 0 ? 'bee' : 'ay',
      state: 'trusted',
      role: 'performer',
    });
  }
  return { homes, ids };
}

async function withPair(mode: RelayMode, body: (p: Pair) => Promise<void>): Promise<void> {
  const { homes, ids } = await pinnedHomes();
  const peers = { policy: 'strict', ensemble: { secret: SECRET } };
  let a: TestDaemon | undefined;
  let b: TestDaemon | undefined;
  let relay: DtlsRelay | undefined;
  try {
    b = await startDaemon({ home: homes[1], config: { name: 'bee', peers } });
    relay = await startDtlsRelay({ target: { address: '127.0.0.1', port: b.peerPort }, mode });
    a = await startDaemon({
      home: homes[0],
      config: { name: 'ay', peers: { ...peers, static: [`127.0.0.1:${relay.port}`] } },
    });
    await body({ a, b, relay, idA: ids[0]!.deviceId, idB: ids[1]!.deviceId });
  } finally {
    // stop() kills by the child's PID and removes its home; a home whose daemon never started is removed here.
    await Promise.all([a?.stop(), b?.stop()]);
    await relay?.close();
    for (const home of homes) await rm(home, { recursive: true, force: true });
  }
}

type Watch = { linked: string[]; crossed: unknown; refusals: Record<'a' | 'b', LogLine[]> };

/**
 * Polls both daemons (bounded) until both have logged a refusal and WATCH_AFTER_MS more have
 * passed, or until they link or the value crosses (the attack worked), or until WAIT_MS.
 */
async function watch(p: Pair, expect: Expect): Promise<Watch> {
  const deadline = Date.now() + WAIT_MS;
  let quietUntil: number | undefined;
  const seen: Watch = { linked: [], crossed: undefined, refusals: { a: [], b: [] } };
  while (Date.now() < (quietUntil ?? deadline)) {
    const [sa, sb, vb] = await Promise.all([peerState(p.a, p.idB), peerState(p.b, p.idA), opacityOn(p.b)]);
    if (sa === 'linked') seen.linked.push('A sees B linked');
    if (sb === 'linked') seen.linked.push('B sees A linked');
    if (vb === WRITTEN) seen.crossed = vb;
    seen.refusals = { a: p.a.logs.filter(expect.a), b: p.b.logs.filter(expect.b) };
    if (seen.linked.length > 0 || seen.crossed !== undefined) break;
    if (quietUntil === undefined && seen.refusals.a.length > 0 && seen.refusals.b.length > 0)
      quietUntil = Math.min(deadline, Date.now() + WATCH_AFTER_MS);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return seen;
}

const brief = (lines: LogLine[]) =>
  JSON.stringify(lines.map((l) => `${l.event} ${l.reason}: ${l.msg}`).slice(0, 4));

function story(p: Pair, w: Watch): string {
  return [
    `\n  linked: ${JSON.stringify(w.linked)}; ${PATH} on B: ${w.crossed ?? 'not the written value'}`,
    `  A refusals: ${brief(w.refusals.a)}`,
    `  B refusals: ${brief(w.refusals.b)}`,
    `  relay: ${JSON.stringify(p.relay.stats)}`,
  ].join('\n');
}

/** The refusal is visible to an operator: a log line, and a counter in `hana status`. */
async function assertRefusalVisible(d: TestDaemon, name: string, lines: LogLine[], why: string) {
  assert.ok(lines.length > 0, `${name} logged no refusal within ${WAIT_MS} ms${why}`);
  const status = (await call(d, 'status')) as {
    rejected: Record<string, number>;
    peers: { refused: number };
  };
  const counted = lines.some((l) =>
    l.event === 'peer.refused' ? status.peers.refused > 0 : (status.rejected[String(l.reason)] ?? 0) > 0,
  );
  assert.ok(counted, `${name}'s status does not count its refusal: ${JSON.stringify(status.rejected)}${why}`);
}

async function expectNeverLinked(p: Pair, expect: Expect = BOTH_REFUSE): Promise<void> {
  await call(p.a, 'set', { path: PATH, words: [String(WRITTEN)] });
  assert.equal(await opacityOn(p.a), WRITTEN);
  const w = await watch(p, expect);
  const why = story(p, w);
  assert.deepEqual(w.linked, [], `the daemons linked through the relay${why}`);
  assert.equal(w.crossed, undefined, `a value written on A reached B through the relay${why}`);
  assert.notEqual(await opacityOn(p.b), WRITTEN);
  await assertRefusalVisible(p.a, 'A', w.refusals.a, why);
  await assertRefusalVisible(p.b, 'B', w.refusals.b, why);
}

describe('pinned daemons with a man-in-the-middle relay between them', () => {
  it('forward-only relay (control): they link and a value written on A reaches B', async () => {
    await withPair({}, async (p) => {
      await call(p.a, 'set', { path: PATH, words: [String(WRITTEN)] });
      const deadline = Date.now() + WAIT_MS;
      let state: Record<string, unknown> = {};
      while (Date.now() < deadline) {
        state = {
          a: await peerState(p.a, p.idB),
          b: await peerState(p.b, p.idA),
          value: await opacityOn(p.b),
        };
        if (state.a === 'linked' && state.b === 'linked' && state.value === WRITTEN) break;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      assert.deepEqual(
        state,
        { a: 'linked', b: 'linked', value: WRITTEN },
        `not linked through a plain forwarder within ${WAIT_MS} ms; relay ${JSON.stringify(p.relay.stats)}; ` +
          `A ${brief(p.a.logs.filter(isRefusal))} B ${brief(p.b.logs.filter(isRefusal))}`,
      );
    });
  });

  it('issue 10 (strip extended master secret, all-zero key shares): never link, nothing crosses, both say why', async () => {
    await withPair({ stripEms: true, shares: 'zero' }, async (p) => {
      await expectNeverLinked(p);
      assert.ok(p.relay.stats.clientHelloEmsStripped > 0, 'the relay did tamper');
    });
  });

  // A sees a sound handshake with the relay (its certificate, its valid signature) and learns
  // of the tampering only from B's Finished, which B need not send once it has refused the
  // CertificateVerify; so A may log only a handshake that never completed. Had A's session
  // opened, it would show the relay's device ID, which A has not pinned.
  it('the relay’s own certificate in place of B’s: never link, nothing crosses, B says why', async () => {
    const own = await createCertificate();
    await withPair({ swapCertificate: own }, async (p) => {
      await expectNeverLinked(p, { a: isRefusalOrTimeout, b: isRefusal });
      assert.ok(p.relay.stats.certificateSwapped > 0, 'the relay did tamper');
    });
  });
});
