import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createInbox } from '../../../daemon/sync/inbox.ts';
import { createKeyDirectory } from '../../../daemon/sync/keys.ts';
import { createOutbox, type Outbox, type OutboxInit } from '../../../daemon/sync/outbox.ts';
import { createSigner } from '../../../daemon/sync/signer.ts';
import { decodeSync, MAX_SEQ } from '../../../daemon/sync/v2/codec.ts';
import type { SyncEntry } from '../../../daemon/sync/v2/entries.ts';
import type { SackRange } from '../../../daemon/sync/v2/messages.ts';
import { packUpdates } from '../../../daemon/sync/v2/pack.ts';
import { createIdentity } from '../../../trust-store/identity.ts';
import { prng } from '../../helpers/prng.ts';

// The outbox and the receiver's inbox joined by a scripted link on a clock that moves one
// millisecond per tick: each tick the writer makes `rate` writes and flushes once (one
// event-loop turn), datagrams and acks each take half the round trip, and the receiver acks at
// the end of every tick it received something (acks that do not wait). Every figure is a count
// of ticks, so the same run gives the same numbers on any machine.

const identity = await createIdentity();
const NODE = identity.deviceId;
const keys = createKeyDirectory();
assert.ok(keys.learn(identity.certDer).ok);

type Ack = { upTo: number; sack: readonly SackRange[] };
type LinkInit = {
  rate: number;
  rttTicks: number;
  window: number;
  maxWindow: number;
  maxQueued?: number;
  paths?: number;
  /** Ticks with writes; the link then runs `drain` more ticks without. */
  ticks: number;
  drain: number;
  /** Drops a datagram (either way) when true. */
  lose?: () => boolean;
  /** Whether the receiver's acks reach the sender at this tick (a peer that stops acking). */
  acking?: (tick: number) => boolean;
  /** Delays are counted for values written from this tick on (after the first round trips). */
  steadyFrom?: number;
  /** Called after every tick, to check bounds while it runs. */
  each?: (o: Outbox, tick: number) => void;
};

const signer = createSigner(() => identity);

/** An outbox reading `current`, signing with the real key and counting the signatures it makes. */
function signingOutbox(
  current: Map<string, SyncEntry>,
  init: Pick<OutboxInit, 'send' | 'now' | 'window' | 'maxWindow' | 'maxQueued' | 'owns'>,
) {
  let signatures = 0;
  const outbox = createOutbox({
    ...init,
    entryOf: (path) => current.get(path),
    pack: (u) =>
      packUpdates(u, NODE, (list) => {
        signatures++;
        return signer.sign(list);
      }),
    onUnsendable: (path, err) => assert.fail(`${path}: ${err.message}`),
    minRtoMs: 5,
    maxRtoMs: 1000,
  });
  return { outbox, signatures: () => signatures };
}

