import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { ChangeRecord } from '../../daemon/audit/record.ts';
import { callDaemon } from '../../daemon/control/client.ts';
import type { ParamView } from '../../daemon/control/handlers.ts';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import type { PeerView } from '../../daemon/link/manager.ts';
import { MIN_SAMPLES } from '../../daemon/sync/clock.ts';
import type { PeerSyncView } from '../../daemon/sync/service.ts';
import { createIdentity, type Identity, saveIdentity } from '../../trust-store/identity.ts';
import { type LogLine, ROOT, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { type Mesh, meshUnavailable, PEER_PORT, startMesh } from '../helpers/mesh.ts';

// Issue 12's attacks, each against real daemons in network namespaces on one switch: three
// honest performers A, D and B (laptop-1..3), and a spare namespace on the same switch for the
// attacker: a rogue peer (test/helpers/rogue-sync-peer.ts) with its own real certificate that
// binds honestly over DTLS and then sends sync/v2 messages signed with its own key, or, for the
// ground device ID, a real daemon. Each laptop's trust in the attacker is set by the test
// through the control socket (introductions are off, so no laptop pins anyone on another's
// word), and every value, counter, pin and audit record is read over the control socket.
//
// A holds sync.onEquivocation: block, D and B the default drop, so one equivocation shows both.
// Every attack ends with the honest laptops' values, audit and (4, 5) beat checked.

const skip = meshUnavailable();
const ROGUE = join(ROOT, 'test/helpers/rogue-sync-peer.ts');
/** A DTLS handshake and a bind between namespaces, on a loaded 2-core machine. */
const LINK_MS = 30_000;
const WAIT_MS = 15_000;
/** How long we keep watching that something does not happen, once a control shows it would have by now. */
const WATCH_MS = 2_000;
const POLL_MS = 100;
/** Anti-entropy runs faster than the default so a relayed batch arrives within a few polls. */
const ANTI_ENTROPY_MS = 300;
/** How far ahead the observer stamps its writes: inside the old 60 s bound, far outside 2 s. */
const FAR_AHEAD_MS = 59_500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── the control socket ──

async function ask<T>(d: { home: string }, method: string, params: unknown = {}): Promise<T> {
  const r = await callDaemon(controlSocketPath(d.home), method, params, { timeoutMs: 10_000 });
  if (!r.ok) throw new Error(`${method}: ${r.error.message}`);
  return r.result as T;
}
const status = (d: TestDaemon) => ask<DaemonStatus>(d, 'status');
const rejected = async (d: TestDaemon, reason: string) => (await status(d)).rejected[reason] ?? 0;
const param = async (d: TestDaemon, path: string) =>
  (await ask<{ params: ParamView[] }>(d, 'get', { pattern: path })).params[0]!;
const valuesOf = async (d: TestDaemon, pattern: string) =>
  Object.fromEntries(
    (await ask<{ params: ParamView[] }>(d, 'get', { pattern })).params.map((p) => [p.path, p.value]),
  );
const set = async (d: TestDaemon, path: string, value: string) =>
  (await ask<{ params: ParamView[] }>(d, 'set', { path, words: [value] })).params[0]!;
const changes = async (d: TestDaemon, path: string) =>
  (await ask<{ records: ChangeRecord[] }>(d, 'audit.query', { path, limit: 1000 })).records.filter(
    (r) => r.kind === 'change',
  );
const pinOf = async (d: TestDaemon, id: string) =>
  (await ask<{ peers: { id: string; state: string; role: string }[] }>(d, 'trust.list')).peers.find(
    (p) => p.id === id,
  );
type PeerRow = PeerView & { sync: PeerSyncView | null };
const peerRow = async (d: TestDaemon, id: string) =>
  (await ask<{ peers: PeerRow[] }>(d, 'peers')).peers.find((p) => p.id === id);
/** The session clock as status shows it; typed loosely since the timeline wiring reshapes it. */
const clockOf = async (d: TestDaemon) =>
  (await status(d)).sync.clock as { leader: string | null; beat: number | null; tempo: number };

/** Polls `check` every POLL_MS until it holds or `ms` of real time have passed. */
async function until(check: () => Promise<boolean>, ms = WAIT_MS): Promise<boolean> {
  for (const end = Date.now() + ms; ; await sleep(POLL_MS)) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
  }
}

