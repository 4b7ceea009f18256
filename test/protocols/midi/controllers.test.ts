import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  createCc14Assembler,
  createParameterNumberAssembler,
  decodeRelative,
} from '../../../protocols/midi/controllers.ts';
import { encodeControl } from '../../../protocols/midi/encoder.ts';

describe('14-bit CC', () => {
  it('combines MSB then LSB (the usual order)', () => {
    const a = createCc14Assembler();
    assert.deepEqual(a.push(0, 7, 0x40, 0), { controller: 7, value: 0x40 << 7 });
    assert.deepEqual(a.push(0, 39, 0x21, 0.5), { controller: 7, value: (0x40 << 7) | 0x21 });
  });

  it('combines LSB then MSB when they arrive together, instead of losing the LSB to the reset', () => {
    const a = createCc14Assembler(20);
    a.push(0, 7, 0x10, 0); // an earlier, complete position
    a.push(0, 39, 0x05, 1000);
    assert.deepEqual(a.push(0, 7, 0x41, 1001), { controller: 7, value: (0x41 << 7) | 0x05 });
  });

  it('serves controllers that send no LSB: a new MSB resets the fine part', () => {
    const a = createCc14Assembler();
    a.push(2, 1, 10, 0);
    a.push(2, 33, 99, 1);
    assert.deepEqual(a.push(2, 1, 11, 500), { controller: 1, value: 11 << 7 });
    assert.deepEqual(a.push(2, 1, 12, 1000), { controller: 1, value: 12 << 7 });
  });

  it('keeps channels and controllers apart, and ignores CC 64 and up', () => {
    const a = createCc14Assembler();
    a.push(0, 1, 1, 0);
    a.push(1, 1, 2, 0);
    assert.deepEqual(a.push(0, 33, 3, 1), { controller: 1, value: (1 << 7) | 3 });
    assert.equal(a.push(0, 64, 127, 2), undefined);
  });

  it('reads back exactly what the encoder wrote, for every 14-bit value', () => {
    fc.assert(
      fc.property(fc.nat(31), fc.nat(15), fc.nat(16383), (controller, channel, value) => {
        const a = createCc14Assembler();
        const bytes = encodeControl('cc14', channel, controller, value);
        a.push(channel, bytes[1]!, bytes[2]!, 0);
        assert.deepEqual(a.push(channel, bytes[4]!, bytes[5]!, 0.1), { controller, value });
      }),
    );
  });
});

describe('NRPN and RPN', () => {
  it('assembles NRPN number and data entry MSB then LSB', () => {
    const a = createParameterNumberAssembler();
    assert.equal(a.push(0, 99, 4), undefined);
    assert.equal(a.push(0, 98, 0), undefined);
    assert.deepEqual(a.push(0, 6, 64), { channel: 0, kind: 'nrpn', number: 512, value: 64 << 7 });
    assert.deepEqual(a.push(0, 38, 9), { channel: 0, kind: 'nrpn', number: 512, value: (64 << 7) | 9 });
  });

  it('steps with increment/decrement and clamps', () => {
    const a = createParameterNumberAssembler();
    a.push(3, 101, 0);
    a.push(3, 100, 0);
    a.push(3, 6, 0);
    assert.deepEqual(a.push(3, 97, 1), { channel: 3, kind: 'rpn', number: 0, value: 0 });
    assert.deepEqual(a.push(3, 96, 1), { channel: 3, kind: 'rpn', number: 0, value: 1 });
  });

  it('does nothing after RPN null (127/127) or before any selection', () => {
    const a = createParameterNumberAssembler();
    assert.equal(a.push(0, 6, 1), undefined);
    a.push(0, 101, 127);
    a.push(0, 100, 127);
    assert.equal(a.push(0, 6, 1), undefined);
    assert.equal(a.push(0, 38, 1), undefined);
  });

  it('round-trips the encoder’s NRPN and RPN sequences', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('nrpn' as const, 'rpn' as const),
        fc.nat(16382),
        fc.nat(16383),
        (kind, number, value) => {
          const a = createParameterNumberAssembler();
          const b = encodeControl(kind, 0, number, value);
          let last: unknown;
          for (let i = 0; i < b.length; i += 3) last = a.push(0, b[i + 1]!, b[i + 2]!) ?? last;
          assert.deepEqual(last, { channel: 0, kind, number, value });
        },
      ),
    );
  });
});

describe('relative encoders', () => {
  it('decodes the three usual encodings', () => {
    assert.deepEqual(
      [1, 63, 127, 65, 0].map((v) => decodeRelative(v, 'twosComplement')),
      [1, 63, -1, -63, 0],
    );
    assert.deepEqual(
      [65, 64, 63, 127, 0].map((v) => decodeRelative(v, 'offset64')),
      [1, 0, -1, 63, -64],
    );
    assert.deepEqual(
      [1, 65, 0, 127].map((v) => decodeRelative(v, 'signBit')),
      [1, -1, 0, -63],
    );
  });
});
