import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { SyncConfig } from '../../../daemon/config/sync-schema.ts';
import type { Value } from '../../../daemon/state/coerce.ts';
import { createInbox } from '../../../daemon/sync/inbox.ts';
import { createKeyDirectory } from '../../../daemon/sync/keys.ts';
import { createOutbox, type Outbox, type OutboxInit } from '../../../daemon/sync/outbox.ts';
import { createSigner } from '../../../daemon/sync/signer.ts';
import { decodeSync, MAX_SEQ } from '../../../daemon/sync/v2/codec.ts';
import { packUpdates, type SyncUpdate } from '../../../daemon/sync/v2/pack.ts';
import { createIdentity } from '../../../trust-store/identity.ts';

// The per-link outbox with the real codec's packer and a real signing key, a value table the
// test edits and a clock the test moves: every send, timeout and RTT sample is known in advance.

const identity = await createIdentity();
const NODE = identity.deviceId;
const signer = createSigner(() => identity);
const keys = createKeyDirectory();
assert.ok(keys.learn(identity.certDer).ok);

function setup(opts: Partial<Pick<OutboxInit, 'window' | 'minRtoMs' | 'maxRtoMs'>> = {}) {
  let t = 1000;
  let tick = 0;
  const values = new Map<string, Value>();
  const sent: SyncUpdate[][] = [];
  const unsendable: Array<{ path: string; err: Error }> = [];
  const outbox: Outbox = createOutbox({
    entryOf(path) {
      if (!values.has(path)) return undefined;
      return { path, value: values.get(path)!, stamp: { t: 1_700_000_000_000, c: tick++, node: NODE } };
    },
    pack: (u) => packUpdates(u, NODE, signer.sign),
    send(datagram) {
      const r = decodeSync(datagram, NODE);
      assert.ok(r.ok && r.msg.kind === 'updates', 'every datagram decodes to updates');
      const { firstSeq, batch } = r.msg;
      assert.equal(keys.verify(batch), 'ok', 'every datagram is signed by this daemon');
      sent.push(batch.entries.map((e, i) => ({ ...e, seq: firstSeq + i })));
    },
    onUnsendable: (path, err) => unsendable.push({ path, err }),
    now: () => t,
    window: opts.window ?? 4,
    minRtoMs: opts.minRtoMs ?? 10,
    maxRtoMs: opts.maxRtoMs ?? 1000,
  });
  return {
    outbox,
    sent,
    unsendable,
    set(path: string, value: Value) {
      values.set(path, value);
      outbox.mark(path);
    },
    /** Changes the value without marking it (the outbox must read it when it sends). */
    change(path: string, value: Value) {
      values.set(path, value);
    },
    remove: (path: string) => values.delete(path),
    advance(ms: number) {
      t += ms;
    },
    /** Updates sent since the last call. */
    take(): SyncUpdate[][] {
      return sent.splice(0);
    },
  };
}

const seqsOf = (datagrams: SyncUpdate[][]) => datagrams.flat().map((u) => u.seq);

