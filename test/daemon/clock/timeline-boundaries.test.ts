import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeTimeline, TIMELINE_PATH, timelineParam } from '../../../daemon/clock/timeline-register.ts';
import { MidiMapping } from '../../../daemon/config/midi-schema.ts';
import { DEFAULT_PARAMS, ParamMap } from '../../../daemon/config/params-schema.ts';
import { stateHandlers } from '../../../daemon/control/handlers.ts';
import { createOscFeedback } from '../../../daemon/feedback/osc-feedback.ts';
import { createOscIngest, type IngestSource } from '../../../daemon/ingest/osc-ingest.ts';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { createSourceFilter } from '../../../daemon/ingest/source-filter.ts';
import { createRateLimiter } from '../../../daemon/ingest/token-bucket.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { compileMapping } from '../../../daemon/midi/mapping.ts';
import { checkStoredValue } from '../../../daemon/persist/stored-value.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { encodeOscPacket, oscMessage } from '../../../protocols/osc/codec.ts';
import type { OscPacket } from '../../../protocols/osc/types.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { waitFor } from '../../helpers/wait.ts';
import { T0 } from './arbitraries.ts';

// The timeline is hana's own value: stored and replicated, never written by a local input.
// Each test below is an attacker on this laptop (an OSC sender in osc.allow, a config, a MIDI
// mapping, a crafted scene, `hana set`) trying to write or declare /hana/timeline.

const FORGED = encodeTimeline({ tempo: 999, beatOrigin: -1e9, timeOrigin: 0 });

function setup() {
  const registry = createRegistry(DEFAULT_PARAMS, { [TIMELINE_PATH]: timelineParam });
  const store = createStore({ registry: registry.stored, hlc: createHlc({ node: 'SELF', now: () => T0 }) });
  return { registry, store };
}

describe('the registry keeps hana’s own values from local inputs', () => {
  it('declares the timeline only in the stored view', () => {
    const { registry } = setup();
    assert.equal(registry.get(TIMELINE_PATH), undefined);
    assert.ok(!registry.paths.includes(TIMELINE_PATH));
    assert.deepEqual(registry.paths, createRegistry(DEFAULT_PARAMS).paths);
    assert.deepEqual(registry.stored.get(TIMELINE_PATH), timelineParam);
    assert.ok(registry.stored.paths.includes(TIMELINE_PATH));
    assert.equal(registry.stored.stored, registry.stored);
    for (const pattern of [
      '/hana/timeline',
      '/h?na/timeline',
      '/*/timeline',
      '//timeline',
      '//*',
      '/hana/*',
    ]) {
      const r = registry.resolve(pattern);
      assert.ok(r.ok && !r.paths.includes(TIMELINE_PATH), pattern);
    }
  });

  it('a registry without internal values is its own stored view', () => {
    const plain = createRegistry(DEFAULT_PARAMS);
    assert.equal(plain.stored, plain);
  });

  it('refuses an internal value outside /hana/ or over an operator parameter (a bug, thrown)', () => {
    assert.throws(
      () => createRegistry(DEFAULT_PARAMS, { '/tl': timelineParam }),
      /not a free path under \/hana\//,
    );
    assert.throws(
      () =>
        createRegistry(
          { ...DEFAULT_PARAMS, '/hana/timeline': timelineParam },
          { '/hana/timeline': timelineParam },
        ),
      /not a free path/,
    );
  });
});

describe('a config cannot declare /hana/…', () => {
  it('refuses /hana and anything under it, saying why', () => {
    for (const path of ['/hana/timeline', '/hana', '/hana/x/y']) {
      const r = ParamMap.safeParse({ [path]: { type: 'string' } });
      assert.equal(r.success, false, path);
      assert.match(r.error!.issues[0]!.message, /\/hana\/… is reserved for hana itself/);
    }
    assert.ok(ParamMap.safeParse({ '/hanami': { type: 'string' } }).success, 'only the /hana/ prefix');
  });
});