function runLink(init: LinkInit) {
  let tick = 0;
  const now = () => tick;
  const paths = Array.from({ length: init.paths ?? 1 }, (_, i) => `/fader/${i}`);
  const current = new Map<string, SyncEntry>();
  const toPeer: Array<{ at: number; bytes: Uint8Array }> = [];
  const toSender: Array<{ at: number; ack: Ack }> = [];
  const half = init.rttTicks / 2;
  const lose = init.lose ?? (() => false);
  const { outbox, signatures } = signingOutbox(current, {
    send(bytes) {
      if (!lose()) toPeer.push({ at: tick + half, bytes });
    },
    now,
    window: init.window,
    maxWindow: init.maxWindow,
    ...(init.maxQueued !== undefined && { maxQueued: init.maxQueued }),
  });
  const inbox = createInbox();
  /** value → tick it was written; value → tick it arrived. */
  const writtenAt = new Map<number, number>();
  const arrived: Array<{ value: number; at: number }> = [];
  const latestThere = new Map<string, number>();
  let value = 0;
  let datagrams = 0;
  for (; tick < init.ticks + init.drain; tick++) {
    let got = false;
    while (toPeer[0] && toPeer[0].at <= tick) {
      const r = decodeSync(toPeer.shift()!.bytes, NODE);
      assert.ok(r.ok && r.msg.kind === 'updates');
      assert.equal(keys.verify(r.msg.batch), 'ok', 'every datagram is signed by its origin');
      datagrams++;
      got = true;
      const { firstSeq, batch } = r.msg;
      batch.entries.forEach((e, i) => {
        if (!inbox.receive(firstSeq + i)) return;
        arrived.push({ value: e.value as number, at: tick });
        const had = latestThere.get(e.path);
        if (had === undefined || (e.value as number) > had) latestThere.set(e.path, e.value as number);
      });
    }
    if (got && (init.acking?.(tick) ?? true) && !lose()) toSender.push({ at: tick + half, ack: inbox.ack() });
    while (toSender[0] && toSender[0].at <= tick) {
      const { ack } = toSender.shift()!;
      outbox.onAck(ack.upTo, ack.sack);
    }
    outbox.expire();
    if (tick < init.ticks) {
      for (let k = 0; k < init.rate; k++) {
        value++;
        const path = paths[value % paths.length]!;
        const entry: SyncEntry = { path, value, stamp: { t: 1_700_000_000_000 + tick, c: k, node: NODE } };
        current.set(path, entry);
        writtenAt.set(value, tick);
        outbox.mark(path, entry);
      }
    }
    outbox.flush();
    init.each?.(outbox, tick);
  }
  const delays = arrived
    .filter((a) => writtenAt.get(a.value)! >= (init.steadyFrom ?? 0))
    .map((a) => a.at - writtenAt.get(a.value)!);
  const latestHere = new Map([...current].map(([p, e]) => [p, e.value as number]));
  return {
    outbox,
    written: value,
    arrived,
    maxDelay: Math.max(...delays),
    signatures: signatures(),
    datagrams,
    latestHere,
    latestThere,
  };
}

/** A fader at 5k/s (5 writes a 1 ms tick) over a 20 ms round trip, with the window given. */
const fader = (maxWindow: number) =>
  runLink({ rate: 5, rttTicks: 20, window: 4, maxWindow, ticks: 600, drain: 100, steadyFrom: 60 });

describe('outbox window: a fader at controller rates', () => {
  it('5 writes per tick over a 20-tick round trip: every value arrives once, in order, and once a round trip is measured within half of one', () => {
    const r = fader(32);
    assert.deepEqual(
      r.arrived.map((a) => a.value),
      Array.from({ length: r.written }, (_, i) => i + 1),
      'every value, in write order, none twice',
    );
    assert.equal(r.outbox.stats().coalesced, 0);
    assert.ok(r.outbox.stats().window > 4, `the window grew past its floor (${r.outbox.stats().window})`);
    assert.ok(r.maxDelay <= 10 + 1, `no write waited for an ack (worst ${r.maxDelay} ticks)`);
    assert.equal(r.signatures, r.outbox.stats().datagrams, 'one signature per datagram');
    assert.ok(r.datagrams < r.written, 'several values share a datagram (and its signature)');
  });

  it('a fixed window of 4 over the same round trip still delivers every value, but late: the adaptive window is what keeps it smooth', () => {
    const fixed = fader(4);
    assert.equal(fixed.arrived.length, fixed.written, 'the queue keeps every value while the window waits');
    assert.equal(fixed.outbox.stats().coalesced, 0);
    const adaptive = fader(32);
    assert.ok(
      fixed.maxDelay >= 2 * adaptive.maxDelay,
      `fixed window: worst ${fixed.maxDelay} ticks; adaptive: ${adaptive.maxDelay}`,
    );
  });

  it('1 write per tick at a 2-tick round trip keeps the window at its floor', () => {
    const r = runLink({ rate: 1, rttTicks: 2, window: 4, maxWindow: 32, ticks: 300, drain: 20 });
    assert.equal(r.arrived.length, r.written);
    assert.ok(r.outbox.stats().window <= 6, `window ${r.outbox.stats().window}`);
  });
});