describe('outbox: coalescing and the window', () => {
  it('1,000 writes to one path while the window is full leave as one datagram once the ack comes', () => {
    const o = setup({ window: 1 });
    o.set('/a', 0);
    assert.equal(o.outbox.flush(), false);
    assert.deepEqual(
      o.take().map((d) => d.map((u) => [u.path, u.value, u.seq])),
      [[['/a', 0, 1]]],
    );
    for (let i = 1; i <= 1000; i++) {
      o.set('/a', i);
      assert.equal(o.outbox.flush(), true, 'the window is full: the path stays dirty');
    }
    assert.equal(o.take().length, 0, 'nothing leaves while the window is full');
    assert.equal(o.outbox.stats().dirty, 1);
    o.advance(3);
    o.outbox.onAck(1, []);
    assert.equal(o.outbox.flush(), false);
    const after = o.take();
    assert.equal(after.length, 1, 'one datagram');
    assert.deepEqual(
      after[0]!.map((u) => [u.path, u.value, u.seq]),
      [['/a', 1000, 2]],
      'carrying only the latest value',
    );
    const s = o.outbox.stats();
    assert.equal(s.datagrams, 2);
    assert.equal(s.updates, 2);
    assert.equal(s.acked, 1);
  });

  it('sends no more than `window` unacknowledged flushes, and the next one once an ack frees a slot', () => {
    const o = setup({ window: 3 });
    for (const p of ['/a', '/b', '/c']) {
      o.set(p, 1);
      assert.equal(o.outbox.flush(), false);
    }
    o.set('/d', 1);
    assert.equal(o.outbox.flush(), true, '/d waits');
    assert.deepEqual(seqsOf(o.take()), [1, 2, 3]);
    assert.equal(o.outbox.stats().inFlight, 3);
    o.outbox.onAck(0, []);
    assert.equal(o.outbox.flush(), true, 'an ack for nothing frees nothing');
    assert.equal(o.take().length, 0);
    o.outbox.onAck(1, []);
    assert.equal(o.outbox.flush(), false);
    assert.deepEqual(
      o.take().map((d) => d.map((u) => [u.path, u.seq])),
      [[['/d', 4]]],
    );
    assert.equal(o.outbox.stats().inFlight, 3);
  });

  it('sends every dirty path in one flush, and nothing for a path that no longer exists', () => {
    const o = setup({ window: 1 });
    for (let i = 0; i < 20; i++) o.set(`/p/${i}`, i);
    o.set('/gone', 1);
    o.remove('/gone');
    assert.equal(o.outbox.flush(), false);
    const all = o.take().flat();
    assert.equal(all.length, 20);
    assert.ok(!all.some((u) => u.path === '/gone'));
    assert.deepEqual(
      all.map((u) => u.seq),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });
});

describe('outbox: acknowledgements', () => {
  function threeInFlight() {
    const o = setup({ window: 8 });
    for (const p of ['/a', '/b', '/c', '/d', '/e']) {
      o.set(p, 1);
      o.outbox.flush();
    }
    o.take();
    return o;
  }

  it('an ack by upTo settles every seq up to it and no further', () => {
    const o = threeInFlight();
    o.advance(4);
    o.outbox.onAck(2, []);
    const s = o.outbox.stats();
    assert.equal(s.acked, 2);
    assert.equal(s.inFlight, 3);
    assert.equal(s.srttMs, 4, 'the first sample sets srtt');
  });

  it('SACK ranges settle the seqs they name beyond a gap', () => {
    const o = threeInFlight();
    o.outbox.onAck(1, [
      { from: 3, to: 3 },
      { from: 5, to: 9 },
    ]);
    const s = o.outbox.stats();
    assert.equal(s.acked, 3, 'seqs 1, 3 and 5');
    assert.equal(s.inFlight, 2, 'seqs 2 and 4 remain');
    // A repeated ack changes nothing.
    o.outbox.onAck(1, [{ from: 3, to: 3 }]);
    assert.equal(o.outbox.stats().acked, 3);
    o.outbox.onAck(5, []);
    assert.equal(o.outbox.stats().acked, 5);
    assert.equal(o.outbox.stats().inFlight, 0);
  });

  it('a hostile range 1..2^48−1 settles what is in flight without walking the range', async () => {
    // Run in a worker so that a regression (a loop over 2^48 numbers) fails this test after a
    // bounded wait instead of hanging the whole run.
    const outboxUrl = new URL('../../../daemon/sync/outbox.ts', import.meta.url).href;
    const packUrl = new URL('../../../daemon/sync/v2/pack.ts', import.meta.url).href;
    const code = `
      const { parentPort } = require('node:worker_threads');
      (async () => {
        const { createOutbox } = await import(${JSON.stringify(outboxUrl)});
        const { packUpdates } = await import(${JSON.stringify(packUrl)});
        let sent = 0;
        const o = createOutbox({
          entryOf: (path) => ({ path, value: 1, stamp: { t: 1, c: 0, node: 'n' } }),
          pack: (u) => packUpdates(u, 'n', () => new Uint8Array(64)), send: () => { sent++; }, onUnsendable: () => {},
          now: () => 0, window: 4, minRtoMs: 10, maxRtoMs: 1000,
        });
        for (const p of ['/a', '/b', '/c']) { o.mark(p); o.flush(); }
        o.onAck(0, [{ from: 1, to: ${MAX_SEQ} }]);
        o.onAck(${MAX_SEQ}, [{ from: ${MAX_SEQ} - 5, to: ${MAX_SEQ} }]);
        parentPort.postMessage({ sent, stats: o.stats() });
      })().catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));
    `;
    const worker = new Worker(code, { eval: true });
    try {
      const result = await new Promise<{ sent: number; stats: { acked: number; inFlight: number } }>(
        (resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('onAck did not return within 20 s')), 20_000);
          worker.once('message', (m) => {
            clearTimeout(timer);
            if (m.error) reject(new Error(m.error));
            else resolve(m);
          });
          worker.once('error', (err) => {
            clearTimeout(timer);
            reject(err);
          });
        },
      );
      assert.equal(result.sent, 3);
      assert.equal(result.stats.acked, 3);
      assert.equal(result.stats.inFlight, 0);
    } finally {
      await worker.terminate();
    }
  });
});