describe('local writers cannot write the timeline', () => {
  it('OSC: the address and every pattern that would match it write nothing', async () => {
    const { registry, store } = setup();
    const { log } = captureLogger();
    const rejections = createRejections({ log, security: securityLogger(log), intervalMs: 0 });
    const controls: string[] = [];
    const ingest = createOscIngest({
      registry,
      store,
      rejections,
      filter: createSourceFilter([]),
      limiter: createRateLimiter({ ratePerSecond: 1000, burst: 100 }),
      limits: { maxBytes: 8192, maxDepth: 4, maxScheduled: 8, maxScheduleAheadMs: 60_000 },
      onControl: (msg) => {
        controls.push(msg.address);
        return { reason: 'unknown-address', message: `${msg.address} is not a control` };
      },
    });
    const from: IngestSource = { transport: 'udp', address: '127.0.0.1', port: 5000 };
    const s = { type: 's', value: FORGED } as const;
    const packets: OscPacket[] = [
      oscMessage('/hana/timeline', [s]),
      oscMessage('/h?na/timeline', [s]),
      oscMessage('/*/timeline', [s]),
      oscMessage('//timeline', [s]),
      oscMessage('/{hana,x}/timeline', [s]),
      { kind: 'bundle', timetag: { seconds: 0, fraction: 1 }, elements: [oscMessage('/h*/t*', [s])] },
    ];
    for (const p of packets) ingest.handle(encodeOscPacket(p), from);
    // Ingest runs queued work on later turns of the event loop (its fair queue, which gives work a
    // share of the time): let it finish, bounded by time since a loaded machine needs more turns.
    await waitFor(() => (rejections.counts()['unknown-address'] ?? 0) >= packets.length);
    assert.equal(store.get(TIMELINE_PATH)!.value, '', 'still never written');
    assert.deepEqual(controls, ['/hana/timeline'], 'the literal address is a control, refused there');
    assert.equal(rejections.counts()['unknown-address'], packets.length);
    ingest.close();
  });

  it('hana set and hana get: not a declared parameter', () => {
    const { registry, store } = setup();
    const h = stateHandlers(registry, store);
    const ctx = { emit: () => {}, closed: new Promise<void>(() => {}) };
    assert.throws(() => h.set!({ path: TIMELINE_PATH, words: [FORGED] }, ctx), /is not a declared parameter/);
    assert.throws(() => h.get!({ pattern: '/hana/*' }, ctx), /no declared parameter matches/);
    const listed = h.params!({}, ctx) as { params: { path: string }[] };
    assert.ok(!listed.params.some((p) => p.path === TIMELINE_PATH));
    assert.equal(store.get(TIMELINE_PATH)!.value, '');
  });

  it('MIDI: a mapping to the timeline does not compile', () => {
    const { registry } = setup();
    const m = MidiMapping.parse({ control: 'cc', number: 1, path: TIMELINE_PATH });
    const r = compileMapping(m, 'config:1', 'config', registry);
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, /\/hana\/timeline is not a declared parameter/);
  });

  it('a crafted scene file holding the timeline is skipped at load', () => {
    const { registry } = setup();
    const r = checkStoredValue(registry, TIMELINE_PATH, FORGED);
    assert.deepEqual(r.ok, false);
    assert.equal((r as { code: string }).code, 'undeclared');
  });
});

describe('OSC feedback and the timeline', () => {
  it('neither crashes on nor sends a timeline change, and a subscriber snapshot leaves it out', () => {
    const { registry, store } = setup();
    const sent: Uint8Array[] = [];
    const errors: unknown[] = [];
    const guarded = createStore({
      registry: registry.stored,
      hlc: createHlc({ node: 'SELF', now: () => T0 }),
      onSubscriberError: (err) => errors.push(err),
    });
    for (const st of [store, guarded]) {
      const fb = createOscFeedback({
        registry,
        store: st,
        targets: [{ address: '127.0.0.1', port: 9000 }],
        subscribe: { enabled: true, max: 4, ttlMs: 60_000 },
        sendUdp: (bytes) => sent.push(bytes),
      });
      st.apply(
        [
          { path: TIMELINE_PATH, value: FORGED },
          { path: '/tempo', value: 100 },
        ],
        'timeline',
      );
      const conn = { id: 1, send: (b: Uint8Array) => sent.push(b) > 0 };
      const r = fb.onControl(oscMessage('/hana/subscribe', []), {
        transport: 'tcp',
        address: '127.0.0.1',
        port: 5555,
        conn,
      });
      assert.equal(r, null);
      fb.close();
    }
    assert.deepEqual(errors, []);
    const text = sent.map((b) => Buffer.from(b).toString('latin1'));
    assert.ok(
      text.some((t) => t.startsWith('/tempo')),
      'the /tempo change went out',
    );
    assert.ok(!text.some((t) => t.includes('/hana/timeline')), 'the timeline never did');
  });
});
