import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OscFairness } from '../../../daemon/config/osc-schema.ts';
import { DEFAULT_PARAMS, type ParamMap } from '../../../daemon/config/params-schema.ts';
import {
  createOscIngest,
  type IngestFairness,
  type IngestSource,
  packetCost,
} from '../../../daemon/ingest/osc-ingest.ts';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { createSourceFilter } from '../../../daemon/ingest/source-filter.ts';
import { createRateLimiter } from '../../../daemon/ingest/token-bucket.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { type Change, createStore } from '../../../daemon/state/store.ts';
import { encodeOscPacket, IMMEDIATE, oscMessage } from '../../../protocols/osc/codec.ts';
import { msToTimetag } from '../../../protocols/osc/timetag.ts';
import type { OscArg, OscPacket } from '../../../protocols/osc/types.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// The ingest pipeline with a fake clock and a fake scheduler: every time-dependent rule
// (time tags, rate limits, log suppression) is checked deterministically.

const f = (value: number): OscArg => ({ type: 'f', value });
const LOCAL: IngestSource = { transport: 'udp', address: '127.0.0.1', port: 5000 };

type SetupOptions = {
  allow?: string[];
  rate?: number;
  burst?: number;
  maxScheduled?: number;
  params?: ParamMap;
  fairness?: Partial<IngestFairness>;
};

function setup(opts: SetupOptions = {}) {
  let clock = 1_700_000_000_000;
  const timers: { due: number; fn: () => void; cancelled: boolean }[] = [];
  const { log, lines } = captureLogger();
  const registry = createRegistry(opts.params ?? DEFAULT_PARAMS);
  // The event loop, by hand: what the fair queue defers runs when the test says a turn passed.
  const deferred: (() => void)[] = [];
  const settle = () => {
    for (let i = 0; i < 100_000 && deferred.length > 0; i++) for (const fn of deferred.splice(0)) fn();
  };
  const store = createStore({ registry, hlc: createHlc({ node: 'n1', now: () => clock }) });
  const batches: (readonly Change[])[] = [];
  store.subscribe((c) => batches.push(c));
  const rejections = createRejections({
    log,
    security: securityLogger(log),
    intervalMs: 10_000,
    now: () => clock,
  });
  const controls: string[] = [];
  const echoes: { port: number; writes: [string, unknown][] }[] = [];
  const ingest = createOscIngest({
    registry,
    store,
    rejections,
    filter: createSourceFilter(opts.allow ?? []),
    limiter: createRateLimiter({
      ratePerSecond: opts.rate ?? 1000,
      burst: opts.burst ?? 100,
      now: () => clock,
    }),
    limits: { maxBytes: 8192, maxDepth: 4, maxScheduled: opts.maxScheduled ?? 8, maxScheduleAheadMs: 60_000 },
    onControl: (msg) => {
      controls.push(msg.address);
      return null;
    },
    onCoerced: (from, writes) =>
      echoes.push({ port: from.port, writes: writes.map((w) => [w.path, w.value]) }),
    fairness: { ...OscFairness.parse({}), ...opts.fairness },
    defer: (fn) => deferred.push(fn),
    clock: () => clock,
    now: () => clock,
    schedule: (delay, fn) => {
      const t = { due: clock + delay, fn, cancelled: false };
      timers.push(t);
      return () => {
        t.cancelled = true;
      };
    },
  });
  /** Hands a packet to ingest as a datagram would, then lets the event loop turn. */
  const send = (p: OscPacket | Uint8Array, from = LOCAL) => {
    ingest.handle(p instanceof Uint8Array ? p : encodeOscPacket(p), from);
    settle();
  };
  const advance = (ms: number) => {
    clock += ms;
    for (const t of timers.splice(0)) {
      if (t.cancelled) continue;
      if (t.due <= clock) t.fn();
      else timers.push(t);
    }
    settle();
  };
  const value = (path: string) => store.get(path)?.value;
  return {
    ingest,
    store,
    rejections,
    lines,
    batches,
    controls,
    echoes,
    send,
    advance,
    value,
    now: () => clock,
    deferred,
    settle,
  };
}