describe('outbox: retransmission', () => {
  it('a datagram that times out is resent under a new seq with the path’s current value', () => {
    const o = setup({ window: 4, minRtoMs: 10 });
    o.set('/x', 'old');
    o.outbox.flush();
    assert.deepEqual(seqsOf(o.take()), [1]);
    const rto = o.outbox.stats().rtoMs;
    assert.equal(rto, 40, 'before any sample the RTO is 4 × minRto');
    assert.equal(o.outbox.nextTimeoutMs(), 40);
    o.change('/x', 'new'); // the store moved on; what was lost is history
    o.advance(rto - 1);
    assert.equal(o.outbox.expire(), false, 'not yet');
    o.advance(1);
    assert.equal(o.outbox.expire(), true);
    assert.equal(o.outbox.flush(), false);
    assert.deepEqual(
      o
        .take()
        .flat()
        .map((u) => [u.path, u.value, u.seq]),
      [['/x', 'new', 2]],
    );
    assert.equal(o.outbox.stats().retransmits, 1);
  });

  it('a write waiting on a full window and a timeout of the same path make one send', () => {
    const o = setup({ window: 1, minRtoMs: 10 });
    o.set('/x', 'old');
    o.outbox.flush();
    o.take();
    o.set('/x', 'new');
    assert.equal(o.outbox.flush(), true, 'the window (1) is full: /x stays dirty');
    o.advance(40);
    assert.equal(o.outbox.expire(), true);
    assert.equal(o.outbox.flush(), false);
    assert.deepEqual(
      o
        .take()
        .flat()
        .map((u) => [u.path, u.value, u.seq]),
      [['/x', 'new', 2]],
    );
  });

  it('when an old and a newer seq of one path both time out, the path is resent once', () => {
    const o = setup({ window: 4, minRtoMs: 10 });
    o.set('/b', 'first');
    o.outbox.flush();
    o.set('/b', 'second');
    o.outbox.flush();
    assert.deepEqual(seqsOf(o.take()), [1, 2]);
    o.advance(40);
    assert.equal(o.outbox.expire(), true);
    assert.equal(o.outbox.stats().retransmits, 1);
    assert.equal(o.outbox.stats().inFlight, 0);
    o.outbox.flush();
    assert.deepEqual(
      o
        .take()
        .flat()
        .map((u) => [u.path, u.value, u.seq]),
      [['/b', 'second', 3]],
    );
  });

  it('an old seq timing out does not resend while a newer seq for the path is in flight', () => {
    const o = setup({ window: 2, minRtoMs: 10 });
    o.set('/a', 1);
    o.outbox.flush(); // seq 1 at t=1000
    o.advance(10);
    o.set('/a', 2);
    o.outbox.flush(); // seq 2 at t=1010
    assert.deepEqual(seqsOf(o.take()), [1, 2]);
    o.advance(32); // seq 1 is 42 ms old (RTO 40), seq 2 only 32
    assert.equal(o.outbox.expire(), false, 'nothing re-marked');
    assert.equal(o.outbox.stats().retransmits, 0);
    assert.equal(o.outbox.stats().inFlight, 1);
    // A timed-out datagram backs off even when nothing goes again: a peer that stopped acking
    // a moving fader would otherwise reopen the window every few ms (issue 18).
    assert.equal(o.outbox.stats().rtoMs, 80, 'a timeout backs off');
    assert.equal(o.outbox.flush(), false);
    assert.equal(o.take().length, 0, 'nothing resent');
    o.outbox.onAck(2, []);
    assert.equal(o.outbox.stats().inFlight, 0);
    assert.equal(o.outbox.stats().acked, 1);
    assert.equal(
      o.outbox.stats().rtoMs,
      32 + 4 * 16,
      'the next ack ends the backoff (RTO from its 32 ms sample)',
    );
  });

  it('the RTO doubles on each loss and returns to the measured value after an ack', () => {
    const o = setup({ window: 4, minRtoMs: 10, maxRtoMs: 1000 });
    o.set('/a', 1);
    o.outbox.flush();
    const rtos = [o.outbox.stats().rtoMs];
    for (let i = 0; i < 3; i++) {
      o.advance(o.outbox.nextTimeoutMs()!);
      assert.equal(o.outbox.expire(), true);
      o.outbox.flush();
      rtos.push(o.outbox.stats().rtoMs);
    }
    assert.deepEqual(rtos, [40, 80, 160, 320]);
    assert.equal(o.outbox.stats().retransmits, 3);
    assert.deepEqual(seqsOf(o.take()), [1, 2, 3, 4]);
    o.advance(6);
    o.outbox.onAck(4, []);
    const s = o.outbox.stats();
    assert.equal(s.srttMs, 6);
    // srtt 6, rttvar 3: 6 + 4 × 3 = 18, no backoff left.
    assert.equal(s.rtoMs, 18);
  });

  it('the backoff stops at maxRtoMs', () => {
    const o = setup({ window: 4, minRtoMs: 10, maxRtoMs: 100 });
    o.set('/a', 1);
    o.outbox.flush();
    for (let i = 0; i < 10; i++) {
      o.advance(o.outbox.nextTimeoutMs()!);
      assert.equal(o.outbox.expire(), true);
      o.outbox.flush();
      assert.ok(o.outbox.stats().rtoMs <= 100);
    }
    assert.equal(o.outbox.stats().rtoMs, 100);
  });

  it('nextTimeoutMs is undefined with nothing in flight and counts down otherwise', () => {
    const o = setup({ minRtoMs: 10 });
    assert.equal(o.outbox.nextTimeoutMs(), undefined);
    o.set('/a', 1);
    o.outbox.flush();
    o.advance(15);
    assert.equal(o.outbox.nextTimeoutMs(), 25);
    o.advance(100);
    assert.equal(o.outbox.nextTimeoutMs(), 0);
  });
});