/** Polls `check` for `ms` of real time: true only if it held at every poll. */
async function throughout(check: () => Promise<boolean>, ms = WATCH_MS): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(POLL_MS)) {
    if (!(await check())) return false;
  }
  return true;
}

const same = async (daemons: readonly TestDaemon[], pattern: string) => {
  const views = await Promise.all(daemons.map(async (d) => JSON.stringify(await valuesOf(d, pattern))));
  return views.every((v) => v === views[0]);
};

/** Two readings of the shared beat a moment apart, at `tempo`: not 0, and increasing. */
async function beatMoves(d: TestDaemon, tempo: number, who: string): Promise<void> {
  const first = await clockOf(d);
  await sleep(250);
  const second = await clockOf(d);
  assert.equal(second.tempo, tempo, `${who}'s session tempo`);
  assert.ok(
    typeof first.beat === 'number' && first.beat !== 0 && (second.beat ?? 0) > first.beat,
    `${who}'s beat moves: ${first.beat} then ${second.beat}`,
  );
}

// ── the rogue peer, a child process in the spare namespace ──

type RogueEvent = Partial<{
  identity: { deviceId: string };
  bound: { peer: string };
  trusted: { peer: string };
  sent: { peer: string; kind: string; bytes: number };
  closed: { peer: string; reason: string };
  error: string;
}>;
type Entry = {
  path: string;
  value: number | boolean | string | null;
  t?: number;
  ahead?: number;
  c?: number;
};

type Rogue = {
  readonly id: string;
  readonly events: RogueEvent[];
  command(c: object): void;
  /** Dials laptop i of the mesh and resolves once it trusts the link (sends sync to us). */
  link(d: TestDaemon, i: number): Promise<void>;
  stop(): Promise<void>;
};

const rogues = new Set<ChildProcess>();
after(() => {
  for (const p of rogues) p.kill('SIGKILL');
});

async function startRogue(ns: string, name: string): Promise<Rogue> {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '--no-node-snapshot', ROGUE, name], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  rogues.add(proc);
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const events: RogueEvent[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => events.push(JSON.parse(line)));
  const seen = (pred: (e: RogueEvent) => boolean, ms: number) =>
    until(async () => events.some(pred) || proc.exitCode !== null, ms).then(() => events.find(pred));
  const hello = await seen((e) => e.identity !== undefined, WAIT_MS);
  assert.ok(hello?.identity, `the rogue peer did not start: ${stderr}`);
  const command = (c: object) => proc.stdin!.write(`${JSON.stringify(c)}\n`);
  return {
    id: hello.identity.deviceId,
    events,
    command,
    async link(d, i) {
      command({ dial: { address: `10.77.0.${i + 1}`, port: PEER_PORT } });
      const ok = await seen((e) => e.trusted?.peer === d.deviceId, LINK_MS);
      assert.ok(
        ok,
        `${name} was not trusted by laptop-${i + 1}; events: ${JSON.stringify(events)} ${stderr}`,
      );
    },
    async stop() {
      proc.stdin!.end();
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      proc.kill('SIGKILL');
      rogues.delete(proc);
    },
  };
}

const securityEvents = (d: TestDaemon, event: string, origin: string): LogLine[] =>
  d.logs.filter((l) => l.event === event && l.security === true && l.origin === origin);

