import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import { SyncConfig } from '../../../daemon/config/sync-schema.ts';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { securityLogger } from '../../../daemon/log.ts';
import type { Value } from '../../../daemon/state/coerce.ts';
import { createHlc, type Stamp } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { compareWrites, PERSON_LEAD_MS } from '../../../daemon/state/write-order.ts';
import { createForeignTable } from '../../../daemon/sync/foreign.ts';
import { createGate } from '../../../daemon/sync/gate.ts';
import { createHeldTable } from '../../../daemon/sync/held.ts';
import { createPermissions } from '../../../daemon/sync/permissions.ts';
import { createSigner } from '../../../daemon/sync/signer.ts';
import type { Batch, SyncEntry } from '../../../daemon/sync/v2/codec.ts';
import { signBatch } from '../../../daemon/sync/v2/pack.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { mustOpen } from '../../trust-store/helpers.ts';

// The gate every peer's write comes in through, after its batch's signature checked out, with a
// real registry, store and HLC and a real peer store on disk. Writes are judged by their
// origin: the daemon that signed them, whichever trusted link carried them. Each test is an
// attacker or a mistake: a blocked laptop writing through a relay, an observer writing (and
// correcting only the observer itself), a stamp from the future, two values under one stamp.

const T0 = 1_763_800_000_000;
const MAX_DRIFT_MS = 2000;

const PARAMS = ParamMap.parse({
  '/a': { type: 'float', min: 0, max: 1 },
  '/tempo': { type: 'float', min: 20, max: 999, default: 120 },
  '/layer/1/opacity': { type: 'float', min: 0, max: 1 },
  '/master/blackout': { type: 'bool' },
});

/** Real identities, made once: who signs matters to the audit trail and the proofs kept. */
const make = createIdentity;
const [SELF, A, R, O, X, P, U, S] = await Promise.all([
  make(),
  make(),
  make(),
  make(),
  make(),
  make(),
  make(),
  make(),
]);
const NAMES = new Map<Identity, string>([
  [A, 'performer A'],
  [R, 'relay R'],
  [O, 'observer O'],
  [X, 'blocked X'],
  [P, 'pending P'],
  [U, 'unknown U'],
  [S, 'scoped S'],
]);
const signers = new Map([SELF, A, R, O, X, P, U, S].map((id) => [id, createSigner(() => id)]));

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type Call = { sender: string; path: string };

