import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createSlipDecoder, slipEncode } from '../../../protocols/osc/slip.ts';
import { decodeStream } from './osc-test-helpers.ts';

// SLIP (RFC 1055) as OSC 1.1 uses it over TCP: END = 0xc0, ESC = 0xdb, ESC_END = 0xdc, ESC_ESC = 0xdd.

const END = 0xc0;
const ESC = 0xdb;
const ESC_END = 0xdc;
const ESC_ESC = 0xdd;

const decode = (chunks: ReadonlyArray<ArrayLike<number>>, maxFrameBytes = 1024) =>
  decodeStream(createSlipDecoder, chunks, maxFrameBytes);

describe('SLIP', () => {
  it('encodes END and ESC inside a frame as escape pairs, framed by END', () => {
    assert.deepEqual(Array.from(slipEncode(Uint8Array.from([1, END, 2, ESC, 3]))), [
      END,
      1,
      ESC,
      ESC_END,
      2,
      ESC,
      ESC_ESC,
      3,
      END,
    ]);
    assert.deepEqual(Array.from(slipEncode(new Uint8Array(0))), [END, END]);
  });

  it('round-trips a frame made only of END and ESC bytes', () => {
    const frame = [END, ESC, ESC, END, END, ESC_END, ESC_ESC];
    const { frames, errors } = decode([slipEncode(Uint8Array.from(frame))]);
    assert.deepEqual(frames, [frame]);
    assert.deepEqual(errors, []);
  });

  it('decodes a frame without a leading END (RFC 1055 senders)', () => {
    assert.deepEqual(decode([[1, 2, 3, END]]).frames, [[1, 2, 3]]);
  });

  it('ignores empty frames (double END)', () => {
    const { frames, errors } = decode([[END, END, END, 1, END, END, 2, END, END]]);
    assert.deepEqual(frames, [[1], [2]]);
    assert.deepEqual(errors, []);
  });

  it('holds an unfinished frame until its END arrives', () => {
    const d = decode([[END, 1, 2]]);
    assert.deepEqual(d.frames, []);
    assert.deepEqual(
      decode([
        [END, 1, 2],
        [3, END],
      ]).frames,
      [[1, 2, 3]],
    );
  });

  it('an escape split across chunks', () => {
    assert.deepEqual(
      decode([
        [END, 7, ESC],
        [ESC_END, 8, END],
      ]).frames,
      [[7, END, 8]],
    );
  });

  it('drops an oversize frame with "oversize" and decodes the next one', () => {
    const { frames, errors } = decode([[END, 1, 2, 3, 4, 5, END, 6, 7, 8, 9, END]], 4);
    assert.deepEqual(errors, ['oversize']);
    assert.deepEqual(frames, [[6, 7, 8, 9]]);
  });

  it('a frame of exactly maxFrameBytes is accepted, escaped bytes counted decoded', () => {
    const { frames, errors } = decode([slipEncode(Uint8Array.from([END, ESC, END, ESC]))], 4);
    assert.deepEqual(errors, []);
    assert.deepEqual(frames, [[END, ESC, END, ESC]]);
  });

  it('reports oversize once per frame, however long it runs', () => {
    const long = new Array(5000).fill(0x41);
    const { frames, errors } = decode([[END, ...long], long, [END, 0x42, END]], 16);
    assert.deepEqual(errors, ['oversize']);
    assert.deepEqual(frames, [[0x42]]);
  });

  it('a bad escape drops the frame with "bad-escape" and decoding resumes after the next END', () => {
    // ESC followed by 0x01 is not a valid escape.
    const { frames, errors } = decode([[END, 1, ESC, 0x01, 2, ESC, ESC_END, 3, END, 4, 5, END]]);
    assert.deepEqual(errors, ['bad-escape']);
    assert.deepEqual(frames, [[4, 5]]);
  });

  it('a frame ending inside an escape is a bad escape', () => {
    const { frames, errors } = decode([[END, 1, ESC, END, 2, END]]);
    assert.deepEqual(errors, ['bad-escape']);
    assert.deepEqual(frames, [[2]]);
  });

  it('property: frames survive any split into chunks', () => {
    const frameArb = fc.uint8Array({ minLength: 1, maxLength: 64 }).chain((f) =>
      // Bias towards END and ESC so escaping is exercised in most frames.
      fc.array(fc.constantFrom(END, ESC, ESC_END, ESC_ESC), { maxLength: 8 }).map((extra) => {
        const out = new Uint8Array(f.length + extra.length);
        out.set(f);
        out.set(extra, f.length);
        return out;
      }),
    );
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (sent, cutsRaw) => {
          const stream = Uint8Array.from(sent.flatMap((f) => Array.from(slipEncode(f))));
          const cuts = [...new Set(cutsRaw.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const chunks: Uint8Array[] = [];
          let prev = 0;
          for (const c of [...cuts, stream.length]) {
            chunks.push(stream.subarray(prev, c));
            prev = c;
          }
          const { frames, errors } = decode(chunks, 128);
          assert.deepEqual(errors, []);
          assert.deepEqual(
            frames,
            sent.map((f) => Array.from(f)),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('property: arbitrary bytes never throw and every frame respects the limit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }),
        fc.integer({ min: 1, max: 32 }),
        (chunks, max) => {
          const { frames, errors } = decode(chunks, max);
          for (const f of frames) {
            assert.ok(f.length >= 1 && f.length <= max);
          }
          for (const e of errors) assert.ok(e === 'oversize' || e === 'bad-escape');
        },
      ),
      { numRuns: 1000 },
    );
  });
});