/**
 * An identity whose device ID starts with a letter from 'B' on, so it sorts after every ID
 * that starts with a digit or 'A' (base32: '2'-'7' sort before 'A'-'Z'). Attack 5 grinds an
 * ID that sorts before all three honest laptops'; against random honest IDs the smallest could
 * start with '2', leaving about one certificate in a thousand that qualifies, and the 200 tries
 * ran out in a clean-clone CI run.
 */
async function identitySortingAfterA(): Promise<Identity> {
  for (let tries = 0; tries < 100; tries++) {
    const id = await createIdentity();
    if (id.deviceId[0]! >= 'B') return id;
  }
  throw new Error('no identity sorting after A in 100 tries (each does with 25 in 32)');
}

describe('sync attacks on three laptops in namespaces (issue 12)', { skip }, () => {
  let mesh: Mesh;
  let A: TestDaemon;
  let D: TestDaemon;
  let B: TestDaemon;
  let spareNs: string;
  let honest: TestDaemon[];
  let nameOf: (d: TestDaemon) => string;
  /** Every honest laptop shows `value` at `path`, within WAIT_MS. */
  const honestAgree = (path: string, value: unknown) =>
    until(async () => {
      for (const d of honest) if ((await param(d, path)).value !== value) return false;
      return true;
    });

  before(async () => {
    const identities = await Promise.all([0, 1, 2].map(() => identitySortingAfterA()));
    mesh = await startMesh({
      count: 3,
      spare: 1,
      seed: (i) => (home) => saveIdentity(home, identities[i]!),
      config: (i) => ({
        peers: { introductions: false },
        sync: { antiEntropyMs: ANTI_ENTROPY_MS, onEquivocation: i === 0 ? 'block' : 'drop' },
      }),
    });
    [A, D, B] = mesh.daemons as [TestDaemon, TestDaemon, TestDaemon];
    honest = [A, D, B];
    spareNs = mesh.spare[0]!;
    nameOf = (d) => (d === A ? 'A' : d === D ? 'D' : 'B');
    for (const d of honest) {
      assert.ok(
        await until(async () => (await status(d)).sync.links === 2, LINK_MS),
        'the three laptops link',
      );
    }
  });
  after(async () => {
    await mesh?.close();
  });

  it('control: three honest performers converge on every value', async () => {
    await set(A, '/layer/1/opacity', '0.25');
    await set(D, '/layer/1/hue', '90');
    await set(B, '/layer/1/color', '#00ff00');
    await set(A, '/scene', '3');
    await set(D, '/master/opacity', '0.5');
    await set(B, '/scene', '5'); // written last: it wins everywhere
    assert.ok(await until(() => same(honest, '//*')), 'all three agree on every value');
    assert.deepEqual(await valuesOf(D, '/layer/1/*'), {
      '/layer/1/opacity': 0.25,
      '/layer/1/hue': 90,
      '/layer/1/blend': 'normal',
      '/layer/1/deck': 'a',
      '/layer/1/color': '#00ff00ff',
    });
    assert.equal((await param(A, '/scene')).value, 5);
    const audit = await changes(B, '/layer/1/opacity');
    assert.equal(audit.at(-1)?.writer, `peer:${A.deviceId}`, "B's audit names A as the writer");
    assert.equal(audit.at(-1)?.stamp.node, A.deviceId);
  });

  it('1: a peer blocked on A cannot write to A through D, which trusts it', async () => {
    const E = await startRogue(spareNs, 'rogue-e');
    try {
      await ask(D, 'trust.allow', { id: E.id, role: 'performer', name: 'rogue-e' });
      await ask(A, 'trust.block', { id: E.id });
      await E.link(D, 1);
      E.command({ updates: { to: D.deviceId, entries: [{ path: '/master/blackout', value: true }] } });

      assert.ok(
        await until(async () => (await param(D, '/master/blackout')).value === true),
        'D applies E’s write',
      );
      assert.ok(
        await until(async () => (await rejected(A, 'sync-origin-blocked')) > 0),
        'A refuses E’s batch passed on by D, as written by a blocked origin',
      );
      assert.ok(
        await until(async () => (await status(B)).sync.held.origins.includes(E.id)),
        'B, which never paired E, holds its write aside',
      );
      assert.ok(
        await throughout(async () => {
          const [a, b] = await Promise.all([param(A, '/master/blackout'), param(B, '/master/blackout')]);
          return a.value === false && b.value === false;
        }),
        'A and B stay out of blackout',
      );

      const onD = (await changes(D, '/master/blackout')).at(-1);
      assert.equal(onD?.new, true);
      assert.equal(onD?.writer, `peer:${E.id}`, 'D’s audit names E as the writer');
      assert.equal(onD?.stamp.node, E.id, 'and E as the origin of the stamp');
      for (const d of [A, B])
        assert.deepEqual(await changes(d, '/master/blackout'), [], 'nothing in A’s or B’s audit');
    } finally {
      await E.stop();
    }
  });

  it('2: a performer on D cannot pass off writes as A’s', async () => {
    const real = await set(A, '/layer/2/hue', '40');
    assert.ok(await until(() => same(honest, '/layer/2/*')), 'A’s own write reaches everyone');
    const R = await startRogue(spareNs, 'rogue-forger');
    try {
      await ask(D, 'trust.allow', { id: R.id, role: 'performer', name: 'rogue-forger' });
      await R.link(D, 1);
      const forged = (hue: number, opacity: number): Entry[] => [
        { path: '/layer/2/hue', value: hue, ahead: 50 },
        { path: '/layer/2/opacity', value: opacity, ahead: 50 },
      ];
      const badSigs = await rejected(D, 'sync-bad-signature');
      const malformed = await rejected(D, 'sync-malformed');
      // A snapshot part carrying a batch labelled A (signed with R's key), and an updates
      // datagram whose batch spells out A as its origin.
      R.command({ snapshot: { to: D.deviceId, origin: A.deviceId, entries: forged(300, 0.9) } });
      R.command({ updatesAs: { to: D.deviceId, origin: A.deviceId, entries: forged(301, 0.8) } });

      assert.ok(
        await until(async () => (await rejected(D, 'sync-bad-signature')) > badSigs),
        'D refuses the batch labelled A: its signature is not A’s',
      );
      assert.ok((await status(D)).sync.badSignatures > 0, 'counted in D’s sync status');
      assert.ok(
        await until(async () => (await rejected(D, 'sync-malformed')) > malformed),
        'D refuses an updates datagram of another origin',
      );
      assert.ok(
        await throughout(async () => {
          for (const d of honest) {
            const v = await valuesOf(d, '/layer/2/*');
            if (v['/layer/2/hue'] !== 40 || v['/layer/2/opacity'] !== 0) return false;
          }
          return true;
        }),
        'every laptop keeps A’s real value and the untouched default',
      );
      const onA = await param(A, '/layer/2/hue');
      assert.equal(onA.source, 'cli', 'A holds only what it wrote itself');
      assert.deepEqual(onA.stamp, real.stamp);
      for (const d of honest) {
        const audit = await changes(d, '/layer/2/*');
        assert.deepEqual(
          audit.map((r) => [r.path, r.new, r.stamp.node]),
          [['/layer/2/hue', 40, A.deviceId]],
          `${nameOf(d)}’s audit shows A’s one real write and nothing stamped with A's ID besides`,
        );
      }
    } finally {
      await R.stop();
    }
  });

  it('3: an equivocating performer is caught by both laptops, which end on one value', async () => {
    const R = await startRogue(spareNs, 'rogue-equivocator');
    try {
      for (const d of [A, D])
        await ask(d, 'trust.allow', { id: R.id, role: 'performer', name: 'rogue-equivocator' });
      await R.link(A, 0);
      await R.link(D, 1);
      // Two paths, so each laptop holds the losing value of one of them (the value breaks a
      // tie: "f0.222" > "f0.11", "f222" > "f11") and each is sure to see the other value.
      const t = Date.now();
      const tell = (d: TestDaemon, opacity: number, hue: number) =>
        R.command({
          updates: {
            to: d.deviceId,
            entries: [
              { path: '/layer/3/opacity', value: opacity, t },
              { path: '/layer/3/hue', value: hue, t },
            ],
          },
        });
      tell(A, 0.11, 222);
      tell(D, 0.222, 11);

      const winners = { '/layer/3/opacity': 0.222, '/layer/3/hue': 222 };
      assert.ok(
        await until(async () => {
          const [a, d] = await Promise.all([valuesOf(A, '/layer/3/*'), valuesOf(D, '/layer/3/*')]);
          return (
            a['/layer/3/opacity'] === 0.222 &&
            a['/layer/3/hue'] === 222 &&
            JSON.stringify(a) === JSON.stringify(d)
          );
        }),
        'A and D end on the same values',
      );
      for (const d of [A, D]) {
        for (const [path, v] of Object.entries(winners)) assert.equal((await param(d, path)).value, v);
        assert.ok(
          await until(async () => securityEvents(d, 'sync.equivocation', R.id).length > 0),
          `${nameOf(d)} logs sync.equivocation as a security event`,
        );
        assert.ok((await status(d)).sync.equivocations > 0, `${nameOf(d)} counts it`);
      }
      assert.ok(
        await until(async () => (await pinOf(A, R.id))?.state === 'blocked'),
        'A (sync.onEquivocation: block) blocks R',
      );
      assert.equal(
        (await pinOf(D, R.id))?.state,
        'trusted',
        'D (drop) keeps the pin: R may link again and be caught again',
      );
      assert.deepEqual(await valuesOf(B, '/layer/3/opacity'), { '/layer/3/opacity': 0 }, 'B never paired R');
      // Dropped means the DTLS link itself ends (R hears it), not only a changed pin.
      for (const d of [A, D]) {
        assert.ok(
          await until(async () => R.events.some((e) => e.closed?.peer === d.deviceId)),
          `${nameOf(d)} ends R's link; R heard: ${JSON.stringify(R.events.filter((e) => e.closed))}`,
        );
        assert.notEqual((await peerRow(d, R.id))?.state, 'linked', `${nameOf(d)} no longer shows R linked`);
      }
    } finally {
      await R.stop();
    }
  });

  it('4: an observer’s future stamp is refused without moving the clock; the beat keeps going', async () => {
    const O = await startRogue(spareNs, 'rogue-observer');
    try {
      await ask(A, 'trust.allow', { id: O.id, role: 'observer', name: 'rogue-observer' });
      await O.link(A, 0);
      const future = await rejected(A, 'sync-future-stamp');
      const ahead: Entry[] = [
        { path: '/tempo', value: 60, ahead: FAR_AHEAD_MS },
        { path: '/layer/4/opacity', value: 0.4, ahead: FAR_AHEAD_MS },
      ];
      // Through updates (the refuse-and-correct path of an observer) and a snapshot part.
      O.command({ updates: { to: A.deviceId, entries: ahead } });
      O.command({ snapshot: { to: A.deviceId, origin: O.id, entries: ahead } });
      assert.ok(
        await until(async () => (await rejected(A, 'sync-future-stamp')) >= future + 4),
        'A refuses all four stamps as too far ahead',
      );
      assert.ok((await status(A)).sync.futureStamps >= 4);

      const mine = await set(A, '/layer/4/color', '#123456');
      assert.ok(
        mine.stamp.t - Date.now() < 1000,
        `A's next write is stamped near its wall clock, not ${FAR_AHEAD_MS} ms ahead (ahead by ${mine.stamp.t - Date.now()} ms)`,
      );
      assert.notEqual((await param(A, '/tempo')).value, 60, 'the observer’s tempo is not applied');
      assert.equal((await param(A, '/layer/4/opacity')).value, 0);

      const tempo = await set(A, '/tempo', '132');
      assert.ok(tempo.stamp.t - Date.now() < 1000, 'the performer’s tempo change is stamped now');
      assert.ok(await honestAgree('/tempo', 132), 'the tempo reaches every laptop');
      for (const d of honest) await beatMoves(d, 132, nameOf(d));
    } finally {
      await O.stop();
    }
  });

  it('5: an observer with a ground small device ID never leads the session clock', async () => {
    // A handful of certificates until one's ID sorts before every honest laptop's: any that
    // starts with a digit or 'A' does (identitySortingAfterA), 7 in 32.
    const smallest = honest.map((d) => d.deviceId).sort()[0]!;
    let ground: Identity | undefined;
    for (let tries = 0; tries < 200 && !ground; tries++) {
      const id = await createIdentity();
      if (id.deviceId < smallest) ground = id;
    }
    assert.ok(ground, 'ground an ID that sorts first');
    for (const d of honest)
      await ask(d, 'trust.allow', { id: ground.deviceId, role: 'observer', name: 'ground' });
    const G = await startDaemon({
      wrap: ['ip', 'netns', 'exec', spareNs],
      seed: (home) => saveIdentity(home, ground),
      config: {
        name: 'ground',
        peers: {
          bind: '0.0.0.0',
          port: PEER_PORT,
          discovery: false,
          introductions: false,
          static: honest.map((_, i) => `10.77.0.${i + 1}:${PEER_PORT}`),
        },
        sync: { antiEntropyMs: ANTI_ENTROPY_MS },
      },
    });
    try {
      assert.equal(G.deviceId, ground.deviceId);
      for (const d of honest) {
        assert.ok(
          await until(
            async () => ((await peerRow(d, G.deviceId))?.sync?.clockSamples ?? 0) >= MIN_SAMPLES,
            LINK_MS,
          ),
          `${nameOf(d)} links the observer and measures its clock`,
        );
      }
      const refused = await Promise.all(honest.map((d) => rejected(d, 'sync-observer-write')));
      await set(D, '/tempo', '128');
      // Everywhere before the observer writes: a laptop that refuses the observer's write before
      // the performer's reaches it re-asserts the older tempo with a fresh stamp, over the
      // performer's (a race of corrections, not of the clock this test is about).
      assert.ok(await honestAgree('/tempo', 128), 'the performer’s tempo reaches every laptop');
      // The observer's operator changes the tempo too, which writes a timeline on its laptop.
      await set(G, '/tempo', '96');
      assert.ok(
        await until(async () => {
          const now = await Promise.all(honest.map((d) => rejected(d, 'sync-observer-write')));
          return now.every((n, i) => n > refused[i]!);
        }),
        'every honest laptop refuses the observer’s writes',
      );
      const followers: string[] = [];
      await throughout(async () => {
        for (const d of honest) if ((await clockOf(d)).leader === G.deviceId) followers.push(nameOf(d));
        return true;
      }, 3 * WATCH_MS);
      assert.deepEqual([...new Set(followers)], [], 'no honest laptop ever follows the observer’s clock');
      // Refusing the observer's timeline, a laptop re-asserts one in its own clock and may lead:
      // any performer may, as long as all follow the same one.
      const performers = honest.map((d) => d.deviceId);
      assert.ok(
        await until(async () => {
          const leaders = await Promise.all(honest.map(async (d) => (await clockOf(d)).leader));
          return leaders.every((l) => l === leaders[0]) && performers.includes(leaders[0]!);
        }),
        'the honest laptops follow one leader, a performer',
      );
      for (const d of honest) {
        assert.equal((await param(d, '/tempo')).value, 128, 'the performer’s tempo holds');
        await beatMoves(d, 128, nameOf(d));
      }
    } finally {
      await G.stop();
    }
  });
});
