import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  deviceIdFromCertDer,
  formatDeviceId,
  luhn32,
  parseDeviceId,
  requireDeviceId,
  shortId,
} from '../../trust-store/device-id.ts';

// Device IDs are read off screens and typed by people: the check characters must catch every
// single-character slip, and parsing must forgive the harmless ones.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// Expected strings computed independently with Python (base64.b32encode, and a Luhn mod 32
// written as "find the character that makes the validation sum 0 mod 32").
const VECTOR_INPUT = new TextEncoder().encode('hana device id test vector');
const VECTOR_SHA256 = '9025aecbcb56eb4a2ab31ddce6960fb84da495fcbad5bac2fa15c77f988e2929';
const VECTOR_ID = 'SAS25S6-LK3VUUQ-KVTDXOO-NFQPXBW-G2JFP4X-LK3VQXW-2CXDX7G-EOFEUQ3';
const COUNTING_ID = 'AAAQEAY-EAUDAO5-CAJBIFQ-YDIOB4X-IBCEQTC-QKRMFYM-YDENBWH-A5DYPQS'; // bytes 0..31

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

function parsed(text: string): string {
  const r = parseDeviceId(text);
  if (!r.ok) assert.fail(r.error);
  return r.id;
}

function parseError(text: string): string {
  const r = parseDeviceId(text);
  if (r.ok) assert.fail(`expected ${JSON.stringify(text)} to be refused, got ${r.id}`);
  return r.error;
}

describe('formatDeviceId', () => {
  it('matches independently computed vectors', () => {
    assert.equal(createHash('sha256').update(VECTOR_INPUT).digest('hex'), VECTOR_SHA256);
    assert.equal(deviceIdFromCertDer(VECTOR_INPUT), VECTOR_ID);
    assert.equal(formatDeviceId(Buffer.from(VECTOR_SHA256, 'hex')), VECTOR_ID);
    assert.equal(formatDeviceId(Uint8Array.from({ length: 32 }, (_, i) => i)), COUNTING_ID);
    assert.equal(formatDeviceId(new Uint8Array(32)), Array(8).fill('AAAAAAA').join('-'));
  });

  it('is 8 groups of 7 base32 characters', () => {
    fc.assert(
      fc.property(bytes32, (b) => {
        assert.match(formatDeviceId(b), /^[A-Z2-7]{7}(-[A-Z2-7]{7}){7}$/);
      }),
    );
  });

  it('refuses anything but 32 bytes', () => {
    assert.throws(() => formatDeviceId(new Uint8Array(31)), RangeError);
    assert.throws(() => formatDeviceId(new Uint8Array(33)), RangeError);
  });

  it('uses the textbook Luhn mod N (rightmost character doubled)', () => {
    // "B" (1) alone: doubled to 2, check = 32 - 2 = 30 = "6". "BA": B is not doubled: 32 - 1 = 31 = "7".
    assert.equal(luhn32('B'), '6');
    assert.equal(luhn32('BA'), '7');
    // 2 * 17 = 34 folds to 1 + 2 = 3, check = 29 = "5".
    assert.equal(luhn32('R'), '5');
  });
});