describe('outbox window: a peer that cannot keep up', () => {
  it('stops acknowledging: the queue collapses to each path’s latest value, memory stays bounded, and the latest values arrive once acks resume', () => {
    const maxQueued = 256;
    const r = runLink({
      rate: 8,
      rttTicks: 4,
      window: 4,
      maxWindow: 16,
      maxQueued,
      paths: 3,
      ticks: 3000,
      drain: 4000,
      acking: (tick) => tick < 100 || tick > 2500,
      each(o) {
        const s = o.stats();
        assert.ok(s.queued <= maxQueued, `queued ${s.queued}`);
        assert.ok(s.inFlight <= 16, `in flight ${s.inFlight}`);
        assert.ok(s.dirty <= 3, `dirty ${s.dirty}`);
      },
    });
    assert.ok(r.outbox.stats().coalesced > 0, 'intermediate values were given up');
    assert.deepEqual(r.latestThere, r.latestHere, 'the peer ends with every path’s latest value');
  });
});

describe('outbox window: loss', () => {
  it('10 % loss each way: retransmission converges on every path’s latest value', () => {
    const rand = prng(18);
    const r = runLink({
      rate: 3,
      rttTicks: 6,
      window: 4,
      maxWindow: 32,
      paths: 4,
      ticks: 2000,
      drain: 3000,
      lose: () => rand() < 0.1,
    });
    // A lost step of a moving fader is not resent (a newer number carries the path); the last
    // steps are, until they arrive.
    assert.ok(r.arrived.length < r.written, 'some values were lost');
    assert.deepEqual(r.latestThere, r.latestHere);
    assert.ok(r.arrived.length >= 0.8 * r.written, `${r.arrived.length} of ${r.written} values arrived`);
  });
});

describe('outbox window: a lying peer', () => {
  function sender(maxQueued = 64) {
    let t = 0;
    const current = new Map<string, SyncEntry>();
    const sent: number[] = [];
    const { outbox, signatures } = signingOutbox(current, {
      send(bytes) {
        const r = decodeSync(bytes, NODE);
        assert.ok(r.ok && r.msg.kind === 'updates');
        for (let i = 0; i < r.msg.batch.entries.length; i++) sent.push(r.msg.firstSeq + i);
      },
      now: () => t,
      window: 4,
      maxWindow: 16,
      maxQueued,
    });
    let c = 0;
    const write = (path: string) => {
      const e: SyncEntry = {
        path,
        value: c,
        stamp: { t: 1_700_000_000_000 + t, c: c++ & 0xffff, node: NODE },
      };
      current.set(path, e);
      outbox.mark(path, e);
    };
    return {
      outbox,
      sent,
      write,
      advance: (ms: number) => {
        t += ms;
      },
      signatures,
    };
  }

  it('acks for numbers never sent, with the widest ranges, settle only what is in flight and never stall the sender', () => {
    const s = sender();
    const everything: SackRange[] = Array.from({ length: 16 }, (_, i) => ({
      from: 1 + i * 2 ** 40,
      to: Math.min(MAX_SEQ, (i + 1) * 2 ** 40),
    }));
    s.outbox.onAck(MAX_SEQ, everything); // before anything was sent: settles nothing
    assert.equal(s.outbox.stats().acked, 0);
    for (let tick = 0; tick < 2000; tick++) {
      s.advance(1);
      for (let k = 0; k < 5; k++) s.write(`/p/${k}`);
      assert.equal(s.outbox.flush(), false, 'nothing left waiting: the lies only free the window');
      s.outbox.onAck(MAX_SEQ, everything);
      s.outbox.expire();
      const st = s.outbox.stats();
      assert.ok(st.acked <= st.updates, 'never more acknowledged than sent');
      assert.equal(st.inFlight, 0);
      assert.ok(st.window <= 16);
    }
    assert.equal(s.sent.length, 10_000, 'every write left');
  });

  it('an ack for a number sent later does not count for it: that datagram still times out and goes again', () => {
    const s = sender();
    s.outbox.onAck(5, []);
    s.write('/x');
    s.outbox.flush();
    assert.deepEqual(s.sent, [1]);
    assert.equal(s.outbox.stats().acked, 0);
    s.advance(1000);
    assert.equal(s.outbox.expire(), true, 'seq 1 was never really acknowledged');
    s.outbox.flush();
    assert.deepEqual(s.sent, [1, 2]);
  });

  it('acks held back ten seconds (a huge round trip) cannot grow the window past maxWindow or the queue past maxQueued', () => {
    const s = sender(64);
    const pending: Array<{ at: number; upTo: number }> = [];
    let t = 0;
    for (let tick = 0; tick < 30_000; tick++) {
      s.advance(1);
      t++;
      s.write(`/p/${tick % 7}`);
      s.outbox.flush();
      const newest = s.sent.at(-1);
      if (newest !== undefined) pending.push({ at: t + 10_000, upTo: newest });
      while (pending[0] && pending[0].at <= t) s.outbox.onAck(pending.shift()!.upTo, []);
      s.outbox.expire();
      const st = s.outbox.stats();
      assert.ok(st.window <= 16, `window ${st.window}`);
      assert.ok(st.inFlight <= 16, `in flight ${st.inFlight}`);
      assert.ok(st.queued <= 64, `queued ${st.queued}`);
      assert.ok(st.dirty <= 7, `dirty ${st.dirty}`);
    }
    assert.equal(s.signatures(), s.outbox.stats().datagrams);
  });
});