async function fixture(opts: { maxHeld?: number; maxForeign?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'hana-gate-'));
  dirs.push(dir);
  const peers = await mustOpen(join(dir, 'peers.json'));
  for (const [id, role] of [
    [A, 'performer'],
    [R, 'performer'],
    [O, 'observer'],
    [X, 'performer'],
    [S, 'performer'],
  ] as const) {
    await peers.pin({ id: id.deviceId, name: NAMES.get(id)!, state: 'trusted', role });
  }
  await peers.block(X.deviceId);
  await peers.pin({ id: P.deviceId, name: NAMES.get(P)!, state: 'pending', role: 'performer' });

  let wall = T0;
  const registry = createRegistry(PARAMS);
  const hlc = createHlc({ node: SELF.deviceId, now: () => wall, maxDriftMs: MAX_DRIFT_MS });
  const store = createStore({ registry, hlc });
  const config = SyncConfig.parse({ scopes: { [S.deviceId]: ['/layer/*/opacity'] } });
  const permissions = createPermissions(config, peers, (id) => id === SELF.deviceId);
  const held = createHeldTable(opts.maxHeld ?? 16);
  const foreign = createForeignTable(opts.maxForeign ?? 16);
  const { log, lines } = captureLogger();
  const rejections = createRejections({ log, security: securityLogger(log), intervalMs: 0 });
  const calls = {
    corrections: [] as Call[],
    equivocations: [] as Array<{ origin: string; path: string; detail: string }>,
    applied: [] as Array<{ path: string; batch: Batch }>,
    foreign: [] as SyncEntry[],
    human: [] as string[],
  };
  const gate = createGate({
    registry,
    store,
    permissions,
    foreign,
    held,
    rejections,
    admits: (s) => hlc.admits(s),
    // As the service does, minus its rate limit: answer with our current value.
    correction(sender, e) {
      calls.corrections.push({ sender, path: e.path });
      const current = store.get(e.path);
      return current && { path: e.path, value: current.value };
    },
    onEquivocation: (origin, path, detail) => calls.equivocations.push({ origin, path, detail }),
    onApplied: (path, batch) => calls.applied.push({ path, batch }),
    onHuman: (path) => calls.human.push(path),
    onForeign: (e) => calls.foreign.push(e),
  });

  /** `origin` signs these writes into one batch, and `sender`'s link delivers it. */
  function deliver(
    sender: Identity,
    origin: Identity,
    writes: Array<[path: string, value: Value, stamp: Partial<Stamp>, human?: true]>,
  ) {
    const entries: SyncEntry[] = writes.map(([path, value, s, human]) => ({
      path,
      value,
      stamp: { t: s.t ?? T0 - 1000, c: s.c ?? 0, node: origin.deviceId },
      ...(human && { human }),
    }));
    const batch = signBatch(origin.deviceId, entries, signers.get(origin)!.sign);
    gate.accept(sender.deviceId, batch, entries);
    return batch;
  }

  /** What the service does once an origin may be judged again: held writes, oldest stamp first. */
  function releaseHeld(): void {
    const ready = (origin: string) => peers.get(origin)?.state === 'trusted';
    for (const w of held.release(ready)) gate.accept(w.from, w.batch, [w.entry]);
  }

  return {
    gate,
    store,
    hlc,
    peers,
    held,
    foreign,
    rejections,
    lines,
    calls,
    deliver,
    releaseHeld,
    advance: (ms: number) => {
      wall += ms;
    },
    /** The store as plain [path, value, source] rows, to compare before and after. */
    view: () =>
      [...store.entries()].map(([p, e]) => [p, e.value, e.source, e.stamp.t, e.stamp.c, e.stamp.node]),
  };
}

const id = (i: Identity) => i.deviceId;

