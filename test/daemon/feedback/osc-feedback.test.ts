import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import { parseFormat, valueToArgs } from '../../../daemon/feedback/feedback-format.ts';
import { createOscFeedback } from '../../../daemon/feedback/osc-feedback.ts';
import type { IngestSource } from '../../../daemon/ingest/osc-ingest.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { decodeOscPacket, oscMessage } from '../../../protocols/osc/codec.ts';
import type { OscArg, OscMessage } from '../../../protocols/osc/types.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// Feedback to subscribers with a real registry and store, on a fake clock: value types per
// subscription (Pure Data vanilla cannot read T/F), and subscriptions that end with a word.

const TTL = 600_000;
const APP: IngestSource = { transport: 'udp', address: '127.0.0.1', port: 5000 };
const OTHER = 'osc:udp:127.0.0.1:6000';

function setup() {
  const clock = createFakeClock();
  const { log, lines } = captureLogger();
  const registry = createRegistry(DEFAULT_PARAMS);
  const store = createStore({ registry, hlc: createHlc({ node: 'n1', now: clock.now }) });
  const sent: { to: string; msg: OscMessage }[] = [];
  const feedback = createOscFeedback({
    registry,
    store,
    targets: [],
    subscribe: { enabled: true, max: 4, ttlMs: TTL },
    sendUdp: (bytes, to) => {
      const r = decodeOscPacket(bytes, { maxBytes: 4096, maxDepth: 2 });
      assert.ok(r.ok && r.packet.kind === 'message');
      sent.push({ to: `${to.address}:${to.port}`, msg: r.packet });
    },
    log,
    now: clock.now,
    timers: clock.timers,
  });
  const subscribe = (...args: OscArg[]) => feedback.onControl(oscMessage('/hana/subscribe', args), APP);
  const last = (path: string) => sent.filter((s) => s.msg.address === path).at(-1)?.msg.args;
  return { clock, lines, store, sent, feedback, subscribe, last };
}

describe('OSC feedback value types', () => {
  it('by default: bools as T/F, colours as "#rrggbbaa" text', () => {
    const s = setup();
    assert.equal(s.subscribe({ type: 'i', value: 9000 }), null);
    s.store.apply([{ path: '/master/blackout', value: true }], OTHER);
    s.store.apply([{ path: '/layer/1/color', value: '#ff800040' }], OTHER);
    assert.deepEqual(s.last('/master/blackout'), [{ type: 'T', value: true }]);
    assert.deepEqual(s.last('/layer/1/color'), [{ type: 's', value: '#ff800040' }]);
    assert.equal(s.sent.at(-1)!.to, '127.0.0.1:9000');
  });

  it('"plain" (for Pd vanilla and Max): bools as i 0/1, colours as four floats 0-1, snapshot included', () => {
    const s = setup();
    s.store.apply([{ path: '/master/blackout', value: true }], OTHER);
    assert.equal(s.subscribe({ type: 'i', value: 9000 }, { type: 's', value: 'plain' }), null);
    assert.deepEqual(s.last('/master/blackout'), [{ type: 'i', value: 1 }], 'the snapshot is plain too');
    s.store.apply([{ path: '/master/blackout', value: false }], OTHER);
    assert.deepEqual(s.last('/master/blackout'), [{ type: 'i', value: 0 }]);
    s.store.apply([{ path: '/layer/1/color', value: '#ff000080' }], OTHER);
    const c = s.last('/layer/1/color')!;
    assert.deepEqual(
      c.map((a) => a.type),
      ['f', 'f', 'f', 'f'],
    );
    assert.deepEqual(
      c.map((a) => Math.round((a.value as number) * 255)),
      [255, 0, 0, 128],
    );
  });

  it('"color-r" sends the OSC r type; words combine and the port may be left out', () => {
    assert.deepEqual(valueToArgs('color', '#01020304', { bools: 'TF', colors: 'r' }), [
      { type: 'r', value: { r: 1, g: 2, b: 3, a: 4 } },
    ]);
    assert.deepEqual(parseFormat(['bools-int', 'color-r']), { format: { bools: 'int', colors: 'r' } });
    const s = setup();
    assert.equal(s.subscribe({ type: 's', value: 'bools-int' }), null);
    s.store.apply([{ path: '/master/blackout', value: true }], OTHER);
    assert.deepEqual(s.last('/master/blackout'), [{ type: 'i', value: 1 }]);
    assert.equal(s.sent.at(-1)!.to, '127.0.0.1:5000', 'to the port it sent from');
  });

  it('refuses an unknown option or a non-string one, naming what it takes, and subscribes nobody', () => {
    const s = setup();
    const bad = s.subscribe({ type: 'i', value: 9000 }, { type: 's', value: 'plian' });
    assert.equal(bad?.reason, 'out-of-range');
    assert.match(
      bad!.message,
      /unknown \/hana\/subscribe option "plian": takes plain, bools-int, color-floats, color-r/,
    );
    const wrong = s.subscribe({ type: 'i', value: 9000 }, { type: 'i', value: 1 });
    assert.equal(wrong?.reason, 'wrong-type');
    assert.equal(s.feedback.stats().subscribers, 0);
    assert.deepEqual(s.sent, []);
  });

  it('refuses /hana/subscribe over the OSCQuery WebSocket, pointing to LISTEN', () => {
    const s = setup();
    const r = s.feedback.onControl(oscMessage('/hana/subscribe', []), {
      transport: 'ws',
      address: '127.0.0.1',
      port: 50123,
    });
    assert.equal(r?.reason, 'unknown-address');
    assert.match(r!.message, /LISTEN/);
    assert.equal(s.feedback.stats().subscribers, 0);
  });

  it('a renewal with other words switches the format and resends the state in it', () => {
    const s = setup();
    s.subscribe({ type: 'i', value: 9000 });
    const before = s.sent.length;
    s.subscribe({ type: 'i', value: 9000 });
    assert.equal(s.sent.length, before, 'a plain renewal sends nothing');
    s.subscribe({ type: 'i', value: 9000 }, { type: 's', value: 'plain' });
    assert.ok(s.sent.length > before);
    assert.deepEqual(s.last('/master/blackout'), [{ type: 'i', value: 0 }]);
    assert.deepEqual(
      s.feedback.stats().subscriptions.map((x) => x.format),
      ['plain'],
    );
  });
});