describe('outbox: entries too large for a datagram', () => {
  it('reports an unsendable entry and still sends the rest', () => {
    const o = setup({ window: 4 });
    o.set('/a', 1);
    // 700 path bytes + a 1,000-byte string: within each field's cap, but no datagram holds it.
    const longPath = `/${'p'.repeat(699)}`;
    o.set(longPath, 's'.repeat(1000));
    o.set('/b', true);
    assert.equal(o.outbox.flush(), false);
    assert.equal(o.unsendable.length, 1);
    assert.equal(o.unsendable[0]!.path, longPath);
    assert.ok(o.unsendable[0]!.err instanceof RangeError);
    const sent = o.take().flat();
    assert.deepEqual(
      sent.map((u) => u.path),
      ['/a', '/b'],
    );
    assert.equal(o.outbox.stats().updates, 2);
    // The sent entries are acknowledged normally even though a seq went unused.
    const seqs = sent.map((u) => u.seq);
    o.outbox.onAck(Math.max(...seqs), []);
    assert.equal(o.outbox.stats().acked, 2);
    assert.equal(o.outbox.stats().inFlight, 0);
  });

  it('a flush whose only entry is unsendable sends nothing and holds no window slot', () => {
    const o = setup({ window: 1 });
    o.set('/big', 'x'.repeat(2000)); // over the 1,024-byte string cap
    assert.equal(o.outbox.flush(), false);
    assert.equal(o.unsendable.length, 1);
    assert.equal(o.take().length, 0);
    assert.equal(o.outbox.stats().inFlight, 0);
    o.set('/a', 1);
    o.outbox.flush();
    assert.equal(o.take().flat().length, 1, 'the window is still free');
  });
});

describe('outbox with the receiver’s inbox', () => {
  it('a lost datagram is resent, never acknowledged by the receiver’s sliding floor, at any window the config allows', () => {
    // The inbox forgets gaps more than 8,192 numbers behind the newest, on the promise that the
    // sender never has that many numbers in flight. The window counts flushes, though, and one
    // flush takes up to 512 entries: at window 64 (the config's maximum) that is 32,768.
    const window = 64;
    assert.ok(SyncConfig.safeParse({ window }).success, 'the config allows this window');
    const o = setup({ window, minRtoMs: 10 });
    for (let i = 0; i < window * 512; i++) o.set(`/p/${i}`, i);
    o.outbox.flush(); // fills the window
    const datagrams = o.take();
    const inbox = createInbox();
    const lost = new Set(datagrams[0]!.map((u) => u.path)); // the first datagram never arrives
    for (const d of datagrams.slice(1)) for (const u of d) inbox.receive(u.seq);
    const ack = inbox.ack();
    o.outbox.onAck(ack.upTo, ack.sack);
    assert.equal(
      o.outbox.stats().acked + lost.size,
      o.outbox.stats().updates,
      `only what arrived is acknowledged (ack upTo ${ack.upTo}, ${lost.size} lost)`,
    );
    // Whatever else happens, the lost paths go again once their datagram times out.
    o.advance(5000);
    o.outbox.expire();
    for (let i = 0; i < window && o.outbox.flush(); i++) o.outbox.onAck(Number.MAX_SAFE_INTEGER, []);
    const resent = new Set(
      o
        .take()
        .flat()
        .map((u) => u.path),
    );
    for (const p of lost) assert.ok(resent.has(p), `${p} was lost and must be resent`);
  });
});
