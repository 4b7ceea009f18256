import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import { SyncConfig } from '../../../daemon/config/sync-schema.ts';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { PERSON_LEAD_MS } from '../../../daemon/state/write-order.ts';
import { createSyncService, type SyncLinkHandle } from '../../../daemon/sync/service.ts';
import { createIdentity } from '../../../trust-store/identity.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';
import { mustOpen } from '../../trust-store/helpers.ts';

// Two sync services joined in memory: a write a person made on A (OSC, the CLI, the console)
// reaches B marked as a person's, so B's plugins give way to it (plugins/takeover.ts); a write
// A's plugin made, or B's own correction, does not. The mark travels inside A's signed batch,
// through updates and through the snapshot a late link pulls.

const log = pino({ level: 'silent' });
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-human-mark-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

type LaptopOpts = {
  /** How far this laptop's clock runs ahead of the shared fake one, ms (its stamps are later). */
  aheadMs?: number;
};

async function laptop(name: string, clock: ReturnType<typeof createFakeClock>, opts: LaptopOpts = {}) {
  const identity = await createIdentity();
  const registry = createRegistry(
    ParamMap.parse({
      '/layer/1/opacity': { type: 'float', min: 0, max: 1 },
      '/layer/2/opacity': { type: 'float', min: 0, max: 1 },
      '/layer/3/opacity': { type: 'float', min: 0, max: 1 },
    }),
  );
  const hlc = createHlc({ node: identity.deviceId, now: () => clock.now() + (opts.aheadMs ?? 0) });
  const store = createStore({ registry, hlc });
  const peers = await mustOpen(join(dir, `${name}-peers.json`));
  const human: string[] = [];
  const sync = createSyncService({
    identity: () => identity,
    config: SyncConfig.parse({}),
    registry,
    store,
    hlc,
    peers,
    rejections: createRejections({ log, security: securityLogger(log), intervalMs: 1000 }),
    log,
    now: clock.now,
    wall: clock.now,
    timers: clock.timers,
    onPeerHuman: (path) => human.push(path),
  });
  return { identity, store, peers, sync, human };
}

