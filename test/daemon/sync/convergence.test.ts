import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { pino } from 'pino';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import { SyncConfig } from '../../../daemon/config/sync-schema.ts';
import { createRejections, type Rejections } from '../../../daemon/ingest/rejections.ts';
import { securityLogger } from '../../../daemon/log.ts';
import type { Value } from '../../../daemon/state/coerce.ts';
import { compareStamps, createHlc, type Stamp, ZERO_STAMP } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore, type Store } from '../../../daemon/state/store.ts';
import {
  createSyncService,
  type SyncIdentity,
  type SyncLinkHandle,
  type SyncService,
} from '../../../daemon/sync/service.ts';
import { createSigner } from '../../../daemon/sync/signer.ts';
import { decodeSync, encodeSync } from '../../../daemon/sync/v2/codec.ts';
import { signBatch } from '../../../daemon/sync/v2/pack.ts';
import { createIdentity } from '../../../trust-store/identity.ts';
import type { PeerStore } from '../../../trust-store/peers.ts';
import { prng } from '../../helpers/prng.ts';
import { mustOpen } from '../../trust-store/helpers.ts';

// Convergence of the whole replication path: several replicas, each a real store, registry,
// HLC and sync service with its own peer store on disk, wired pairwise through an in-memory
// datagram channel that drops, duplicates and reorders (seeded), and can be cut. Whatever the
// interleaving, once the writes stop every replica must end with the same entries, and those
// must be the highest-stamped write of each path. Waits are polls with a bound, never timings.

const log = pino({ level: 'silent' });

const PARAMS = ParamMap.parse({
  '/a': { type: 'float', min: 0, max: 1 },
  '/b': { type: 'int', min: 0, max: 127 },
  '/on': { type: 'bool' },
  '/name': { type: 'string', maxLength: 16 },
  '/col': { type: 'color' },
  '/go': { type: 'trigger' },
  '/tempo': { type: 'float', min: 20, max: 999, default: 120 },
});