describe('OSC feedback subscriptions end with a word', () => {
  it('warns once a fifth of the TTL before the end, logs the end, counts it, and shows ages meanwhile', async () => {
    const s = setup();
    s.subscribe({ type: 'i', value: 9000 });
    await s.clock.advance(120_000);
    assert.deepEqual(s.feedback.stats().subscriptions, [
      { to: 'udp 127.0.0.1:9000', ageS: 120, expiresInS: 480, format: '' },
    ]);
    await s.clock.advance(300_000);
    assert.equal(s.lines.filter((l) => l.event === 'osc.subscription-expiring').length, 0, 'not yet');
    await s.clock.advance(60_000);
    const warn = s.lines.filter((l) => l.event === 'osc.subscription-expiring');
    assert.equal(warn.length, 1);
    assert.match(
      String(warn[0]!.msg),
      /OSC feedback to udp 127\.0\.0\.1:9000 ends in \d+ s unless it renews/,
    );
    await s.clock.advance(60_000);
    assert.equal(s.lines.filter((l) => l.event === 'osc.subscription-expiring').length, 1, 'once');
    await s.clock.advance(60_000);
    const end = s.lines.filter((l) => l.event === 'osc.subscription-expired');
    assert.equal(end.length, 1);
    assert.match(String(end[0]!.msg), /stopped: not renewed within 600 s/);
    assert.equal(s.feedback.stats().subscribers, 0);
    assert.equal(s.feedback.stats().expired, 1);
    assert.equal(s.clock.pending(), 0, 'no sweep runs with nobody subscribed');
    const count = s.sent.length;
    s.store.apply([{ path: '/scene', value: 3 }], OTHER);
    assert.equal(s.sent.length, count, 'nothing goes to an expired subscriber');
  });

  it('a subscriber that renews in time is never warned and never ends', async () => {
    const s = setup();
    s.subscribe({ type: 'i', value: 9000 });
    for (let i = 0; i < 10; i++) {
      await s.clock.advance(TTL / 2);
      s.subscribe({ type: 'i', value: 9000 });
    }
    assert.equal(s.lines.filter((l) => String(l.event).startsWith('osc.subscription-')).length, 0);
    assert.equal(s.feedback.stats().subscribers, 1);
    assert.equal(
      s.feedback.stats().subscriptions[0]!.ageS,
      (10 * TTL) / 2 / 1000,
      'age counts from the first subscribe',
    );
    s.feedback.close();
    assert.equal(s.clock.pending(), 0, 'close stops the sweep');
  });
});

describe('OSC feedback corrects a sender', () => {
  it('sends the stored value back to the subscriber that sent a clamped one, in its format, and to nobody else', () => {
    const s = setup();
    s.subscribe({ type: 'i', value: 9000 }, { type: 's', value: 'plain' });
    const other: IngestSource = { transport: 'udp', address: '127.0.0.1', port: 7000 };
    s.feedback.onControl(oscMessage('/hana/subscribe', []), other);
    const before = s.sent.length;
    // The app at 5000 sent hue 500; the store holds 360.
    s.store.apply([{ path: '/layer/1/hue', value: 360 }], 'osc:udp:127.0.0.1:5000');
    s.feedback.echo(APP, [{ path: '/layer/1/hue', value: 360 }]);
    const after = s.sent.slice(before);
    assert.deepEqual(
      after.map((x) => [x.to, x.msg.address, x.msg.args[0]?.value]),
      [
        ['127.0.0.1:7000', '/layer/1/hue', 360],
        ['127.0.0.1:9000', '/layer/1/hue', 360],
      ],
      'the other subscriber by the change, the sender by the correction',
    );
    s.feedback.echo(APP, [{ path: '/master/blackout', value: true }]);
    assert.deepEqual(s.last('/master/blackout'), [{ type: 'i', value: 1 }], "in the sender's plain format");
    assert.equal(s.feedback.stats().echoed, 2);
    s.feedback.echo({ transport: 'udp', address: '127.0.0.1', port: 1234 }, [{ path: '/scene', value: 1 }]);
    assert.equal(s.feedback.stats().echoed, 2, 'a sender that does not listen is told nothing');
  });
});