describe('a person’s write, marked by its origin', () => {
  it('reaches the peer marked (updates and snapshot alike); a plugin’s write does not', async () => {
    // Written before the link: it reaches B in the snapshot B pulls on link-up.
    const r = await linkedPair({}, {}, (a) => {
      a.store.apply([{ path: '/layer/3/opacity', value: 0.3 }], 'osc:udp:127.0.0.1:9000');
    });
    const { a, b } = r;
    try {
      assert.equal(b.store.get('/layer/3/opacity')?.value, 0.3);
      a.store.apply([{ path: '/layer/1/opacity', value: 0.5 }], 'cli');
      a.store.apply([{ path: '/layer/2/opacity', value: 0.7 }], 'plugin:hana.examples.lfo');
      await r.settle();
      assert.equal(b.store.get('/layer/1/opacity')?.value, 0.5);
      assert.equal(b.store.get('/layer/2/opacity')?.value, 0.7);
      assert.deepEqual(b.human.sort(), ['/layer/1/opacity', '/layer/3/opacity']);
      assert.deepEqual(a.human, [], 'B wrote nothing');
      b.store.apply([{ path: '/layer/2/opacity', value: 0.1 }], 'ui');
      await r.settle();
      assert.equal(a.store.get('/layer/2/opacity')?.value, 0.1);
      assert.deepEqual(a.human, ['/layer/2/opacity'], 'the console is a person too, either way');
    } finally {
      r.close();
    }
  });

  it('a person’s write that reaches a laptop after its plugin wrote (stamped later) still wins on both, as written', async () => {
    // A's performer and B's LFO write one parameter before either hears of the other; B's clock
    // runs 5 ms ahead, so by the stamps alone B's plugin wrote last. Before, the LFO's value won
    // on both laptops and the performer's move was lost (the takeover test, on a loaded machine).
    const r = await linkedPair({}, { aheadMs: 5 });
    try {
      r.a.store.apply([{ path: P, value: 0.25 }], 'osc:udp:127.0.0.1:9000');
      r.b.store.apply([{ path: P, value: 0.7 }], 'plugin:hana.examples.lfo');
      await r.settle();
      assert.equal(r.a.store.get(P)?.value, 0.25, 'A keeps the person’s value');
      assert.equal(r.b.store.get(P)?.value, 0.25, 'B takes it over its plugin’s later write');
      // The origin's own write, not one made again on its behalf: B holds A's stamp and mark.
      assert.deepEqual(r.b.store.get(P)?.stamp, r.a.store.get(P)?.stamp);
      assert.equal(r.b.store.get(P)?.source, `peer:${r.a.identity.deviceId}`);
      assert.equal(r.b.store.get(P)?.human, true);
      assert.ok(r.b.human.includes(P), 'and B’s plugins are told to give way');
    } finally {
      r.close();
    }
  });

  it('a fader’s later steps are not lost to the first one (a plugin wrote between them)', async () => {
    // A guard more than a reproduction: it passes on stamps alone, and failed with the re-write
    // on the person's behalf that the rank replaced (that re-stamped the first step above the rest).
    const r = await linkedPair({}, { aheadMs: 5 });
    try {
      r.a.store.apply([{ path: P, value: 0.1 }], 'osc:udp:127.0.0.1:9000');
      r.b.store.apply([{ path: P, value: 0.7 }], 'plugin:hana.examples.lfo');
      await r.clock.advance(20);
      r.a.store.apply([{ path: P, value: 0.2 }], 'osc:udp:127.0.0.1:9000');
      r.a.store.apply([{ path: P, value: 0.3 }], 'osc:udp:127.0.0.1:9000');
      await r.settle();
      assert.equal(r.a.store.get(P)?.value, 0.3);
      assert.equal(r.b.store.get(P)?.value, 0.3, 'the last step wins on B too');
    } finally {
      r.close();
    }
  });

  it('plugins write again after the lead; between two people, and between two plugins, the later stamp wins', async () => {
    const late = await linkedPair({}, { aheadMs: PERSON_LEAD_MS + 50 });
    try {
      late.a.store.apply([{ path: P, value: 0.25 }], 'osc:udp:127.0.0.1:9000');
      late.b.store.apply([{ path: P, value: 0.7 }], 'plugin:hana.examples.lfo');
      await late.settle();
      assert.equal(late.a.store.get(P)?.value, 0.7, `a plugin write stamped ${PERSON_LEAD_MS + 50} ms after`);
      assert.equal(late.b.store.get(P)?.value, 0.7);
    } finally {
      late.close();
    }
    const people = await linkedPair({}, { aheadMs: 5 });
    try {
      people.a.store.apply([{ path: P, value: 0.25 }], 'osc:udp:127.0.0.1:9000');
      people.b.store.apply([{ path: P, value: 0.7 }], 'ui');
      await people.settle();
      assert.equal(people.a.store.get(P)?.value, 0.7, 'the later person wins');
      assert.equal(people.b.store.get(P)?.value, 0.7);
    } finally {
      people.close();
    }
    const plugins = await linkedPair({}, { aheadMs: 5 });
    try {
      plugins.a.store.apply([{ path: P, value: 0.25 }], 'plugin:hana.examples.lfo');
      plugins.b.store.apply([{ path: P, value: 0.7 }], 'plugin:hana.examples.lfo');
      await plugins.settle();
      assert.equal(plugins.a.store.get(P)?.value, 0.7, 'the later plugin write wins');
      assert.equal(plugins.b.store.get(P)?.value, 0.7);
    } finally {
      plugins.close();
    }
  });
});

const P = '/layer/2/opacity';
let pairs = 0;

type Laptop = Awaited<ReturnType<typeof laptop>>;

/** Two laptops pinned as performers to each other and linked in memory, settled; `beforeLink` writes first. */
async function linkedPair(aOpts: LaptopOpts, bOpts: LaptopOpts, beforeLink?: (a: Laptop, b: Laptop) => void) {
  const clock = createFakeClock();
  pairs++;
  const a = await laptop(`pa${pairs}`, clock, aOpts);
  const b = await laptop(`pb${pairs}`, clock, bOpts);
  await a.peers.pin({ id: b.identity.deviceId, name: 'b', state: 'trusted', role: 'performer' });
  await b.peers.pin({ id: a.identity.deviceId, name: 'a', state: 'trusted', role: 'performer' });
  beforeLink?.(a, b);
  let toA: SyncLinkHandle | undefined;
  let toB: SyncLinkHandle | undefined;
  toB = b.sync.attach(
    a.identity.deviceId,
    (bytes) => queueMicrotask(() => toA?.receive(bytes)),
    a.identity.certDer,
  );
  toA = a.sync.attach(
    b.identity.deviceId,
    (bytes) => queueMicrotask(() => toB?.receive(bytes)),
    b.identity.certDer,
  );
  const settle = async () => {
    const turn = () => new Promise<void>((r) => setImmediate(r));
    for (let i = 0; i < 50; i++) {
      await clock.advance(20, turn);
      await turn();
    }
  };
  await settle();
  return {
    a,
    b,
    clock,
    settle,
    close() {
      toA?.close();
      toB?.close();
      a.sync.close();
      b.sync.close();
    },
  };
}
