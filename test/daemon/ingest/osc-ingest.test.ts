import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import { createOscIngest, type IngestSource } from '../../../daemon/ingest/osc-ingest.ts';
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

function setup(opts: { allow?: string[]; rate?: number; burst?: number; maxScheduled?: number } = {}) {
  let clock = 1_700_000_000_000;
  const timers: { due: number; fn: () => void; cancelled: boolean }[] = [];
  const { log, lines } = captureLogger();
  const registry = createRegistry(DEFAULT_PARAMS);
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
    now: () => clock,
    schedule: (delay, fn) => {
      const t = { due: clock + delay, fn, cancelled: false };
      timers.push(t);
      return () => {
        t.cancelled = true;
      };
    },
  });
  const send = (p: OscPacket | Uint8Array, from = LOCAL) =>
    ingest.handle(p instanceof Uint8Array ? p : encodeOscPacket(p), from);
  const advance = (ms: number) => {
    clock += ms;
    for (const t of timers.splice(0)) {
      if (t.cancelled) continue;
      if (t.due <= clock) t.fn();
      else timers.push(t);
    }
  };
  const value = (path: string) => store.get(path)?.value;
  return { ingest, store, rejections, lines, batches, controls, send, advance, value, now: () => clock };
}

describe('osc ingest', () => {
  it('applies a message and attributes it to its source', () => {
    const s = setup();
    s.send(oscMessage('/layer/1/opacity', [f(0.5)]));
    assert.equal(s.value('/layer/1/opacity'), 0.5);
    assert.equal(s.store.get('/layer/1/opacity')?.source, 'osc:udp:127.0.0.1:5000');
    assert.deepEqual(s.ingest.stats(), { packets: 1, messages: 1, writes: 1, scheduled: 0 });
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
    assert.deepEqual(s.rejections.counts(), { 'not-allowed': 2 });
    const sec = s.lines.filter((l) => l.security === true);
    assert.equal(sec.length, 1, 'one log line for two drops from one source');
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