describe('sync gate: origins', () => {
  it('a blocked origin is refused (sync-origin-blocked) whoever passes it on, never held or corrected', async () => {
    const f = await fixture();
    const before = f.view();
    for (const sender of [X, R, O, A]) f.deliver(sender, X, [['/master/blackout', true, {}]]);
    assert.deepEqual(f.view(), before, 'nothing applied');
    assert.equal(f.rejections.counts()['sync-origin-blocked'], 4);
    assert.equal(f.gate.counts.refused, 4);
    assert.equal(f.gate.counts.applied, 0);
    assert.equal(f.held.size, 0);
    assert.deepEqual(f.calls.corrections, [], 'a blocked laptop is not worth answering');
    const line = f.lines.find((l) => l.reason === 'sync-origin-blocked' && l.peer === id(R));
    assert.ok(line, 'one log line per relay');
    assert.equal(line.security, true, 'on the security logger');
    assert.equal(line.origin, id(X));
    assert.equal(line.path, '/master/blackout');
    assert.match(String(line.msg), /blocked X is blocked here and may not change \/master\/blackout/);
  });

  it('an unknown or pending origin is held, not applied, then applied in stamp order once paired', async () => {
    const f = await fixture();
    const before = f.view();
    f.deliver(R, P, [['/a', 0.1, { t: T0 - 300 }]]);
    f.deliver(R, U, [
      ['/a', 0.2, { t: T0 - 200 }],
      ['/tempo', 130, { t: T0 - 400 }],
    ]);
    assert.deepEqual(f.view(), before);
    assert.equal(f.held.size, 3);
    assert.equal(f.gate.counts.held, 3);
    assert.equal(f.rejections.counts()['sync-unknown-origin'], 3);
    assert.deepEqual(new Set(f.held.origins()), new Set([id(P), id(U)]));
    f.releaseHeld();
    assert.equal(f.held.size, 3, 'still nobody paired');
    await f.peers.allow(id(P), 'performer');
    await f.peers.pin({ id: id(U), name: NAMES.get(U)!, state: 'trusted', role: 'performer' });
    f.releaseHeld();
    assert.equal(f.held.size, 0);
    assert.deepEqual(
      f.calls.applied.map((a) => [a.path, a.batch.origin]),
      [
        ['/tempo', id(U)],
        ['/a', id(P)],
        ['/a', id(U)],
      ],
      'oldest stamp first',
    );
    assert.equal(f.store.get('/a')!.value, 0.2);
    assert.equal(f.store.get('/a')!.source, `peer:${id(U)}:via:${id(R)}`);
    assert.equal(f.store.get('/tempo')!.value, 130);
  });

  it('drops what does not fit the table of held writes, and says so', async () => {
    const f = await fixture({ maxHeld: 2 });
    f.deliver(R, U, [
      ['/a', 0.1, {}],
      ['/tempo', 100, {}],
      ['/layer/1/opacity', 0.3, {}],
    ]);
    assert.equal(f.held.size, 2);
    assert.equal(f.rejections.counts()['sync-unknown-origin'], 2);
    assert.equal(f.rejections.counts()['sync-unknown-origin-dropped'], 1);
    assert.match(String(f.lines.at(-1)!.msg), /table of held writes is full/);
  });

  it('an observer origin is refused, and corrected only when the observer itself sent it', async () => {
    const f = await fixture();
    // Automation's value: a person's would outrank the observer's write anyway (the next test).
    f.store.apply([{ path: '/a', value: 0.5 }], 'plugin:com.example.lfo');
    f.advance(1);
    f.deliver(O, O, [['/a', 0.9, { t: T0 - 10 }]]);
    assert.equal(f.rejections.counts()['sync-observer-write'], 1);
    assert.deepEqual(f.calls.corrections, [{ sender: id(O), path: '/a' }]);
    assert.equal(f.gate.counts.corrections, 1);
    const corrected = f.store.get('/a')!;
    assert.equal(corrected.value, 0.5, 'our value stands');
    assert.equal(corrected.source, 'sync:correction', 're-asserted under a fresh stamp');
    assert.equal(corrected.stamp.t, T0 + 1);
    // The same observer's write passed on by a performer: refused, and the relay is not "corrected".
    f.deliver(R, O, [['/a', 0.8, { t: T0 - 5 }]]);
    assert.equal(f.rejections.counts()['sync-observer-write'], 2);
    assert.equal(f.calls.corrections.length, 1);
    assert.equal(f.store.get('/a')!.value, 0.5);
    assert.equal(f.gate.counts.refused, 2);
  });

  it('ranks a correction as a person’s only when it answers a person’s write, never from our own value', async () => {
    const f = await fixture();
    f.store.apply([{ path: '/a', value: 0.5 }], 'cli');
    f.advance(1);
    // The observer's person moved a fader: the answer must outrank that move on the observer.
    f.deliver(O, O, [['/a', 0.9, { t: T0 - 10 }, true]]);
    assert.equal(f.store.get('/a')!.source, 'sync:correction');
    assert.equal(f.store.get('/a')!.human, true);
    assert.equal(f.gate.counts.corrections, 1);
    // An unmarked write against a person's value here: never a person's answer, or a refused
    // writer could renew a person's lead (holding every laptop's plugins off) as often as it
    // liked. Here the person's value already outranks the write on every laptop, the observer's
    // too: nothing is re-asserted, and nothing counted.
    f.store.apply([{ path: '/tempo', value: 100 }], 'cli');
    f.advance(1);
    f.deliver(O, O, [['/tempo', 130, { t: T0 - 10, c: 1 }]]);
    assert.equal(f.store.get('/tempo')!.source, 'cli', 'the person’s value stands as it was');
    assert.equal(f.gate.counts.corrections, 1);
    // Past the person's lead, the refused write would win on the observer: answered, as automation.
    f.advance(PERSON_LEAD_MS + 10);
    f.deliver(O, O, [['/tempo', 131, { t: T0 + PERSON_LEAD_MS + 5, c: 2 }]]);
    assert.equal(f.store.get('/tempo')!.source, 'sync:correction');
    assert.equal(f.store.get('/tempo')!.value, 100);
    assert.equal(f.store.get('/tempo')!.human, undefined, 'not as a person');
    assert.equal(f.gate.counts.corrections, 2);
  });

  it('a scoped performer writes inside its scope, through a relay too, and is refused (and corrected) outside it', async () => {
    const f = await fixture();
    f.deliver(S, S, [
      ['/layer/1/opacity', 0.4, { c: 0 }],
      ['/tempo', 90, { c: 1 }],
    ]);
    assert.equal(f.store.get('/layer/1/opacity')!.value, 0.4);
    assert.equal(f.store.get('/tempo')!.value, 120, 'the default stands');
    assert.equal(f.rejections.counts()['sync-out-of-scope'], 1);
    assert.deepEqual(f.calls.corrections, [{ sender: id(S), path: '/tempo' }]);
    f.deliver(R, S, [
      ['/layer/1/opacity', 0.6, { t: T0 - 500 }],
      ['/tempo', 91, { t: T0 - 500 }],
    ]);
    assert.equal(f.store.get('/layer/1/opacity')!.value, 0.6);
    assert.equal(f.store.get('/layer/1/opacity')!.source, `peer:${id(S)}:via:${id(R)}`);
    assert.equal(f.rejections.counts()['sync-out-of-scope'], 2);
    assert.equal(f.calls.corrections.length, 1, 'only the writer itself is answered');
  });
});

