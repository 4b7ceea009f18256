import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeOscPacket, encodeOscPacket, oscMessage } from '../../../protocols/osc/codec.ts';
import type { OscPacket } from '../../../protocols/osc/types.ts';

// The decoder hands back one string per address it has seen (protocols/osc/v1/decode.ts,
// addressText): a table of a few hundred slots, so different addresses share slots and evict
// each other. What must hold whatever the table holds: every packet decodes to its own address.

const LIMITS = { maxBytes: 65536, maxDepth: 8 };

function addressOf(address: string, raw?: Uint8Array): string {
  const bytes = raw ?? encodeOscPacket(oscMessage(address, [{ type: 'f', value: 0.5 }]));
  const r = decodeOscPacket(bytes, LIMITS);
  assert.ok(r.ok, `${address}: ${!r.ok && r.error.message}`);
  return (r.packet as Extract<OscPacket, { kind: 'message' }>).address;
}

/** A message whose address bytes are given as they are (possibly not UTF-8), with one float. */
function rawMessage(addressBytes: number[]): Uint8Array {
  const padded = (n: number) => (n + 4) & ~3;
  const out = new Uint8Array(padded(addressBytes.length) + 4 + 4);
  out.set(addressBytes, 0);
  const tags = padded(addressBytes.length);
  out.set([0x2c, 0x66, 0, 0], tags);
  new DataView(out.buffer).setFloat32(tags + 4, 0.5);
  return out;
}

describe('OSC address decoding, with its table of known addresses', () => {
  it('4,000 addresses, more than the table has slots, each decode to themselves in any order, again and again', () => {
    const addresses = Array.from({ length: 4000 }, (_, i) => `/layer/${i % 97}/param${i}`);
    for (const order of [1, 7, 4001 - 1]) {
      for (let k = 0; k < addresses.length; k++) {
        const a = addresses[(k * order) % addresses.length]!;
        assert.equal(addressOf(a), a);
      }
    }
  });

  it('addresses one byte apart, of the same length, alternate without being taken for each other', () => {
    const pairs = [
      ['/layer/1/opacity', '/layer/2/opacity'],
      ['/a', '/b'],
      ['/fader/10', '/fader/01'],
    ];
    for (const [x, y] of pairs)
      for (let i = 0; i < 500; i++) {
        assert.equal(addressOf(x!), x);
        assert.equal(addressOf(y!), y);
      }
  });

  it('UTF-8, bytes that are not UTF-8, and long addresses decode as before, between ASCII ones of the same length', () => {
    const utf8 = '/couleur/é'; // 11 bytes: an ASCII address of 11 bytes may share its slot
    const ascii = '/couleur/ee';
    assert.equal(Buffer.byteLength(utf8), Buffer.byteLength(ascii));
    for (let i = 0; i < 50; i++) {
      assert.equal(addressOf(utf8), utf8);
      assert.equal(addressOf(ascii), ascii);
    }
    // Latin-1 é alone is not UTF-8: decoded with a replacement character, as Buffer#toString does.
    const notUtf8 = [0x2f, 0x63, 0xe9];
    assert.equal(addressOf('', rawMessage(notUtf8)), Buffer.from(notUtf8).toString('utf8'));
    assert.equal(addressOf('/c\u00e9'), '/c\u00e9');
    const long = `/${'x'.repeat(300)}/end`;
    for (let i = 0; i < 3; i++) assert.equal(addressOf(long), long);
  });
});