describe('osc ingest', () => {
  it('applies a message and attributes it to its source', () => {
    const s = setup();
    s.send(oscMessage('/layer/1/opacity', [f(0.5)]));
    assert.equal(s.value('/layer/1/opacity'), 0.5);
    assert.equal(s.store.get('/layer/1/opacity')?.source, 'osc:udp:127.0.0.1:5000');
    assert.deepEqual(s.ingest.stats(), {
      packets: 1,
      messages: 1,
      writes: 1,
      scheduled: 0,
      queuedUnits: 0,
      queuedSources: 0,
      maxWaitUnits: 0,
    });
  });

  it('applies a pattern to every matching parameter in one batch', () => {
    const s = setup();
    s.send(oscMessage('/layer/[1-3]/hue', [f(90)]));
    assert.deepEqual(
      [1, 2, 3, 4].map((i) => s.value(`/layer/${i}/hue`)),
      [90, 90, 90, 0],
    );
    assert.equal(s.batches.length, 1);
    assert.equal(s.batches[0]!.length, 3);
  });

  it('rejects a whole bundle when one element is invalid, applying nothing', () => {
    const s = setup();
    s.send({
      kind: 'bundle',
      timetag: IMMEDIATE,
      elements: [
        oscMessage('/layer/1/opacity', [f(0.2)]),
        oscMessage('/tempo', [{ type: 's', value: 'fast' }]),
      ],
    });
    assert.equal(s.value('/layer/1/opacity'), 1);
    assert.deepEqual(s.rejections.counts(), { 'wrong-type': 1 });
    assert.equal(s.batches.length, 0);
    assert.match(String(s.lines.at(-1)?.msg), /bundle rejected: \/tempo/);
  });

  it('rejects a pattern when any parameter it matches rejects the value', () => {
    const s = setup();
    // /tempo rejects out of range, /scene too: 5000 fits neither.
    s.send(oscMessage('/{tempo,scene}', [{ type: 'i', value: 5000 }]));
    assert.equal(s.value('/tempo'), 120);
    assert.deepEqual(s.rejections.counts(), { 'out-of-range': 1 });
  });

  it('clamps per parameter policy and applies', () => {
    const s = setup();
    s.send(oscMessage('/master/opacity', [f(7)]));
    assert.equal(s.value('/master/opacity'), 1);
    s.send(oscMessage('/master/opacity', [f(-1)]));
    assert.equal(s.value('/master/opacity'), 0);
  });

  it('holds a future bundle until its time tag, then applies it atomically', () => {
    const s = setup();
    const at = s.now() + 500;
    s.send({
      kind: 'bundle',
      timetag: msToTimetag(at),
      elements: [oscMessage('/layer/1/opacity', [f(0.125)]), oscMessage('/layer/2/opacity', [f(0.25)])],
    });
    assert.equal(s.value('/layer/1/opacity'), 1);
    assert.equal(s.ingest.stats().scheduled, 1);
    s.advance(499);
    assert.equal(s.value('/layer/1/opacity'), 1);
    s.advance(1);
    assert.equal(s.value('/layer/1/opacity'), 0.125);
    assert.equal(s.value('/layer/2/opacity'), 0.25);
    assert.equal(s.batches.length, 1, 'both writes arrive in one notification');
    assert.equal(s.ingest.stats().scheduled, 0);
  });

  it('applies a past time tag immediately, and a nested bundle never before its parent', () => {
    const s = setup();
    s.send({
      kind: 'bundle',
      timetag: msToTimetag(s.now() - 1000),
      elements: [oscMessage('/scene', [{ type: 'i', value: 3 }])],
    });
    assert.equal(s.value('/scene'), 3);
    s.send({
      kind: 'bundle',
      timetag: msToTimetag(s.now() + 300),
      elements: [
        {
          kind: 'bundle',
          timetag: msToTimetag(s.now() + 100),
          elements: [oscMessage('/scene', [{ type: 'i', value: 4 }])],
        },
      ],
    });
    s.advance(100);
    assert.equal(s.value('/scene'), 3, 'the inner time tag is earlier than its parent: the parent wins');
    s.advance(200);
    assert.equal(s.value('/scene'), 4);
  });

  it('refuses bundles too far ahead and more scheduled bundles than the limit', () => {
    const s = setup({ maxScheduled: 2 });
    s.send({
      kind: 'bundle',
      timetag: msToTimetag(s.now() + 120_000),
      elements: [oscMessage('/scene', [{ type: 'i', value: 1 }])],
    });
    for (let i = 0; i < 3; i++) {
      s.send({
        kind: 'bundle',
        timetag: msToTimetag(s.now() + 1000),
        elements: [oscMessage('/scene', [{ type: 'i', value: 9 }])],
      });
    }
    assert.deepEqual(s.rejections.counts(), { 'schedule-full': 1, 'too-far-ahead': 1 });
    assert.equal(s.ingest.stats().scheduled, 2);
    s.ingest.close();
    s.advance(2000);
    assert.equal(s.value('/scene'), 0, 'close() cancels what was scheduled');
  });

  it('drops sources outside the allowlist before decoding, as a security event', () => {
    const s = setup({ allow: ['10.0.0.0/8'] });
    s.send(oscMessage('/scene', [{ type: 'i', value: 5 }]), {
      transport: 'udp',
      address: '192.168.1.9',
      port: 1,
    });
    s.send(new Uint8Array([1, 2, 3]), { transport: 'udp', address: '192.168.1.9', port: 1 });
    s.send(oscMessage('/scene', [{ type: 'i', value: 6 }]), {
      transport: 'udp',
      address: '10.1.2.3',
      port: 1,
    });
    assert.equal(s.value('/scene'), 6);
    for (const address of ['127.9.9.9', '::1', '::ffff:127.0.0.1']) {
      s.send(oscMessage('/scene', [{ type: 'i', value: 7 }]), { transport: 'udp', address, port: 1 });
    }
    assert.equal(s.value('/scene'), 7, 'loopback in every spelling is allowed');
    s.send(oscMessage('/scene', [{ type: 'i', value: 8 }]), {
      transport: 'udp',
      address: '::ffff:192.168.1.9',
      port: 1,
    });
    assert.equal(s.value('/scene'), 7);
    assert.deepEqual(s.rejections.counts(), { 'not-allowed': 3 });
    const sec = s.lines.filter((l) => l.security === true);
    assert.equal(sec.length, 2, 'one log line for two drops from one source, one for the other');
    assert.equal(sec[0]!.reason, 'not-allowed');
  });

  it('rate-limits per source: a flooding source does not starve another', () => {
    const s = setup({ rate: 100, burst: 10 });
    const flooder: IngestSource = { transport: 'udp', address: '127.0.0.2', port: 1 };
    const polite: IngestSource = { transport: 'udp', address: '127.0.0.3', port: 1 };
    for (let i = 0; i < 1000; i++) s.send(oscMessage('/layer/1/hue', [f(i % 360)]), flooder);
    s.send(oscMessage('/layer/2/hue', [f(42)]), polite);
    assert.equal(s.value('/layer/2/hue'), 42);
    assert.equal(s.rejections.counts().flood, 990);
    // Tokens refill with time: 100/s means 10 more after 100 ms.
    s.advance(100);
    for (let i = 0; i < 20; i++) s.send(oscMessage('/layer/1/hue', [f(1)]), flooder);
    assert.equal(s.rejections.counts().flood, 1000);
    const floodLines = s.lines.filter((l) => l.reason === 'flood');
    assert.equal(floodLines.length, 1, 'a flood is one log line per interval, not one per packet');
    s.advance(10_000);
    s.send(oscMessage('/layer/1/hue', [f(1)]), flooder);
    for (let i = 0; i < 20; i++) s.send(oscMessage('/layer/1/hue', [f(1)]), flooder);
    const next = s.lines.filter((l) => l.reason === 'flood').at(-1)!;
    assert.equal(next.suppressed, 999, 'the next line says how many were suppressed');
  });

  it('counts malformed packets by reason and keeps going', () => {
    const s = setup();
    s.send(new Uint8Array([0x2f, 0x61, 0x62, 0x63])); // "/abc" without NUL
    s.send(new Uint8Array(9000));
    s.send(oscMessage('/nope', [f(1)]));
    s.send(oscMessage('/layer/[1', [f(1)]));
    s.send(oscMessage('/scene', [f(1.5)]));
    s.send(
      oscMessage('/scene', [
        { type: 'i', value: 1 },
        { type: 'i', value: 2 },
      ]),
    );
    s.send(oscMessage('/layer/1/opacity', [{ type: 'd', value: Number.NaN }]));
    assert.deepEqual(s.rejections.counts(), {
      'bad-pattern': 1,
      'not-finite': 1,
      oversize: 1,
      'unknown-address': 1,
      'unterminated-string': 1,
      'wrong-arity': 1,
      'wrong-type': 1,
    });
    s.send(oscMessage('/scene', [{ type: 'i', value: 2 }]));
    assert.equal(s.value('/scene'), 2);
  });

  it('treats a trigger release (0 or F) as valid input that fires nothing', () => {
    const s = setup();
    s.send(oscMessage('/strobe', [f(1)]));
    s.send(oscMessage('/strobe', [f(0)]));
    s.send(oscMessage('/strobe', [{ type: 'F', value: false }]));
    s.send(oscMessage('/strobe', []));
    assert.equal(s.batches.length, 2);
    assert.equal(s.rejections.total(), 0);
  });

  it('passes /hana/ control messages to the control handler', () => {
    const s = setup();
    s.send(oscMessage('/hana/subscribe', [{ type: 'i', value: 9000 }]));
    assert.deepEqual(s.controls, ['/hana/subscribe']);
  });
});