describe('sync gate: stamps from the future', () => {
  it('a stamp beyond maxDriftMs is refused on every path before anything observes it; the clock does not move', async () => {
    const f = await fixture();
    f.store.apply([{ path: '/tempo', value: 125 }], 'cli');
    const clock = f.hlc.peek();
    const before = f.view();
    const ahead = { t: T0 + MAX_DRIFT_MS + 1 };
    f.deliver(A, A, [['/a', 0.3, ahead]]); // a trusted performer
    f.deliver(O, O, [['/tempo', 60, ahead]]); // an observer (would be corrected)
    f.deliver(R, U, [['/a', 0.3, ahead]]); // an unknown origin (would be held)
    f.deliver(A, A, [['/not/declared', 1, ahead]]); // an undeclared path (would be kept aside)
    f.deliver(R, X, [['/master/blackout', true, ahead]]); // a blocked origin
    f.deliver(S, S, [['/tempo', 60, ahead]]); // out of scope (would be corrected)
    assert.deepEqual(f.hlc.peek(), clock, 'the local clock did not move');
    assert.deepEqual(f.view(), before);
    assert.equal(f.gate.counts.futureStamps, 6);
    assert.equal(f.rejections.counts()['sync-future-stamp'], 6);
    assert.equal(f.held.size, 0);
    assert.equal(f.foreign.size, 0);
    assert.deepEqual(f.calls.corrections, []);
    // The next local write is stamped now, not a minute from now (the beat-freeze attack).
    const next = f.store.apply([{ path: '/tempo', value: 126 }], 'cli')[0]!;
    assert.equal(next.stamp.t, T0);
    const line = f.lines.find((l) => l.reason === 'sync-future-stamp');
    assert.equal(line?.security, true);
    assert.match(String(line?.msg), /further ahead of this clock than sync.maxDriftMs/);
  });

  it('a stamp exactly at the bound is applied, and the clock follows it', async () => {
    const f = await fixture();
    f.deliver(A, A, [['/a', 0.3, { t: T0 + MAX_DRIFT_MS }]]);
    assert.equal(f.store.get('/a')!.value, 0.3);
    assert.equal(f.hlc.peek().t, T0 + MAX_DRIFT_MS);
    assert.equal(f.gate.counts.futureStamps, 0);
  });
});

