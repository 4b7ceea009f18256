import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  createCc14Assembler,
  createParameterNumberAssembler,
  decodeRelative,
  type RelativeEncoding,
} from '../../../protocols/midi/controllers.ts';
import { encodeControl } from '../../../protocols/midi/encoder.ts';

const v14 = (msb: number, lsb: number) => (msb << 7) | lsb;

describe('14-bit CC', () => {
  it('combines MSB then LSB (the usual order): MSB<<7 first, then refined', () => {
    const a = createCc14Assembler();
    assert.deepEqual(a.push(0, 7, 0x40), { channel: 0, controller: 7, value: v14(0x40, 0) });
    assert.deepEqual(a.push(0, 39, 0x21), { channel: 0, controller: 7, value: v14(0x40, 0x21) });
    // The next MSB resets the LSB (MIDI 1.0), then its LSB refines it.
    assert.deepEqual(a.push(0, 7, 0x41), { channel: 0, controller: 7, value: v14(0x41, 0) });
    assert.deepEqual(a.push(0, 39, 0x02), { channel: 0, controller: 7, value: v14(0x41, 2) });
  });

  it('combines LSB then MSB instead of losing the LSB to the reset', () => {
    const a = createCc14Assembler();
    assert.equal(a.push(0, 39, 0x05), undefined); // no MSB yet: nothing to refine
    assert.deepEqual(a.push(0, 7, 0x41), { channel: 0, controller: 7, value: v14(0x41, 5) });
    // Next pair: the LSB alone briefly refines the old MSB, the MSB completes the pair.
    assert.deepEqual(a.push(0, 39, 0x06), { channel: 0, controller: 7, value: v14(0x41, 6) });
    assert.deepEqual(a.push(0, 7, 0x42), { channel: 0, controller: 7, value: v14(0x42, 6) });
  });

  it('serves controllers that send no LSB', () => {
    const a = createCc14Assembler();
    assert.deepEqual(a.push(2, 1, 10), { channel: 2, controller: 1, value: 10 << 7 });
    assert.deepEqual(a.push(2, 1, 11), { channel: 2, controller: 1, value: 11 << 7 });
    assert.deepEqual(a.push(2, 1, 127), { channel: 2, controller: 1, value: 127 << 7 });
  });

  it('lets an LSB alone update the low bits of the last MSB', () => {
    const a = createCc14Assembler();
    a.push(0, 3, 10);
    a.push(0, 35, 1);
    assert.deepEqual(a.push(0, 35, 2), { channel: 0, controller: 3, value: v14(10, 2) });
    assert.deepEqual(a.push(0, 35, 127), { channel: 0, controller: 3, value: v14(10, 127) });
  });

  it('does not pair an LSB with an MSB when another CC came between them', () => {
    const a = createCc14Assembler();
    a.push(0, 39, 5);
    a.push(0, 64, 127);
    assert.deepEqual(a.push(0, 7, 1), { channel: 0, controller: 7, value: 1 << 7 });
  });

  it('with timestamps, does not pair an LSB with an MSB that comes after the pair window', () => {
    const a = createCc14Assembler({ pairWindowMs: 20 });
    a.push(0, 39, 5, 1000);
    assert.deepEqual(a.push(0, 7, 1, 1100), { channel: 0, controller: 7, value: 1 << 7 });
    a.push(0, 39, 6, 2000);
    assert.deepEqual(a.push(0, 7, 2, 2001), { channel: 0, controller: 7, value: v14(2, 6) });
  });

  it('keeps channels and controllers apart, and ignores CC 64 and up', () => {
    const a = createCc14Assembler();
    a.push(0, 1, 1);
    a.push(1, 1, 2);
    a.push(0, 2, 9);
    assert.deepEqual(a.push(0, 33, 3), { channel: 0, controller: 1, value: v14(1, 3) });
    assert.deepEqual(a.push(1, 33, 4), { channel: 1, controller: 1, value: v14(2, 4) });
    for (let c = 64; c < 128; c++) assert.equal(a.push(0, c, 127), undefined);
  });

  it('reset() forgets everything', () => {
    const a = createCc14Assembler();
    a.push(0, 1, 1);
    a.reset();
    assert.equal(a.push(0, 33, 3), undefined);
  });

  it('throws RangeError for inputs outside MIDI ranges (programmer errors)', () => {
    const a = createCc14Assembler();
    assert.throws(() => a.push(16, 1, 1), RangeError);
    assert.throws(() => a.push(0, 128, 1), RangeError);
    assert.throws(() => a.push(0, 1, 128), RangeError);
    assert.throws(() => a.push(0, 1, 0.5), RangeError);
    assert.throws(() => createCc14Assembler({ pairWindowMs: -1 }), RangeError);
  });

  it('property: an MSB-first stream yields MSB<<7 then the exact value, for every pair', () => {
    fc.assert(
      fc.property(
        fc.nat(15),
        fc.array(fc.tuple(fc.nat(31), fc.nat(16383)), { minLength: 1, maxLength: 30 }),
        (channel, pairs) => {
          const a = createCc14Assembler();
          for (const [controller, value] of pairs) {
            assert.deepEqual(a.push(channel, controller, value >> 7), {
              channel,
              controller,
              value: value & ~0x7f,
            });
            assert.deepEqual(a.push(channel, controller + 32, value & 0x7f), { channel, controller, value });
          }
        },
      ),
    );
  });

  it('property: an LSB-first stream yields the exact value after every MSB', () => {
    fc.assert(
      fc.property(
        fc.nat(15),
        fc.array(fc.tuple(fc.nat(31), fc.nat(16383)), { minLength: 1, maxLength: 30 }),
        (channel, pairs) => {
          const a = createCc14Assembler();
          for (const [controller, value] of pairs) {
            a.push(channel, controller + 32, value & 0x7f);
            assert.deepEqual(a.push(channel, controller, value >> 7), { channel, controller, value });
          }
        },
      ),
    );
  });

  it('property: reads back what the encoder writes for feedback', () => {
    fc.assert(
      fc.property(fc.nat(31), fc.nat(15), fc.nat(16383), (controller, channel, value) => {
        const a = createCc14Assembler();
        const b = encodeControl('cc14', channel, controller, value);
        a.push(channel, b[1]!, b[2]!);
        assert.deepEqual(a.push(channel, b[4]!, b[5]!), { channel, controller, value });
      }),
    );
  });

  it('property: never throws on 7-bit input and yields only 14-bit values of CC 0–31', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(15), fc.nat(127), fc.nat(127))), (ccs) => {
        const a = createCc14Assembler();
        for (const [channel, controller, value] of ccs) {
          const r = a.push(channel, controller, value);
          if (r === undefined) continue;
          assert.ok(controller < 64 && r.controller === (controller & 31) && r.channel === channel);
          assert.ok(Number.isInteger(r.value) && r.value >= 0 && r.value <= 16383);
        }
      }),
    );
  });
});

