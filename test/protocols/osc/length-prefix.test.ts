import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { framingOf } from '../../../protocols/osc/framing.ts';
import { createLengthPrefixDecoder, lengthPrefixEncode } from '../../../protocols/osc/length-prefix.ts';
import { decodeStream } from './osc-test-helpers.ts';

// OSC 1.0 stream framing (a 32-bit big-endian size before each packet), as liblo's TCP sends it.

const decode = (chunks: ReadonlyArray<ArrayLike<number>>, maxFrameBytes = 1024) =>
  decodeStream(createLengthPrefixDecoder, chunks, maxFrameBytes);

describe('length-prefixed OSC frames', () => {
  it('encodes a packet behind its size, big-endian', () => {
    assert.deepEqual(Array.from(lengthPrefixEncode(Uint8Array.from([1, 2, 3, 4]))), [0, 0, 0, 4, 1, 2, 3, 4]);
  });

  it('gives back every frame whatever the chunking, and holds nothing between frames', () => {
    const packets = fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(packets, fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 30 }), (ps, cuts) => {
        const stream = Buffer.concat(ps.map(lengthPrefixEncode));
        const chunks: Uint8Array[] = [];
        let at = 0;
        for (const c of cuts) {
          if (at >= stream.length) break;
          chunks.push(stream.subarray(at, at + c));
          at += c;
        }
        if (at < stream.length) chunks.push(stream.subarray(at));
        const r = decode(chunks);
        assert.deepEqual(
          r.frames,
          ps.map((p) => Array.from(p)),
        );
        assert.deepEqual(r.errors, []);
        assert.equal(r.partial, false);
      }),
      { numRuns: 300 },
    );
  });

  it('is partial while a size or a frame is half-received', () => {
    assert.equal(decode([[0, 0]]).partial, true, 'half a size');
    assert.equal(decode([[0, 0, 0, 8, 1, 2]]).partial, true, 'half a frame');
    assert.equal(decode([[0, 0, 0, 2, 1, 2]]).partial, false);
  });

  it('refuses a size over the limit or of zero, once, and reads nothing after it', () => {
    const over = decode([[0, 0, 4, 1, 9, 9, 9], lengthPrefixEncode(Uint8Array.of(1))], 1024);
    assert.deepEqual(over.errors, ['oversize']);
    assert.deepEqual(over.frames, []);
    assert.equal(over.partial, false);
    const huge = decode([[0xff, 0xff, 0xff, 0xff]]);
    assert.deepEqual(huge.errors, ['oversize'], 'read as unsigned, never as -1');
    const zero = decode([[0, 0, 0, 0], lengthPrefixEncode(Uint8Array.of(1))]);
    assert.deepEqual(zero.errors, ['empty-frame']);
    assert.deepEqual(zero.frames, []);
    assert.deepEqual(
      decode([lengthPrefixEncode(new Uint8Array(1024))]).frames.length,
      1,
      'the limit itself is fine',
    );
  });

  it('tells the framings apart by the first byte', () => {
    assert.equal(framingOf(0x00), 'length-prefix');
    assert.equal(framingOf(0xc0), 'slip');
    assert.equal(framingOf('/'.charCodeAt(0)), 'slip');
    assert.equal(framingOf('#'.charCodeAt(0)), 'slip');
  });
});