describe('parseDeviceId', () => {
  it('round-trips every formatted ID, with and without check characters', () => {
    fc.assert(
      fc.property(bytes32, (b) => {
        const id = formatDeviceId(b);
        assert.equal(parsed(id), id);
        const bare = id.replace(/-/g, '').replace(/(.{13})./g, '$1');
        assert.equal(bare.length, 52);
        assert.equal(parsed(bare), id);
      }),
    );
  });

  it('detects every single-character substitution', () => {
    fc.assert(
      fc.property(bytes32, fc.nat(55), fc.integer({ min: 1, max: 31 }), (b, pos, shift) => {
        const chars = formatDeviceId(b).replace(/-/g, '').split('');
        const original = chars[pos]!;
        chars[pos] = ALPHABET[(ALPHABET.indexOf(original) + shift) % 32]!;
        const chunk = Math.floor(pos / 14) + 1;
        const error = parseError(chars.join(''));
        assert.match(error, new RegExp(`check character ${chunk} does not match`));
        assert.match(error, new RegExp(`group ${2 * chunk - 1} or ${2 * chunk}`));
      }),
      { numRuns: 2000 },
    );
  });

  it('checks every position of one ID exhaustively', () => {
    const chars = VECTOR_ID.replace(/-/g, '');
    for (let pos = 0; pos < chars.length; pos++) {
      for (const c of ALPHABET) {
        if (c === chars[pos]) continue;
        const typo = chars.slice(0, pos) + c + chars.slice(pos + 1);
        assert.equal(parseDeviceId(typo).ok, false, `${typo} was accepted`);
      }
    }
  });

  it('forgives case, separators, spaces and look-alike digits', () => {
    assert.equal(parsed(VECTOR_ID.toLowerCase()), VECTOR_ID);
    assert.equal(parsed(VECTOR_ID.replace(/-/g, ' ')), VECTOR_ID);
    assert.equal(parsed(` ${VECTOR_ID.replace(/-/g, '')}\n`), VECTOR_ID);
    assert.equal(parsed(VECTOR_ID.replace(/-/g, '--').replace(/(.{3})/g, '$1 ')), VECTOR_ID);
    // The counting ID has O, I and B in it; typed as 0, 1 and 8 it still parses.
    const digits = COUNTING_ID.replace(/O/g, '0').replace(/I/g, '1').replace(/B/g, '8');
    assert.notEqual(digits, COUNTING_ID);
    assert.equal(parsed(digits), COUNTING_ID);
    assert.equal(parsed(digits.toLowerCase()), COUNTING_ID);
  });

  it('upper-cases ASCII only: no Unicode case mapping sneaks letters in', () => {
    const flat = VECTOR_ID.replace(/-/g, '');
    const i = flat.indexOf('S', 1);
    assert.match(
      parseError(`${flat.slice(0, i)}ſ${flat.slice(i + 1)}`),
      /"ſ" in group \d is not part of a device ID/,
    );
    assert.match(parseError(COUNTING_ID.replace('I', 'ı')), /"ı" in group \d/);
  });

  it('refuses wrong lengths with the count it got', () => {
    const flat = VECTOR_ID.replace(/-/g, '');
    assert.match(
      parseError(flat.slice(0, 55)),
      /has 56 characters \(or 52 without check characters\), got 55/,
    );
    assert.match(parseError(`${flat}A`), /got 57/);
    assert.match(parseError(flat.slice(0, 51)), /got 51/);
    assert.match(parseError(flat.slice(0, 53)), /got 53/);
    assert.match(parseError(''), /empty/);
    assert.match(parseError(' - - '), /empty/);
  });

  it('names a character that cannot be in an ID', () => {
    const flat = VECTOR_ID.replace(/-/g, '');
    assert.match(
      parseError(`${flat.slice(0, 20)}9${flat.slice(21)}`),
      /"9" in group 3 is not part of a device ID/,
    );
    assert.match(parseError('AB@'), /"@" at position 3/);
  });

  it('refuses a last character with pad bits set: two spellings would name one device', () => {
    const bare = VECTOR_ID.replace(/-/g, '').replace(/(.{13})./g, '$1');
    assert.equal(bare.at(-1), 'Q');
    assert.match(parseError(`${bare.slice(0, 51)}R`), /last character .* can only be A or Q/);
  });
});

describe('requireDeviceId and shortId', () => {
  it('throws with a stable code', () => {
    assert.equal(requireDeviceId(VECTOR_ID.toLowerCase()), VECTOR_ID);
    assert.throws(
      () => requireDeviceId('nope', 'peer ID'),
      (err: Error & { code?: string }) =>
        err.code === 'invalid-device-id' && /invalid peer ID "nope"/.test(err.message),
    );
  });

  it('is the first group', () => {
    assert.equal(shortId(VECTOR_ID), 'SAS25S6');
    assert.equal(shortId('ABCDEFGHIJ'), 'ABCDEFG');
  });
});