describe('NRPN and RPN', () => {
  it('assembles an NRPN number and data entry MSB then LSB', () => {
    const a = createParameterNumberAssembler();
    assert.equal(a.push(0, 99, 4), undefined);
    assert.equal(a.push(0, 98, 0), undefined);
    assert.deepEqual(a.push(0, 6, 64), { channel: 0, kind: 'nrpn', number: 512, value: v14(64, 0) });
    assert.deepEqual(a.push(0, 38, 9), { channel: 0, kind: 'nrpn', number: 512, value: v14(64, 9) });
  });

  it('assembles an RPN (pitch bend sensitivity: RPN 0, 2 semitones 50 cents)', () => {
    const a = createParameterNumberAssembler();
    a.push(5, 101, 0);
    a.push(5, 100, 0);
    assert.deepEqual(a.push(5, 6, 2), { channel: 5, kind: 'rpn', number: 0, value: v14(2, 0) });
    assert.deepEqual(a.push(5, 38, 50), { channel: 5, kind: 'rpn', number: 0, value: v14(2, 50) });
  });

  it('keeps the data value when the same parameter is selected again, and an LSB alone refines it', () => {
    const a = createParameterNumberAssembler();
    for (const [c, v] of [
      [99, 1],
      [98, 2],
      [6, 10],
      [99, 1],
      [98, 2],
    ]) {
      a.push(0, c!, v!);
    }
    assert.deepEqual(a.push(0, 38, 7), { channel: 0, kind: 'nrpn', number: v14(1, 2), value: v14(10, 7) });
  });

  it('forgets the data value when a different parameter is selected', () => {
    const a = createParameterNumberAssembler();
    a.push(0, 99, 0);
    a.push(0, 98, 1);
    a.push(0, 6, 10);
    a.push(0, 98, 2);
    assert.equal(a.push(0, 38, 5), undefined);
    assert.equal(a.push(0, 96, 0), undefined);
  });

  it('pairs a data entry LSB sent just before its MSB', () => {
    const a = createParameterNumberAssembler();
    a.push(0, 99, 0);
    a.push(0, 98, 1);
    assert.equal(a.push(0, 38, 5), undefined);
    assert.deepEqual(a.push(0, 6, 10), { channel: 0, kind: 'nrpn', number: 1, value: v14(10, 5) });
  });

  it('steps with increment/decrement, clamped to 0..16383, ignoring their data byte', () => {
    const a = createParameterNumberAssembler();
    a.push(3, 101, 0);
    a.push(3, 100, 0);
    assert.equal(a.push(3, 96, 127), undefined); // value not known yet
    a.push(3, 6, 0);
    assert.deepEqual(a.push(3, 97, 127), { channel: 3, kind: 'rpn', number: 0, value: 0 });
    assert.deepEqual(a.push(3, 96, 0), { channel: 3, kind: 'rpn', number: 0, value: 1 });
    a.push(3, 6, 127);
    a.push(3, 38, 126);
    assert.deepEqual(a.push(3, 96, 127), { channel: 3, kind: 'rpn', number: 0, value: 16383 });
    assert.deepEqual(a.push(3, 96, 127), { channel: 3, kind: 'rpn', number: 0, value: 16383 });
    assert.deepEqual(a.push(3, 97, 127), { channel: 3, kind: 'rpn', number: 0, value: 16382 });
    // The step carries into the MSB: an LSB alone now refines MSB 127.
    assert.deepEqual(a.push(3, 38, 0), { channel: 3, kind: 'rpn', number: 0, value: v14(127, 0) });
  });

  it('does nothing before any selection, with half a number, or after RPN null (127/127)', () => {
    const a = createParameterNumberAssembler();
    assert.equal(a.push(0, 6, 1), undefined);
    assert.equal(a.push(0, 38, 1), undefined);
    a.push(0, 99, 3); // NRPN MSB only
    assert.equal(a.push(0, 6, 1), undefined);
    a.push(0, 98, 4);
    assert.deepEqual(a.push(0, 6, 1), { channel: 0, kind: 'nrpn', number: v14(3, 4), value: 1 << 7 });
    a.push(0, 101, 127);
    a.push(0, 100, 127);
    assert.equal(a.push(0, 6, 1), undefined);
    assert.equal(a.push(0, 38, 1), undefined);
    assert.equal(a.push(0, 96, 0), undefined);
    a.push(0, 100, 0); // RPN 127/0 is a real parameter again
    assert.deepEqual(a.push(0, 6, 2), { channel: 0, kind: 'rpn', number: v14(127, 0), value: 2 << 7 });
  });

  it('keeps channels apart and ignores other controllers', () => {
    const a = createParameterNumberAssembler();
    a.push(0, 99, 0);
    a.push(0, 98, 1);
    assert.equal(a.push(1, 6, 1), undefined);
    assert.equal(a.push(0, 7, 1), undefined);
    assert.deepEqual(a.push(0, 6, 1), { channel: 0, kind: 'nrpn', number: 1, value: 1 << 7 });
  });

  it('throws RangeError for inputs outside MIDI ranges', () => {
    const a = createParameterNumberAssembler();
    assert.throws(() => a.push(16, 6, 1), RangeError);
    assert.throws(() => a.push(0, 6, 128), RangeError);
  });

  it('property: reads back the encoder’s NRPN and RPN sequences, with data entry in either order', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('nrpn' as const, 'rpn' as const),
        fc.nat(15),
        fc.nat(16383),
        fc.nat(16383),
        fc.boolean(),
        (kind, channel, number, value, lsbFirst) => {
          fc.pre(!(kind === 'rpn' && number === 16383)); // RPN null selects nothing
          const a = createParameterNumberAssembler();
          const b = encodeControl(kind, channel, number, value);
          const order = lsbFirst ? [0, 1, 3, 2] : [0, 1, 2, 3];
          let last: unknown;
          for (const m of order) last = a.push(channel, b[m * 3 + 1]!, b[m * 3 + 2]!) ?? last;
          assert.deepEqual(last, { channel, kind, number, value });
        },
      ),
    );
  });

  it('property: never throws on 7-bit input and yields only 14-bit numbers and values', () => {
    const controller = fc.oneof(fc.constantFrom(6, 38, 96, 97, 98, 99, 100, 101), fc.nat(127));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(15), controller, fc.nat(127)), { maxLength: 200 }), (ccs) => {
        const a = createParameterNumberAssembler();
        for (const [channel, c, value] of ccs) {
          const r = a.push(channel, c, value);
          if (r === undefined) continue;
          assert.ok([6, 38, 96, 97].includes(c) && r.channel === channel);
          assert.ok(r.number >= 0 && r.number <= 16383 && r.value >= 0 && r.value <= 16383);
          if (r.kind === 'rpn') assert.notEqual(r.number, 16383);
        }
      }),
    );
  });
});