describe('sync gate: equivocation', () => {
  const stamp = { t: T0 - 100, c: 3 };

  async function equivocate(order: [Value, Value], senders: [Identity, Identity]) {
    const f = await fixture();
    f.deliver(senders[0], A, [['/a', order[0], stamp]]);
    f.deliver(senders[1], A, [['/a', order[1], stamp]]);
    return f;
  }

  it('two values under one stamp are counted, reported once against the origin, and the same value wins in either order', async () => {
    const w1 = { stamp: { ...stamp, node: id(A) }, value: 0.25 };
    const w2 = { stamp: { ...stamp, node: id(A) }, value: 0.75 };
    const winner = compareWrites(w1, w2) > 0 ? w1.value : w2.value;
    const finals: Value[] = [];
    for (const [order, senders] of [
      [
        [0.25, 0.75],
        [A, R],
      ],
      [
        [0.75, 0.25],
        [R, A],
      ],
    ] as const) {
      const f = await equivocate([...order], [...senders]);
      assert.equal(f.gate.counts.equivocations, 1);
      assert.equal(f.calls.equivocations.length, 1);
      const e = f.calls.equivocations[0]!;
      assert.equal(e.origin, id(A), 'the origin is to blame, not the relay');
      assert.equal(e.path, '/a');
      assert.match(e.detail, /signed two values for \/a under one stamp/);
      assert.match(e.detail, /0\.25/);
      assert.match(e.detail, /0\.75/);
      finals.push(f.store.get('/a')!.value);
    }
    assert.deepEqual(finals, [winner, winner]);
  });

  it('the same write again (a duplicate, or another relay’s copy) is stale, not equivocation', async () => {
    const f = await fixture();
    f.deliver(A, A, [['/a', 0.25, stamp]]);
    f.deliver(R, A, [['/a', 0.25, stamp]]);
    assert.equal(f.gate.counts.equivocations, 0);
    assert.equal(f.gate.counts.stale, 1);
    assert.equal(f.gate.counts.applied, 1);
  });

  it('two values under one stamp for an undeclared path are caught as well', async () => {
    const f = await fixture();
    f.deliver(A, A, [['/theirs/only', 1, stamp]]);
    f.deliver(R, A, [['/theirs/only', 2, stamp]]);
    assert.equal(f.gate.counts.equivocations, 1);
    assert.equal(f.calls.equivocations[0]!.path, '/theirs/only');
  });
});

