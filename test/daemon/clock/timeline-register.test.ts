import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  createTimelineReader,
  decodeTimeline,
  encodeTimeline,
  MAX_ENCODED_LENGTH,
  TIMELINE_PATH,
  timelineParam,
} from '../../../daemon/clock/timeline-register.ts';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import { checkValue } from '../../../daemon/state/check-value.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { arbAnyTimeline, arbTimeline, T0 } from './arbitraries.ts';

// The timeline as a register value: exact round trip of the three doubles, one spelling per
// timeline, and refusal of anything a peer (or a corrupted value) could put in its place.

function refused(value: unknown): { code: string; message: string } {
  const d = decodeTimeline(value);
  if (d.ok) assert.fail(`${JSON.stringify(value)} decoded as ${JSON.stringify(d.timeline)}`);
  return d;
}

describe('encodeTimeline / decodeTimeline', () => {
  it('writes a short readable text', () => {
    assert.equal(encodeTimeline({ tempo: 120, beatOrigin: 0, timeOrigin: T0 }), `tl1 120 0 ${T0}`);
    assert.equal(
      encodeTimeline({ tempo: 127.5, beatOrigin: -0, timeOrigin: T0 + 0.123 }),
      `tl1 127.5 -0 ${T0 + 0.123}`,
    );
  });

  it('round-trips every timeline exactly (every bit of the three doubles, −0 included)', () => {
    fc.assert(
      fc.property(fc.oneof(arbTimeline, arbAnyTimeline), (tl) => {
        const text = encodeTimeline(tl);
        assert.ok(text.length <= MAX_ENCODED_LENGTH, `${text.length} characters`);
        const d = decodeTimeline(text);
        if (!d.ok) assert.fail(`${text}: ${d.message}`);
        for (const k of ['tempo', 'beatOrigin', 'timeOrigin'] as const) {
          assert.ok(Object.is(d.timeline[k], tl[k]), `${k}: ${tl[k]} came back as ${d.timeline[k]}`);
        }
        // One timeline, one text: re-encoding what was decoded gives the same bytes.
        assert.equal(encodeTimeline(d.timeline), text);
      }),
      { numRuns: 2000 },
    );
  });

  it('fits the declared register: a string the sync gate accepts as is', () => {
    fc.assert(
      fc.property(arbAnyTimeline, (tl) => {
        assert.deepEqual(checkValue(timelineParam, encodeTimeline(tl)), { ok: true });
      }),
    );
  });

  it('refuses each kind of garbage with one sentence and a code', () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [42, 'wrong-type', /text value, not number/],
      [null, 'wrong-type', /not null/],
      [undefined, 'wrong-type', /not undefined/],
      [{ tempo: 120 }, 'wrong-type', /not object/],
      ['x'.repeat(MAX_ENCODED_LENGTH + 1), 'too-long', /at most 96 characters, this one has 97/],
      ['', 'bad-shape', /reads "tl1 <tempo> <beatOrigin> <timeOrigin>"/],
      ['tl1 120 0', 'bad-shape', /reads/],
      ['tl1 120 0 1 2', 'bad-shape', /reads/],
      ['tl2 120 0 1', 'bad-shape', /reads/],
      ['tl1  120 0 1', 'bad-shape', /reads/],
      ['tl1 120 0 1 ', 'bad-shape', /reads/],
      ['tl1\t120 0 1', 'bad-shape', /reads/],
      ['tl1 NaN 0 1', 'not-finite', /tempo is not a finite number/],
      ['tl1 120 Infinity 1', 'not-finite', /beatOrigin is not a finite/],
      ['tl1 120 0 -Infinity', 'not-finite', /timeOrigin is not a finite/],
      ['tl1 120 1e999 1', 'not-finite', /beatOrigin/],
      ['tl1 120 abc 1', 'not-finite', /beatOrigin/],
      ['tl1 120.0 0 1', 'not-canonical', /tempo is not written canonically/],
      ['tl1 0x78 0 1', 'not-canonical', /tempo/],
      ['tl1 120 +1 1', 'not-canonical', /beatOrigin/],
      ['tl1 120 0 1e3', 'not-canonical', /timeOrigin/],
      ['tl1 120 00 1', 'not-canonical', /beatOrigin/],
      ['tl1 19.999 0 1', 'out-of-range', /tempo 19.999 bpm is outside 20–999/],
      ['tl1 1000 0 1', 'out-of-range', /outside 20–999/],
      ['tl1 -120 0 1', 'out-of-range', /outside/],
      ['tl1 0 0 1', 'out-of-range', /outside/],
    ];
    for (const [value, code, message] of cases) {
      const r = refused(value);
      assert.equal(r.code, code, `${JSON.stringify(value)}: ${r.message}`);
      assert.match(r.message, message);
      // One sentence, no echo of the (outside) value.
      assert.doesNotMatch(r.message, /[\n\r]/);
      if (typeof value === 'string' && value.length > 20) assert.ok(!r.message.includes(value));
    }
  });

  it('never throws and never accepts a mutation it would not have written', () => {
    const mutate = fc
      .tuple(arbAnyTimeline, fc.nat(), fc.string({ unit: 'binary', maxLength: 4 }), fc.nat(4))
      .map(([tl, at, insert, cut]) => {
        const text = encodeTimeline(tl);
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i + cut);
      });
    fc.assert(
      fc.property(fc.oneof(mutate, fc.string({ unit: 'binary', maxLength: 120 }), fc.anything()), (v) => {
        const d = decodeTimeline(v);
        if (d.ok) {
          // Whatever is accepted is exactly what encodeTimeline writes for it, in range.
          assert.equal(encodeTimeline(d.timeline), v);
          assert.ok(d.timeline.tempo >= 20 && d.timeline.tempo <= 999);
        } else {
          assert.equal(typeof d.message, 'string');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('createTimelineReader', () => {
  const registry = createRegistry(ParamMap.parse({ '/tempo': { type: 'float', min: 20, max: 999 } }), {
    [TIMELINE_PATH]: timelineParam,
  });

  it('reads none before any write, then the winning value and its origin', () => {
    const store = createStore({ registry: registry.stored, hlc: createHlc({ node: 'SELF', now: () => T0 }) });
    const read = createTimelineReader(store);
    assert.equal(read(), undefined);
    const tl = { tempo: 99, beatOrigin: 3, timeOrigin: T0 };
    store.merge(TIMELINE_PATH, {
      value: encodeTimeline(tl),
      stamp: { t: T0, c: 0, node: 'PEER' },
      source: 'peer:PEER',
    });
    assert.deepEqual(read(), { timeline: tl, origin: 'PEER' });
    assert.equal(read(), read(), 'decoded once, not at every read');
    // The same text re-asserted by another writer changes the origin, hence the leader.
    store.apply([{ path: TIMELINE_PATH, value: encodeTimeline(tl) }], 'timeline');
    assert.deepEqual(read(), { timeline: tl, origin: 'SELF' });
  });

  it('reads a value that does not decode as no timeline, never as a wrong beat', () => {
    const store = createStore({ registry: registry.stored, hlc: createHlc({ node: 'SELF', now: () => T0 }) });
    store.apply([{ path: TIMELINE_PATH, value: 'tl1 5 0 0' }], 'test');
    assert.equal(createTimelineReader(store)(), undefined);
  });
});