describe('outbox window: an identity rotation', () => {
  it('a value queued under the old device ID does not leave under the new one: its path goes with its current entry', () => {
    const current = new Map<string, SyncEntry>();
    const sent: SyncEntry[] = [];
    let self = 'OLD';
    const { outbox } = signingOutbox(current, {
      send(bytes) {
        const r = decodeSync(bytes, NODE);
        assert.ok(r.ok && r.msg.kind === 'updates');
        sent.push(...r.msg.batch.entries);
      },
      now: () => 0,
      window: 4,
      owns: (e) => e.stamp.node === self,
    });
    const old: SyncEntry = { path: '/a', value: 1, stamp: { t: 1_700_000_000_000, c: 0, node: 'OLD' } };
    outbox.mark('/a', old);
    self = NODE; // rotated before the flush
    current.set('/a', { path: '/a', value: 2, stamp: { t: 1_700_000_000_001, c: 0, node: NODE } });
    outbox.flush();
    assert.deepEqual(
      sent.map((e) => e.value),
      [2],
    );
  });
});

describe('outbox window: a timeout while the fader moves', () => {
  it('a path re-marked by a timeout still sends every later step of the fader, not only its latest', () => {
    const current = new Map<string, SyncEntry>();
    const sent: number[] = [];
    let t = 0;
    const { outbox } = signingOutbox(current, {
      send(bytes) {
        const r = decodeSync(bytes, NODE);
        assert.ok(r.ok && r.msg.kind === 'updates');
        sent.push(...r.msg.batch.entries.map((e) => e.value as number));
      },
      now: () => t,
      window: 1,
    });
    const write = (value: number) => {
      const e: SyncEntry = { path: '/f', value, stamp: { t: 1_700_000_000_000 + value, c: 0, node: NODE } };
      current.set('/f', e);
      outbox.mark('/f', e);
    };
    write(1);
    outbox.flush(); // seq 1 in flight, the window (1) full
    t += 1000;
    assert.equal(outbox.expire(), true, 'seq 1 timed out: /f is re-marked');
    for (let v = 2; v <= 5; v++) write(v);
    outbox.flush();
    assert.deepEqual(sent, [1, 2, 3, 4, 5], 'steps 2–5 all go, once each');
  });
});