describe('sync gate: applying', () => {
  it('the audit source names the origin, and the relay after :via:', async () => {
    const f = await fixture();
    const direct = f.deliver(A, A, [['/a', 0.1, { t: T0 - 50 }]]);
    assert.equal(f.store.get('/a')!.source, `peer:${id(A)}`);
    const relayed = f.deliver(R, A, [['/tempo', 140, { t: T0 - 40 }]]);
    assert.equal(f.store.get('/tempo')!.source, `peer:${id(A)}:via:${id(R)}`);
    assert.deepEqual(
      f.calls.applied.map((a) => [a.path, a.batch]),
      [
        ['/a', direct],
        ['/tempo', relayed],
      ],
      'the origin’s signed batch is kept as the proof to pass on',
    );
  });

  it('reports a write its origin marks as a person’s once applied, never one held, stale or refused', async () => {
    const f = await fixture();
    f.deliver(A, A, [
      ['/a', 0.1, { t: T0 - 50 }, true],
      ['/b', 0.2, { t: T0 - 50 }],
    ]);
    f.deliver(R, A, [['/tempo', 140, { t: T0 - 40 }, true]]);
    assert.deepEqual(f.calls.human, ['/a', '/tempo'], 'marked entries, relayed or not; /b was a plugin’s');
    f.deliver(A, A, [['/a', 0.3, { t: T0 - 60 }, true]]);
    f.deliver(X, X, [['/a', 0.4, { t: T0 - 30 }, true]]);
    f.deliver(P, P, [['/a', 0.5, { t: T0 - 30 }, true]]);
    f.deliver(O, O, [['/a', 0.6, { t: T0 - 30 }, true]]);
    assert.deepEqual(
      f.calls.human,
      ['/a', '/tempo'],
      'stale, blocked, pending and observer writes hold nothing off',
    );
  });

  it('an older write is stale and changes nothing', async () => {
    const f = await fixture();
    f.deliver(A, A, [['/a', 0.1, { t: T0 - 50 }]]);
    const before = f.view();
    f.deliver(R, R, [['/a', 0.9, { t: T0 - 60 }]]);
    assert.deepEqual(f.view(), before);
    assert.equal(f.gate.counts.stale, 1);
  });

  it('a value that does not fit the declaration is refused (sync-invalid-value), the rest of the batch applied', async () => {
    const f = await fixture();
    f.deliver(A, A, [
      ['/a', 5, { c: 0 }],
      ['/master/blackout', 1, { c: 1 }],
      ['/tempo', 128, { c: 2 }],
    ]);
    assert.equal(f.rejections.counts()['sync-invalid-value'], 2);
    assert.equal(f.store.get('/a')!.value, 0);
    assert.equal(f.store.get('/master/blackout')!.value, false);
    assert.equal(f.store.get('/tempo')!.value, 128);
  });

  it('an undeclared path is kept aside, not applied; past the table’s bound it is dropped, and said so', async () => {
    const f = await fixture({ maxForeign: 1 });
    f.deliver(A, A, [
      ['/theirs/1', 1, { c: 0 }],
      ['/theirs/2', 2, { c: 1 }],
    ]);
    assert.equal(f.store.get('/theirs/1'), undefined);
    assert.equal(f.foreign.get('/theirs/1')?.value, 1);
    assert.equal(f.foreign.get('/theirs/2'), undefined);
    assert.deepEqual(
      f.calls.foreign.map((e) => e.path),
      ['/theirs/1'],
    );
    assert.equal(f.rejections.counts()['sync-unknown-path'], 1);
    assert.equal(f.rejections.counts()['sync-unknown-path-dropped'], 1);
  });

  it('keeps a person’s mark on an undeclared path’s entry, so the same writes in either order keep the same one', async () => {
    // A person's write, then a plugin's 500 ms later, from two performers, in both orders.
    const winners: unknown[] = [];
    for (const order of [
      ['person', 'plugin'],
      ['plugin', 'person'],
    ]) {
      const f = await fixture();
      for (const who of order) {
        if (who === 'person') f.deliver(A, A, [['/theirs/1', 1, { t: T0 - 1000 }, true]]);
        else f.deliver(S, S, [['/theirs/1', 2, { t: T0 - 500 }]]);
      }
      winners.push(f.foreign.get('/theirs/1')?.value);
      assert.equal(f.foreign.get('/theirs/1')?.human, true);
    }
    assert.deepEqual(winners, [1, 1], 'the person’s write, kept with its mark, in both orders');
  });

  it('an observer’s write to an undeclared path is refused, not kept aside', async () => {
    const f = await fixture();
    f.deliver(O, O, [['/theirs/1', 1, {}]]);
    f.deliver(R, X, [['/theirs/2', 1, {}]]);
    assert.equal(f.foreign.size, 0);
    assert.equal(f.rejections.counts()['sync-observer-write'], 1);
    assert.equal(f.rejections.counts()['sync-origin-blocked'], 1);
  });
});