const hex8 = fc.integer({ min: 0, max: 0xffffffff }).map((n) => `#${n.toString(16).padStart(8, '0')}`);
const VALUES: Record<string, fc.Arbitrary<Value>> = {
  '/a': fc.double({ min: 0, max: 1, noNaN: true }),
  '/b': fc.integer({ min: 0, max: 127 }),
  '/on': fc.boolean(),
  '/name': fc.string({ maxLength: 16 }),
  '/col': hex8,
  '/go': fc.constant(null),
  '/tempo': fc.double({ min: 20, max: 999, noNaN: true }),
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every `everyMs` until it holds or `limitMs` of polling passed (bounded in count too). */
async function until(cond: () => boolean, limitMs = 15_000, everyMs = 20): Promise<boolean> {
  for (let i = 0; i < Math.ceil(limitMs / everyMs); i++) {
    if (cond()) return true;
    await sleep(everyMs);
  }
  return cond();
}

// ── replicas ──

/** Real identities (ECDSA P-256, device ID = certificate hash), one per label, made once. */
const identities = new Map<string, Promise<SyncIdentity>>();
function identityOf(label: string): Promise<SyncIdentity> {
  let id = identities.get(label);
  if (!id) {
    id = createIdentity();
    identities.set(label, id);
  }
  return id;
}

type Replica = {
  readonly id: string;
  readonly identity: SyncIdentity;
  name: string;
  store: Store;
  sync: SyncService;
  rejections: Rejections;
  write(path: string, value: Value): Stamp;
};

function createReplica(init: {
  identity: SyncIdentity;
  name: string;
  peers: PeerStore;
  params?: ParamMap;
  hlcNow?: () => number;
  /** The identity now, when it can change (a rotation), and every device ID it has had. */
  self?: { current: () => SyncIdentity; all: () => readonly string[] };
}): Replica {
  const registry = createRegistry(init.params ?? PARAMS);
  const identity = init.self?.current ?? (() => init.identity);
  const selfId = () => identity().deviceId;
  const hlc = createHlc({ node: selfId, ...(init.hlcNow && { now: init.hlcNow }) });
  const store = createStore({ registry, hlc });
  const rejections = createRejections({
    log,
    security: securityLogger(log),
    intervalMs: 1000,
  });
  const config = SyncConfig.parse({ antiEntropyMs: 100 });
  const sync = createSyncService({
    identity,
    ...(init.self && { ownIds: init.self.all }),
    config,
    registry,
    store,
    hlc,
    peers: init.peers,
    rejections,
    log,
  });
  return {
    get id() {
      return selfId();
    },
    get identity() {
      return identity();
    },
    name: init.name,
    store,
    sync,
    rejections,
    write: (path, value) => store.apply([{ path, value }], 'test')[0]!.stamp,
  };
}

type View = Array<[string, Value, Stamp]>;
const viewOf = (r: Replica): View =>
  [...r.store.entries()]
    .map(([p, e]): [string, Value, Stamp] => [p, e.value, { t: e.stamp.t, c: e.stamp.c, node: e.stamp.node }])
    .sort((x, y) => (x[0] < y[0] ? -1 : 1));
const converged = (rs: readonly Replica[]) => rs.every((r) => isDeepStrictEqual(viewOf(r), viewOf(rs[0]!)));

/** The paths on which replicas disagree, for a failure message. */
function differences(rs: readonly Replica[]): string {
  const views = rs.map(viewOf);
  const lines: string[] = [];
  views[0]!.forEach(([path], i) => {
    const all = views.map((v) => v[i]);
    if (all.every((x) => isDeepStrictEqual(x, all[0]))) return;
    lines.push(`${path}: ${rs.map((r, k) => `${r.name}=${JSON.stringify(all[k]?.slice(1))}`).join(' ')}`);
  });
  return lines.join('\n');
}

/** Peer stores for a group: each replica trusts every other with the role `roleOf(me, them)`. */
async function peerStores(
  dir: string,
  members: ReadonlyArray<{ id: string; name: string }>,
  roleOf: (me: string, them: string) => 'performer' | 'observer' = () => 'performer',
): Promise<PeerStore[]> {
  const out: PeerStore[] = [];
  for (const me of members) {
    const store = await mustOpen(join(dir, `${me.name}-peers.json`));
    for (const them of members) {
      if (them.id !== me.id)
        await store.pin({ id: them.id, name: them.name, state: 'trusted', role: roleOf(me.id, them.id) });
    }
    out.push(store);
  }
  return out;
}

// ── the lossy channel ──

type NetInit = { seed: number; loss: number; dup: number; maxDelayMs: number };

function createNet(init: NetInit) {
  const rand = prng(init.seed);
  const timers = new Set<NodeJS.Timeout>();
  const immediates = new Set<NodeJS.Immediate>();
  const cut = new Set<string>();
  const errors: unknown[] = [];
  const counts = { sent: 0, dropped: 0, duplicated: 0, delivered: 0 };
  type Gen = { open: boolean; handles: Map<string, SyncLinkHandle> };
  const gens = new Map<string, Gen>();
  const pairKey = (a: Replica, b: Replica) => (a.id < b.id ? `${a.id}|${b.id}` : `${b.id}|${a.id}`);
  let closed = false;

  function schedule(delay: number, fn: () => void): void {
    if (delay === 0) {
      const im = setImmediate(() => {
        immediates.delete(im);
        fn();
      });
      immediates.add(im);
    } else {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, delay);
      timers.add(t);
    }
  }

  function send(gen: Gen, from: Replica, to: Replica, bytes: Uint8Array): void {
    if (closed || !gen.open) return;
    counts.sent++;
    if (cut.has(`${from.id}>${to.id}`) || rand() < init.loss) {
      counts.dropped++;
      return;
    }
    const copies = rand() < init.dup ? 2 : 1;
    if (copies === 2) counts.duplicated++;
    for (let i = 0; i < copies; i++) {
      const copy = bytes.slice();
      const delay = rand() < 0.4 ? 0 : Math.floor(rand() * init.maxDelayMs);
      schedule(delay, () => {
        if (closed || !gen.open) return;
        counts.delivered++;
        try {
          gen.handles.get(to.id)?.receive(copy);
        } catch (err) {
          errors.push(err);
        }
      });
    }
  }

  return {
    counts,
    errors,
    /** Attaches a and b to each other (a new link generation, as a fresh DTLS session would). */
    link(a: Replica, b: Replica): void {
      const gen: Gen = { open: true, handles: new Map() };
      gens.set(pairKey(a, b), gen);
      // Each side's handle for the other: what a sends arrives at b's handle, and back.
      // As a DTLS session would, each side learns the other's certificate at the handshake.
      gen.handles.set(
        b.id,
        b.sync.attach(a.id, (bytes) => send(gen, b, a, bytes), a.identity.certDer),
      );
      gen.handles.set(
        a.id,
        a.sync.attach(b.id, (bytes) => send(gen, a, b, bytes), b.identity.certDer),
      );
    },
    unlink(a: Replica, b: Replica): void {
      const gen = gens.get(pairKey(a, b));
      if (!gen) return;
      gen.open = false;
      for (const h of gen.handles.values()) h.close();
      gens.delete(pairKey(a, b));
    },
    /** Drops every datagram between the two sides (the links stay up, as with a dead switch port). */
    cut(side: readonly Replica[], rest: readonly Replica[]): void {
      for (const x of side) for (const y of rest) cut.add(`${x.id}>${y.id}`).add(`${y.id}>${x.id}`);
    },
    heal(): void {
      cut.clear();
    },
    close(): void {
      closed = true;
      for (const gen of gens.values()) {
        gen.open = false;
        for (const h of gen.handles.values()) h.close();
      }
      gens.clear();
      for (const t of timers) clearTimeout(t);
      for (const im of immediates) clearImmediate(im);
    },
  };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-convergence-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function meshOf(net: ReturnType<typeof createNet>, rs: readonly Replica[]): void {
  for (let i = 0; i < rs.length; i++) for (let j = i + 1; j < rs.length; j++) net.link(rs[i]!, rs[j]!);
}

// ── the property ──

type Member = { id: string; name: string; identity: SyncIdentity };
async function membersOf(label: string, n: number): Promise<Member[]> {
  const out: Member[] = [];
  for (let i = 0; i < n; i++) {
    const identity = await identityOf(`${label} ${i}`);
    out.push({ id: identity.deviceId, name: `${label}-${i}`, identity });
  }
  return out;
}
let MEMBERS: Member[];

type Scenario = {
  seed: number;
  n: number;
  loss: number;
  dup: number;
  maxDelayMs: number;
  writes: Array<{ at: number; path: string; value: Value; pauseMs: number }>;
  partition: { mask: number; from: number; to: number; relink: boolean } | null;
};

const arbWrite = fc.constantFrom(...Object.keys(VALUES)).chain((path) =>
  fc.record({
    at: fc.nat(3),
    path: fc.constant(path),
    value: VALUES[path]!,
    pauseMs: fc.integer({ min: 0, max: 12 }),
  }),
);

const arbScenario: fc.Arbitrary<Scenario> = fc
  .array(arbWrite, { minLength: 1, maxLength: 40, size: 'max' })
  .chain((writes) =>
    fc.record({
      seed: fc.integer(),
      n: fc.integer({ min: 3, max: 4 }),
      loss: fc.double({ min: 0, max: 0.3, noNaN: true }),
      dup: fc.double({ min: 0, max: 0.2, noNaN: true }),
      maxDelayMs: fc.integer({ min: 1, max: 15 }),
      writes: fc.constant(writes),
      // Cut before write `from`, healed before write `to` (or after the last write).
      partition: fc.option(
        fc.tuple(fc.nat(writes.length - 1), fc.nat(writes.length)).chain(([a, b]) =>
          fc.record({
            mask: fc.integer({ min: 1, max: 14 }),
            from: fc.constant(Math.min(a, b)),
            to: fc.constant(Math.max(a, b) === Math.min(a, b) ? Math.min(a, b) + 1 : Math.max(a, b)),
            relink: fc.boolean(),
          }),
        ),
        { freq: 5 },
      ),
    }),
  );

describe('sync convergence', () => {
  let stores: PeerStore[];
  before(async () => {
    MEMBERS = await membersOf('convergence replica', 4);
    stores = await peerStores(dir, MEMBERS);
  });

  it('any interleaving of writes, with loss, duplication, reordering and a healed partition, converges', async (t) => {
    let runs = 0;
    const seen = { partitioned: 0, relinked: 0, datagrams: 0, dropped: 0, duplicated: 0, writes: 0 };
    await fc.assert(
      fc.asyncProperty(arbScenario, async (sc) => {
        runs++;
        seen.writes += sc.writes.length;
        if (sc.partition) seen[sc.partition.relink ? 'relinked' : 'partitioned']++;
        const rs = MEMBERS.slice(0, sc.n).map((m, i) => createReplica({ ...m, peers: stores[i]! }));
        const net = createNet(sc);
        try {
          meshOf(net, rs);
          const inSide = (i: number) => ((sc.partition?.mask ?? 0) >> i) & 1;
          let side = rs.filter((_, i) => inSide(i));
          let rest = rs.filter((_, i) => !inSide(i));
          if (side.length === 0 || rest.length === 0) [side, rest] = [rs.slice(0, 1), rs.slice(1)];
          const p = sc.partition;
          const heal = () => {
            if (!p) return;
            if (p.relink) for (const x of side) for (const y of rest) net.link(x, y);
            else net.heal();
          };
          const winners = new Map<string, { value: Value; stamp: Stamp }>();
          for (let i = 0; i < sc.writes.length; i++) {
            if (p && i === p.from) {
              if (p.relink) for (const x of side) for (const y of rest) net.unlink(x, y);
              else net.cut(side, rest);
            }
            if (p && i === p.to) heal();
            const w = sc.writes[i]!;
            const stamp = rs[w.at % rs.length]!.write(w.path, w.value);
            const best = winners.get(w.path);
            if (!best || compareStamps(stamp, best.stamp) > 0) winners.set(w.path, { value: w.value, stamp });
            if (w.pauseMs > 0) await sleep(w.pauseMs);
          }
          if (p && p.to >= sc.writes.length) heal();
          const ok = await until(() => converged(rs));
          assert.deepEqual(net.errors, [], 'no replica threw on a datagram');
          assert.ok(ok, `replicas did not converge (${JSON.stringify(net.counts)}):\n${differences(rs)}`);
          for (const [path, value, stamp] of viewOf(rs[0]!)) {
            const want = winners.get(path);
            if (want)
              assert.deepStrictEqual(
                [value, stamp],
                [want.value, want.stamp],
                `${path} holds the highest-stamped write`,
              );
            else assert.deepStrictEqual(stamp, ZERO_STAMP, `${path} was never written`);
          }
          for (const r of rs) {
            assert.deepEqual(r.rejections.counts(), {}, `${r.name} rejected nothing`);
            assert.equal(r.sync.status().refused, 0);
          }
        } finally {
          seen.datagrams += net.counts.sent;
          seen.dropped += net.counts.dropped;
          seen.duplicated += net.counts.duplicated;
          net.close();
          for (const r of rs) r.sync.close();
        }
      }),
      { numRuns: 20, endOnFailure: true },
    );
    assert.equal(runs, 20);
    t.diagnostic(`runs ${runs}: ${JSON.stringify(seen)}`);
  });
});

// ── deterministic cases ──

/** A group of replicas with their own peer stores, wired by a loss-free channel. */
async function group(
  label: string,
  specs: ReadonlyArray<{ params?: ParamMap; hlcNow?: () => number }>,
  roleOf?: (me: string, them: string) => 'performer' | 'observer',
) {
  const members = await membersOf(label, specs.length);
  const stores = await peerStores(dir, members, roleOf);
  const rs = members.map((m, i) => createReplica({ ...m, peers: stores[i]!, ...specs[i] }));
  const net = createNet({ seed: 1, loss: 0, dup: 0, maxDelayMs: 3 });
  return {
    rs,
    net,
    close() {
      net.close();
      for (const r of rs) r.sync.close();
    },
  };
}

const valueAt = (r: Replica, path: string) => r.store.get(path)?.value;

describe('sync merge rules across replicas', () => {
  it('concurrent writes with equal time and counter: the largest device ID wins everywhere', async () => {
    const T = Date.now();
    const g = await group('tie', [{ hlcNow: () => T }, { hlcNow: () => T }, { hlcNow: () => T }]);
    try {
      meshOf(g.net, g.rs);
      // All three write before any datagram is delivered: truly concurrent.
      const stamps = g.rs.map((r, i) => r.write('/a', (i + 1) / 10));
      assert.ok(stamps.every((s) => s.t === T && s.c === 0));
      const top = [...g.rs].sort((x, y) => (x.id < y.id ? 1 : -1))[0]!;
      const want = [(g.rs.indexOf(top) + 1) / 10, { t: T, c: 0, node: top.id }];
      assert.ok(
        await until(() =>
          g.rs.every((r) =>
            isDeepStrictEqual(
              viewOf(r)
                .find((v) => v[0] === '/a')!
                .slice(1),
              want,
            ),
          ),
        ),
      );
      assert.ok(converged(g.rs));
      for (const r of g.rs) assert.equal(r.sync.status().refused, 0);
    } finally {
      g.close();
    }
  });

  it('concurrent writes at different times: the later stamp wins even from a smaller device ID', async () => {
    const T = Date.now();
    const members = (await membersOf('later', 3)).map((m) => m.id);
    // The smallest ID gets the latest clock, so the ID tie-break would pick someone else.
    const rank = [...members].sort();
    const offset = (i: number) => 20 - 10 * rank.indexOf(members[i]!);
    const g = await group(
      'later',
      [0, 1, 2].map((i) => ({ hlcNow: () => T + offset(i) })),
    );
    try {
      meshOf(g.net, g.rs);
      for (const [i, r] of g.rs.entries()) r.write('/b', i + 1);
      const winner = g.rs.find((r) => r.id === rank[0])!;
      assert.ok(await until(() => g.rs.every((r) => valueAt(r, '/b') === g.rs.indexOf(winner) + 1)));
      assert.ok(await until(() => converged(g.rs)));
      assert.deepEqual(g.rs[0]!.store.get('/b')!.stamp, { t: T + 20, c: 0, node: winner.id });
    } finally {
      g.close();
    }
  });

  it('after a replica rotates its identity, every side converges and names the right writer', async () => {
    const [ia1, ia2] = [await identityOf('rotation a1'), await identityOf('rotation a2')];
    const a1 = ia1.deviceId;
    const a2 = ia2.deviceId;
    const [b, c] = await membersOf('rotation', 2);
    const ids = [a1];
    const current = [ia1];
    const [sa, sb, sc] = await peerStores(dir, [{ id: a1, name: 'rot-a' }, b!, c!]);
    const A = createReplica({
      identity: ia1,
      name: 'rot-a',
      peers: sa!,
      self: { current: () => current.at(-1)!, all: () => ids },
    });
    const B = createReplica({ ...b!, peers: sb! });
    const C = createReplica({ ...c!, peers: sc! });
    const rs = [A, B, C];
    const net = createNet({ seed: 7, loss: 0.1, dup: 0.05, maxDelayMs: 5 });
    try {
      meshOf(net, rs);
      A.write('/a', 0.1);
      A.write('/col', '#11223344');
      B.write('/b', 5);
      assert.ok(await until(() => converged(rs)), differences(rs));
      // A rotates: its links end, the others move their pin in one write, links come back.
      net.unlink(A, B);
      net.unlink(A, C);
      ids.push(a2);
      current.push(ia2);
      await sb!.rotate(a1, a2);
      await sc!.rotate(a1, a2);
      net.link(A, B);
      net.link(A, C);
      A.write('/a', 0.2);
      A.write('/on', true);
      B.write('/b', 7);
      C.write('/name', 'after');
      assert.ok(await until(() => converged(rs)), differences(rs));
      for (const r of [B, C]) {
        assert.equal(r.store.get('/a')!.stamp.node, a2, `${r.name} names A's new ID`);
        assert.equal(r.store.get('/a')!.source, `peer:${a2}`);
        assert.equal(r.store.get('/col')!.stamp.node, a1, 'a write made before the rotation keeps its stamp');
      }
      assert.doesNotMatch(A.store.get('/a')!.source, /^peer:/, 'A’s own write stays its own');
      assert.equal(A.store.get('/b')!.source, `peer:${b!.id}`);
      for (const r of rs) assert.equal(r.sync.status().refused, 0, `${r.name} refused nothing`);
    } finally {
      net.close();
      for (const r of rs) r.sync.close();
    }
  });

  it('a write reaches a replica with no link to the writer, relayed by anti-entropy', async () => {
    const g = await group('chain', [{}, {}, {}]);
    try {
      const [a, b, c] = g.rs as [Replica, Replica, Replica];
      g.net.link(a, b);
      g.net.link(b, c);
      const stamp = a.write('/name', 'relayed');
      assert.ok(await until(() => valueAt(c, '/name') === 'relayed'));
      assert.deepEqual(c.store.get('/name')!.stamp, stamp, 'with the writer’s stamp');
      assert.ok(await until(() => converged(g.rs)));
    } finally {
      g.close();
    }
  });
});

describe('sync refusals across replicas', () => {
  /** Three replicas; the first is pinned as an observer by the other two and writes after they agree. */
  async function observerCase(label: string, observerClockAheadMs: number) {
    const observer = (await identityOf(`${label} 0`)).deviceId;
    const g = await group(
      label,
      [{ hlcNow: () => Date.now() + observerClockAheadMs }, {}, {}],
      (_me, them) => (them === observer ? 'observer' : 'performer'),
    );
    const [o, a, b] = g.rs as [Replica, Replica, Replica];
    meshOf(g.net, g.rs);
    const applied: unknown[] = [];
    for (const r of [a, b]) {
      r.store.subscribe((changes) => {
        for (const c of changes) if (c.stamp.node === o.id) applied.push([r.name, c.path, c.value]);
      });
    }
    a.write('/a', 0.25);
    if (!(await until(() => converged(g.rs)))) {
      g.close();
      assert.fail(`the group did not agree before the observer wrote:\n${differences(g.rs)}`);
    }
    o.write('/a', 0.9);
    o.write('/b', 5);
    return { g, o, a, b, applied };
  }

  it('an observer’s writes are refused and counted by the others, and the group’s values come back to it', async () => {
    const { g, o, a, b, applied } = await observerCase('observer', 0);
    try {
      assert.ok(
        await until(() => converged(g.rs) && valueAt(o, '/a') === 0.25 && valueAt(o, '/b') === 0),
        `the observer falls back in line:\n${differences(g.rs)}`,
      );
      assert.deepEqual(applied, [], 'no performer ever applied an observer’s write');
      for (const r of [a, b]) {
        assert.ok(r.sync.status().refused >= 2, `${r.name} refused both writes`);
        assert.ok((r.rejections.counts()['sync-observer-write'] ?? 0) >= 2);
      }
      assert.ok(a.sync.status().corrections + b.sync.status().corrections >= 2);
      assert.equal(o.sync.status().refused, 0);
      assert.notEqual(o.store.get('/b')!.stamp.node, o.id, '/b carries a performer’s stamp');
    } finally {
      g.close();
    }
  });

  it('an observer whose clock runs ahead (within sync.maxDriftMs) is still brought back in line', async () => {
    // The correction is a fresh local write on the refusing side. If its stamp is older than
    // the observer's write (the observer's clock is ahead, within the drift bound), the
    // observer keeps its value and the group never agrees.
    const { g, o, applied } = await observerCase('observer-ahead', 1500);
    try {
      assert.ok(
        await until(() => converged(g.rs) && valueAt(o, '/a') === 0.25, 5000),
        `the group still disagrees after 5 s:\n${differences(g.rs)}`,
      );
      assert.deepEqual(applied, []);
    } finally {
      g.close();
    }
  });

  it('a path only some replicas declare is kept aside, reported, not applied, and passed on', async () => {
    const withFx = ParamMap.parse({ ...PARAMS, '/fx': { type: 'float', min: 0, max: 1 } });
    const g = await group('unknown', [{ params: withFx }, {}, { params: withFx }]);
    try {
      const [a, b, c] = g.rs as [Replica, Replica, Replica];
      g.net.link(a, b);
      g.net.link(b, c); // c hears of /fx only through b, which does not declare it
      const first = a.write('/fx', 0.7);
      assert.ok(await until(() => valueAt(c, '/fx') === 0.7), 'c gets it through b');
      assert.deepEqual(c.store.get('/fx')!.stamp, first);
      assert.equal(b.store.get('/fx'), undefined, 'b does not apply it');
      const s = b.sync.status();
      assert.equal(s.unknownPaths.count, 1);
      assert.deepEqual(s.unknownPaths.sample, [{ path: '/fx', from: a.id }]);
      assert.ok((b.rejections.counts()['sync-unknown-path'] ?? 0) >= 1);
      assert.equal(s.refused, 0, 'an unknown path is not a refusal');
      const second = a.write('/fx', 0.8);
      assert.ok(
        await until(() => isDeepStrictEqual(c.store.get('/fx')?.stamp, second)),
        'a newer value follows',
      );
      assert.equal(valueAt(c, '/fx'), 0.8);
      assert.equal(b.sync.status().unknownPaths.count, 1);
      const common = (r: Replica) => viewOf(r).filter(([path]) => path !== '/fx');
      assert.ok(
        await until(() => isDeepStrictEqual(viewOf(a), viewOf(c)) && isDeepStrictEqual(common(a), common(b))),
      );
    } finally {
      g.close();
    }
  });

  it('a value outside our declared range is refused as sync-invalid-value, not clamped', async () => {
    const wide = ParamMap.parse({ ...PARAMS, '/gain': { type: 'float', min: 0, max: 10 } });
    const narrow = ParamMap.parse({ ...PARAMS, '/gain': { type: 'float', min: 0, max: 1 } });
    const g = await group('range', [{ params: wide }, { params: narrow }]);
    try {
      const [a, b] = g.rs as [Replica, Replica];
      g.net.link(a, b);
      a.write('/gain', 5);
      assert.ok(await until(() => (b.rejections.counts()['sync-invalid-value'] ?? 0) >= 1));
      assert.deepEqual(
        b.store.get('/gain'),
        { value: 0, stamp: ZERO_STAMP, source: 'default' },
        'untouched, not clamped to 1',
      );
      assert.ok(b.sync.status().refused >= 1);
      assert.equal(b.sync.status().applied, 0);
      const ok = a.write('/gain', 0.5);
      assert.ok(await until(() => valueAt(b, '/gain') === 0.5), 'an in-range value still passes');
      assert.deepEqual(b.store.get('/gain')!.stamp, ok);
    } finally {
      g.close();
    }
  });

  it('a batch labelled with another laptop as origin but signed by the sender is refused; the honest batch beside it applies', async () => {
    const g = await group('forged-origin', [{}, {}, {}]);
    try {
      const [a, b, forger] = g.rs as [Replica, Replica, Replica];
      g.net.link(a, b); // b knows a's key, as any laptop linked to a does
      const handle = b.sync.attach(forger.id, () => {}, forger.identity.certDer);
      const t = Date.now();
      const signByForger = createSigner(() => forger.identity);
      // Claims to be a's write, but only the forger's key signed it.
      const forged = signBatch(
        a.id,
        [{ path: '/a', value: 0.5, stamp: { t, c: 0, node: a.id } }],
        signByForger.sign,
      );
      const honest = signBatch(
        forger.id,
        [{ path: '/b', value: 3, stamp: { t, c: 1, node: forger.id } }],
        signByForger.sign,
      );
      const part = encodeSync(
        { kind: 'snapshot-part', id: 1, part: 0, parts: 1, batches: [forged, honest] },
        forger.id,
      );
      assert.doesNotThrow(() => handle.receive(part));
      assert.equal(valueAt(b, '/b'), 3, 'the forger’s own, honestly signed write applies');
      assert.deepEqual(b.store.get('/a')!.stamp, ZERO_STAMP, 'nothing stamped with a’s ID appears');
      assert.equal(b.rejections.counts()['sync-bad-signature'], 1);
      assert.equal(b.sync.status().badSignatures, 1);
      handle.close();
    } finally {
      g.close();
    }
  });
});

// ── adversaries among honest replicas ──

describe('sync convergence with forged, equivocating and replaying origins among honest ones', () => {
  /**
   * A trusted performer that misbehaves: it is linked to every honest replica (they pin it as a
   * performer, so its own writes count), captures every datagram they send it, and feeds them
   * crafted snapshot parts. It holds only its own key.
   */
  async function adversary(honest: readonly Replica[], seed: number) {
    const identity = await identityOf(`adversary ${seed}`);
    const sign = createSigner(() => identity).sign;
    const captured: Array<{ bytes: Uint8Array; from: string }> = [];
    const handles = honest.map((r) =>
      r.sync.attach(
        identity.deviceId,
        (bytes) => captured.push({ bytes: bytes.slice(), from: r.id }),
        identity.certDer,
      ),
    );
    let id = 1;
    const part = (batches: ReturnType<typeof signBatch>[]) =>
      encodeSync({ kind: 'snapshot-part', id: id++, part: 0, parts: 1, batches }, identity.deviceId);
    return {
      id: identity.deviceId,
      name: `adversary-${seed}`,
      /** Writes labelled as `victim`'s, signed with the adversary's key. */
      forge(to: number, victim: Replica, path: string, value: Value, t: number) {
        const b = signBatch(victim.id, [{ path, value, stamp: { t, c: 0, node: victim.id } }], sign);
        handles[to]!.receive(part([b]));
      },
      /** Its own write, signed honestly, but with a different value for each replica under one stamp. */
      equivocate(path: string, values: readonly Value[], t: number) {
        values.forEach((value, i) => {
          const b = signBatch(
            identity.deviceId,
            [{ path, value, stamp: { t, c: 7, node: identity.deviceId } }],
            sign,
          );
          handles[i % handles.length]!.receive(part([b]));
        });
      },
      /** Sends every captured honest datagram back, to a different replica than it came from. */
      replay(rand: () => number) {
        for (const { bytes, from } of captured.splice(0)) {
          const to = Math.floor(rand() * handles.length);
          // An `updates` datagram is only valid from its origin: replayed as a snapshot part
          // instead, which carries the captured (honestly signed, now old) batch.
          // Snapshot parts are re-framed too, so their batches keep naming their real origin.
          const r = decodeSync(bytes, from);
          if (r.ok && r.msg.kind === 'updates') handles[to]!.receive(part([r.msg.batch]));
          else if (r.ok && r.msg.kind === 'snapshot-part') handles[to]!.receive(part([...r.msg.batches]));
          else handles[to]!.receive(bytes);
        }
      },
      close: () => {
        for (const h of handles) h.close();
      },
    };
  }

  for (const seed of [11, 22, 33]) {
    it(`honest replicas converge on honest values (seed ${seed})`, async () => {
      const members = await membersOf(`adv-${seed}`, 3);
      const bad = await identityOf(`adversary ${seed}`);
      const all = [...members, { id: bad.deviceId, name: `adversary-${seed}` }];
      const stores = await peerStores(dir, all);
      const rs = members.map((m, i) => createReplica({ ...m, peers: stores[i]! }));
      const net = createNet({ seed, loss: 0.1, dup: 0.05, maxDelayMs: 5 });
      const rand = prng(seed * 7);
      const adv = await adversary(rs, seed);
      try {
        meshOf(net, rs);
        const winners = new Map<string, { value: Value; stamp: Stamp }>();
        const forgedValues = new Set<Value>();
        // The equivocation: one stamp, two values, on a path no honest replica writes.
        const tEq = Date.now() - 5000;
        adv.equivocate('/col', ['#11111111', '#22222222'], tEq);
        for (let i = 0; i < 30; i++) {
          const w = rs[i % rs.length]!;
          const path = ['/a', '/b', '/name'][i % 3]!;
          const value: Value = path === '/a' ? i / 100 : path === '/b' ? i : `v${i}`;
          const stamp = w.write(path, value);
          const best = winners.get(path);
          if (!best || compareStamps(stamp, best.stamp) > 0) winners.set(path, { value, stamp });
          // A forged write that would win if it were believed: newer than anything honest.
          const forged: Value = path === '/a' ? 0.999 : path === '/b' ? 127 : `forged${i}`;
          forgedValues.add(forged);
          adv.forge(i % rs.length, rs[(i + 1) % rs.length]!, path, forged, Date.now() + 500);
          if (i % 5 === 4) adv.replay(rand);
          await sleep(Math.floor(rand() * 6));
        }
        adv.replay(rand);
        assert.ok(await until(() => converged(rs)), `honest replicas disagree:\n${differences(rs)}`);
        for (const [path, want] of winners) {
          assert.deepEqual(rs[0]!.store.get(path)!.value, want.value, `${path} holds the honest winner`);
        }
        for (const r of rs) {
          for (const [path, e] of r.store.entries()) {
            assert.ok(
              !forgedValues.has(e.value) || path === '/col',
              `${r.name} never applied a forged ${path}`,
            );
            assert.notEqual(e.stamp.node === r.id && !winners.has(path) && path !== '/col', true);
          }
        }
        const col = rs[0]!.store.get('/col')!;
        assert.deepEqual(col.stamp, { t: tEq, c: 7, node: adv.id }, 'the equivocated stamp');
        assert.equal(
          col.value,
          '#22222222',
          'every replica keeps the same one of the two values (write-order.ts)',
        );
        const total = (k: 'badSignatures' | 'equivocations') =>
          rs.reduce((n, r) => n + r.sync.status()[k], 0);
        assert.equal(
          total('badSignatures'),
          30,
          'each forged batch refused once, by the replica it was sent to',
        );
        assert.ok(total('equivocations') >= 1, 'the equivocation is caught where both values meet');
        assert.deepEqual(net.errors, []);
      } finally {
        adv.close();
        net.close();
        for (const r of rs) r.sync.close();
      }
    });
  }
});