describe('relative encoders', () => {
  const decode = (encoding: RelativeEncoding, values: number[]) =>
    values.map((v) => decodeRelative(v, encoding));

  it('twosComplement: 1..63 up, 127..65 down 1..63', () => {
    assert.deepEqual(
      decode('twosComplement', [0, 1, 2, 63, 127, 126, 65, 64]),
      [0, 1, 2, 63, -1, -2, -63, -64],
    );
  });

  it('offset64 (binary offset): 64 is zero', () => {
    assert.deepEqual(decode('offset64', [64, 65, 63, 127, 0, 66]), [0, 1, -1, 63, -64, 2]);
  });

  it('signBit: bit 6 is the sign, the low 6 bits the size', () => {
    assert.deepEqual(decode('signBit', [0, 1, 63, 65, 66, 127]), [0, 1, 63, -1, -2, -63]);
    assert.ok(Object.is(decodeRelative(64, 'signBit'), 0), '64 is zero, not -0');
  });

  it('property: every 7-bit value decodes to an integer step, never -0; only the low 7 bits count', () => {
    fc.assert(
      fc.property(
        fc.nat(127),
        fc.constantFrom<RelativeEncoding>('twosComplement', 'offset64', 'signBit'),
        fc.nat(200),
        (v, encoding, high) => {
          const d = decodeRelative(v, encoding);
          assert.ok(Number.isInteger(d) && d >= -64 && d <= 63 && !Object.is(d, -0));
          assert.equal(decodeRelative(v + (high << 7), encoding), d);
        },
      ),
    );
  });

  it('property: offset64 and twosComplement are one-to-one over 7 bits', () => {
    for (const encoding of ['offset64', 'twosComplement'] as const) {
      const all = new Set(Array.from({ length: 128 }, (_, v) => decodeRelative(v, encoding)));
      assert.equal(all.size, 128);
    }
  });
});