/** 2,000 float parameters /p/0 … /p/1999 plus one fader: a fan-out pattern's target. */
function wideParams(): ParamMap {
  const params: ParamMap = {
    '/fader': { type: 'float', min: 0, max: 1000, default: 0, outOfRange: 'clamp' },
  };
  for (let i = 0; i < 2000; i++) {
    params[`/p/${i}`] = { type: 'float', min: 0, max: 1, default: 0, outOfRange: 'clamp' };
  }
  return params;
}

const fanOut = (v: number) => encodeOscPacket(oscMessage('/p/*', [f(v)]));
const port = (n: number): IngestSource => ({ transport: 'udp', address: '127.0.0.1', port: n });

describe('osc ingest: cost-aware, fair limits', () => {
  it('charges a fan-out packet for every parameter it sets: 24 bytes setting 2,000 cost 2,000 units', () => {
    assert.ok(fanOut(1).length <= 24, `the attack packet is ${fanOut(1).length} bytes`);
    // A bucket that does not refill while the test runs (time stands still): 5,000 units.
    const s = setup({ params: wideParams(), rate: 1, burst: 5000 });
    s.send(fanOut(0.25));
    s.send(fanOut(0.5));
    assert.equal(s.value('/p/1999'), 0.5);
    assert.equal(s.ingest.stats().writes, 4000);
    s.send(fanOut(0.75)); // 1,000 units left: refused
    assert.equal(s.value('/p/0'), 0.5);
    assert.deepEqual(s.rejections.counts(), { flood: 1 });
    s.send(oscMessage('/fader', [f(3)])); // one unit still fits
    assert.equal(s.value('/fader'), 3);
    s.send(fanOut(0.75), port(6000)); // another app on this machine: its own bucket
    assert.equal(s.value('/p/0'), 0.75);
    const line = s.lines.find((l) => l.reason === 'flood')!;
    assert.equal(line.security, true);
    assert.equal(line.port, 5000, 'the log line names the port of the source');
  });

  it('counts a packet as the sum of its elements, a pattern as the parameters it matches', () => {
    const registry = createRegistry(DEFAULT_PARAMS);
    const bundle: OscPacket = {
      kind: 'bundle',
      timetag: IMMEDIATE,
      elements: [
        oscMessage('/layer/*/hue', [f(1)]),
        oscMessage('/master/opacity', [f(1)]),
        {
          kind: 'bundle',
          timetag: IMMEDIATE,
          elements: [oscMessage('/strobe'), oscMessage('/hana/subscribe')],
        },
        oscMessage('/nothing/here', [f(1)]),
      ],
    };
    assert.equal(packetCost(bundle, registry), 4 + 1 + 1 + 1 + 1);
    const s = setup({ burst: 10, rate: 1 });
    s.send(oscMessage('/layer/*/hue', [f(10)])); // 4
    s.send(oscMessage('/layer/*/hue', [f(20)])); // 8
    s.send(oscMessage('/layer/*/hue', [f(30)])); // would be 12
    assert.equal(s.value('/layer/1/hue'), 20);
    assert.deepEqual(s.rejections.counts(), { flood: 1 });
  });

  it('refuses a packet costing more than the burst as too-costly, applying nothing', () => {
    const s = setup({ params: wideParams(), rate: 1, burst: 1000 });
    s.send(fanOut(0.5));
    assert.equal(s.value('/p/7'), 0);
    assert.deepEqual(s.rejections.counts(), { 'too-costly': 1 });
    assert.match(
      String(s.lines.at(-1)?.msg),
      /setting 2000 parameters is more than osc\.rateLimit\.burst \(1000\)/,
    );
    s.send(oscMessage('/p/7', [f(0.5)]));
    assert.equal(s.value('/p/7'), 0.5, 'only the first unit was taken');
  });

  it('gives each loopback port its own bucket, and each network address one whatever its ports', () => {
    const s = setup({ allow: ['10.0.0.0/8'], rate: 1, burst: 10 });
    const runaway = port(7000);
    const performer = port(7001);
    for (let i = 0; i < 50; i++) s.send(oscMessage('/layer/1/hue', [f(i)]), runaway);
    for (let i = 1; i <= 10; i++) s.send(oscMessage('/layer/2/hue', [f(i)]), performer);
    assert.equal(s.value('/layer/2/hue'), 10, 'every fader move of the performer applied');
    assert.equal(s.rejections.counts().flood, 40);
    const lan = (p: number): IngestSource => ({ transport: 'udp', address: '10.1.2.3', port: p });
    for (let p = 1; p <= 10; p++) s.send(oscMessage('/layer/3/hue', [f(p)]), lan(p));
    s.send(oscMessage('/layer/3/hue', [f(99)]), lan(11));
    assert.equal(s.value('/layer/3/hue'), 10, 'a new port from the network buys no new budget');
    assert.equal(s.rejections.counts().flood, 41);
  });

  it('a flooder at full rate and a performer: all 40 moves apply, in order, within the stated bound', () => {
    // The flooder has bucket enough (many ports, or a raised limit): only fairness protects the
    // performer. A small turn makes the flood queue up between the performer's moves.
    const s = setup({
      params: wideParams(),
      rate: 1e9,
      burst: 1e6,
      fairness: { unitsPerTurn: 4000, quantum: 256, maxQueuedUnits: 1_000_000 },
    });
    const applied: number[] = [];
    s.store.subscribe((changes) => {
      for (const c of changes) if (c.path === '/fader') applied.push(c.value as number);
    });
    const flooder = port(9000);
    const performer = port(9001);
    const handle = (p: Uint8Array, from: IngestSource) => s.ingest.handle(p, from);
    const turn = () => {
      for (const fn of s.deferred.splice(0)) fn();
    };
    for (let m = 1; m <= 40; m++) {
      // Ten fan-out packets (20,000 parameters) arrive with each move: far more than a turn runs.
      for (let i = 0; i < 10; i++) handle(fanOut((m % 2) * 0.5 + i / 100), flooder);
      handle(encodeOscPacket(oscMessage('/fader', [f(m)])), performer);
      turn();
    }
    assert.ok(s.ingest.stats().queuedUnits > 0, 'the flood is queued, not applied ahead of everyone');
    s.settle();
    assert.deepEqual(
      applied,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const bound = 256 + 2000 - 1;
    assert.ok(s.ingest.stats().maxWaitUnits <= bound, `${s.ingest.stats().maxWaitUnits} > ${bound}`);
    assert.ok(s.ingest.stats().maxWaitUnits > 0, 'the performer did wait behind the flood');
    assert.equal(s.ingest.stats().writes, 40 + 400 * 2000, 'nothing dropped with room to queue');
  });

  it('drops the biggest waiter as overload when the queue is full, and says so once', () => {
    const s = setup({
      params: wideParams(),
      rate: 1e9,
      burst: 1e6,
      fairness: { unitsPerTurn: 2000, maxQueuedUnits: 10_000 },
    });
    for (let i = 0; i < 20; i++) s.ingest.handle(fanOut(i / 100), port(9000));
    s.ingest.handle(encodeOscPacket(oscMessage('/fader', [f(7)])), port(9001));
    assert.equal(s.ingest.stats().queuedUnits, 10_000 - 2000 + 1, 'the fader got in, the flood gave way');
    s.settle();
    assert.equal(s.value('/fader'), 7);
    assert.ok((s.rejections.counts().overload ?? 0) > 0);
    assert.equal(
      s.lines.filter((l) => l.reason === 'overload').length,
      1,
      'one line per source and interval',
    );
  });
});

describe('OSC ingest: what the sender is told when hana stored something else', () => {
  it('reports a clamped value and a normalised colour after applying them, and nothing else', () => {
    const s = setup();
    s.send(oscMessage('/layer/1/hue', [{ type: 'i', value: 500 }]));
    s.send(oscMessage('/layer/1/hue', [{ type: 'i', value: 100 }]));
    s.send(oscMessage('/layer/1/color', [{ type: 's', value: '#00FF00' }]));
    s.send(oscMessage('/master/blackout', [{ type: 'i', value: 1 }]));
    assert.equal(s.value('/layer/1/hue'), 100);
    assert.deepEqual(s.echoes, [
      { port: 5000, writes: [['/layer/1/hue', 360]] },
      { port: 5000, writes: [['/layer/1/color', '#00ff00ff']] },
    ]);
  });

  it('a pattern reports each clamped path once, in one call; a refused bundle reports nothing', () => {
    const s = setup();
    s.send(oscMessage('/layer/*/hue', [{ type: 'f', value: -20 }]));
    assert.equal(s.echoes.length, 1);
    assert.deepEqual(
      s.echoes[0]!.writes.map(([, v]) => v),
      [0, 0, 0, 0],
    );
    s.send({
      kind: 'bundle',
      timetag: IMMEDIATE,
      elements: [oscMessage('/layer/1/hue', [{ type: 'i', value: 999 }]), oscMessage('/nope', [f(1)])],
    });
    assert.equal(s.echoes.length, 1, 'the bundle was refused whole');
    assert.equal(s.value('/layer/1/hue'), 0);
  });

  it('a time-tagged clamp is reported when it applies, not before', () => {
    const s = setup();
    s.send({
      kind: 'bundle',
      timetag: msToTimetag(s.now() + 500),
      elements: [oscMessage('/layer/2/hue', [{ type: 'i', value: 1000 }])],
    });
    assert.deepEqual(s.echoes, []);
    s.advance(600);
    assert.deepEqual(s.echoes, [{ port: 5000, writes: [['/layer/2/hue', 360]] }]);
  });
});
