import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createInbox } from '../../../daemon/sync/inbox.ts';
import {
  decodeSync,
  encodeSync,
  MAX_SACK_RANGES,
  MAX_SEQ,
  type SackRange,
} from '../../../daemon/sync/v2/codec.ts';

// The receiving side's record of update numbers: duplicates, the acknowledgement it builds (which
// must always be a valid `ack` message), and the floor that slides over gaps that never fill.

/** How far behind the newest number the inbox keeps track (inbox.ts SPAN). */
const SPAN = 8192;

function checkAck(a: { upTo: number; sack: SackRange[] }): void {
  assert.ok(a.sack.length <= MAX_SACK_RANGES);
  let prev = a.upTo;
  for (const r of a.sack) {
    assert.ok(r.from >= prev + 2, `range ${r.from}..${r.to} leaves a gap after ${prev}`);
    assert.ok(r.to >= r.from);
    prev = r.to;
  }
  const bytes = encodeSync({ kind: 'ack', upTo: a.upTo, sack: a.sack }, 'N');
  assert.deepStrictEqual(decodeSync(bytes, 'N'), {
    ok: true,
    msg: { kind: 'ack', upTo: a.upTo, sack: a.sack },
  });
}

describe('inbox', () => {
  it('reports duplicates, and numbers at or below the floor, as already seen', () => {
    const inbox = createInbox();
    assert.equal(inbox.receive(0), false, 'links number from 1');
    assert.equal(inbox.receive(1), true);
    assert.equal(inbox.receive(1), false);
    assert.equal(inbox.receive(5), true);
    assert.equal(inbox.receive(5), false);
    assert.equal(inbox.receive(3), true);
    assert.equal(inbox.receive(2), true);
    for (const q of [1, 2, 3, 5]) assert.equal(inbox.receive(q), false, `${q} again`);
    assert.equal(inbox.receive(4), true);
  });

  it('acknowledges everything up to the first gap, then ascending ranges after it', () => {
    const inbox = createInbox();
    assert.deepEqual(inbox.ack(), { upTo: 0, sack: [] });
    for (const q of [1, 2, 3, 5, 6, 9, 12, 13, 14]) inbox.receive(q);
    const a = inbox.ack();
    assert.deepEqual(a, {
      upTo: 3,
      sack: [
        { from: 5, to: 6 },
        { from: 9, to: 9 },
        { from: 12, to: 14 },
      ],
    });
    checkAck(a);
    inbox.receive(4);
    assert.deepEqual(inbox.ack(), {
      upTo: 6,
      sack: [
        { from: 9, to: 9 },
        { from: 12, to: 14 },
      ],
    });
  });

  it('keeps the newest MAX_SACK_RANGES ranges when there are more', () => {
    const inbox = createInbox();
    for (let i = 1; i <= 40; i++) inbox.receive(i * 3);
    const a = inbox.ack();
    checkAck(a);
    assert.equal(a.upTo, 0);
    assert.equal(a.sack.length, MAX_SACK_RANGES);
    assert.deepEqual(a.sack.at(-1), { from: 120, to: 120 });
    assert.deepEqual(a.sack[0], {
      from: 120 - 3 * (MAX_SACK_RANGES - 1),
      to: 120 - 3 * (MAX_SACK_RANGES - 1),
    });
  });

  it('slides the floor over a gap that never fills once it is SPAN behind the newest', () => {
    const inbox = createInbox();
    inbox.receive(1);
    // 2 is lost for good (the sender resends under a new number, never 2 again).
    for (let q = 3; q <= SPAN + 1; q++) inbox.receive(q);
    assert.deepEqual(inbox.ack(), { upTo: 1, sack: [{ from: 3, to: SPAN + 1 }] }, 'the gap is SPAN behind');
    inbox.receive(SPAN + 2);
    const a = inbox.ack();
    assert.deepEqual(a, { upTo: SPAN + 2, sack: [] }, 'the floor passed the gap and everything after it');
    assert.equal(inbox.receive(2), false, 'a number below the floor counts as seen');
  });

  it('stays bounded under hostile numbers: huge jumps forget everything more than SPAN behind', () => {
    const inbox = createInbox();
    for (let q = 1; q <= 1000; q += 2) inbox.receive(q);
    assert.equal(inbox.receive(MAX_SEQ), true);
    const a = inbox.ack();
    checkAck(a);
    assert.deepEqual(a, { upTo: MAX_SEQ - SPAN, sack: [{ from: MAX_SEQ, to: MAX_SEQ }] });
    // Everything at or below the floor is now "seen": nothing below it is remembered.
    for (const q of [1, 2, 999, 1001, MAX_SEQ - SPAN]) assert.equal(inbox.receive(q), false);
    assert.equal(inbox.receive(MAX_SEQ - 1), true);
  });

  it('for any numbers: acks encode, name only numbers received, and memory stays within SPAN', () => {
    const seqs = fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 1, max: 200 }) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 * SPAN }) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: MAX_SEQ }) },
      { weight: 1, arbitrary: fc.constantFrom(1, MAX_SEQ, MAX_SEQ - 1, SPAN, SPAN + 1, SPAN + 2) },
    );
    fc.assert(
      fc.property(fc.array(seqs, { maxLength: 300, size: 'max' }), (list) => {
        const inbox = createInbox();
        const seen = new Set<number>();
        let newest = 0;
        for (const q of list) {
          const fresh = inbox.receive(q);
          // Never reports a number twice; reports a number as new unless seen or out of the window.
          if (seen.has(q)) assert.equal(fresh, false, `${q} is a duplicate`);
          else if (q > newest - SPAN) assert.equal(fresh, true, `${q} is new and within SPAN`);
          if (fresh) seen.add(q);
          newest = Math.max(newest, q);
          const a = inbox.ack();
          checkAck(a);
          assert.ok(a.upTo >= newest - SPAN, 'the floor trails the newest by at most SPAN');
          assert.ok(a.upTo <= newest);
          if (a.sack.length > 0) assert.equal(a.sack.at(-1)!.to, newest, 'the newest is acknowledged');
        }
        const a = inbox.ack();
        for (const r of a.sack) {
          for (let x = r.from; x <= r.to; x++) assert.ok(seen.has(x), `acked ${x} was received`);
        }
        // Below upTo, only numbers more than SPAN behind the newest may be missing.
        for (let x = Math.max(1, newest - SPAN + 1); x <= a.upTo; x++) {
          assert.ok(seen.has(x), `upTo ${a.upTo} covers ${x}, which never arrived`);
        }
        // Bounded memory: everything at or below newest − SPAN already counts as seen.
        for (const q of [1, newest - SPAN, Math.floor((newest - SPAN) / 2)]) {
          if (q >= 1 && q <= newest - SPAN) assert.equal(inbox.receive(q), false);
        }
      }),
      { numRuns: 200 },
    );
  });
});
