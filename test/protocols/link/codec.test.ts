import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeDiscovery,
  encodeAnnouncement,
  encodeByeBye,
  type PeerState,
} from '../../../protocols/link/v1/discovery.ts';
import { microsPerBeat } from '../../../protocols/link/v1/entries.ts';
import { decodeMeasurement, encodePing, encodePong } from '../../../protocols/link/v1/measurement.ts';
import { DISCOVERY_HEADER_BYTES, MAX_MESSAGE_BYTES } from '../../../protocols/link/v1/wire.ts';

// The Link decoders are a trust boundary: anyone on the LAN can send to the multicast group.
// Whatever arrives they return a value or a refusal code, never throw, and what we encode
// decodes back to itself.

const state = (over: Partial<PeerState> = {}): PeerState => ({
  sessionId: '0123456789abcdef',
  timeline: { microsPerBeat: 500000, bpm: 120, beatOrigin: 4_250_000, timeOrigin: -123_456_789 },
  startStop: { playing: true, beats: 8_000_000, timestamp: 987_654_321 },
  measurement: { address: '10.77.0.1', port: 40123 },
  ...over,
});

/** Hand-built bytes, the way a Link peer lays them out, to check we read the real layout. */
function linkAlive(): Buffer {
  const hex = [
    '5f617364705f7601', // "_asdp_v" 1
    '01', // alive
    '05', // ttl 5 s
    '0000', // group 0
    'a1a2a3a4a5a6a7a8', // node id
    '746d6c6e',
    '00000018',
    '000000000007a120',
    '0000000000000000',
    '0000000000000064', // tmln 120 bpm
    '73657373',
    '00000008',
    'a1a2a3a4a5a6a7a8', // sess
    '73747374',
    '00000011',
    '00',
    '0000000000000000',
    '0000000000000000', // stst
    '61657034',
    '00000006',
    '0a4d0001',
    '1f90', // aep4: an entry we do not know is skipped
    '6d657034',
    '00000006',
    '0a4d0001',
    '9c7b', // mep4 10.77.0.1:40059
  ];
  return Buffer.from(hex.join(''), 'hex');
}

describe('Link discovery codec', () => {
  it('reads the layout a Link peer sends', () => {
    const d = decodeDiscovery(linkAlive());
    assert.ok(d.ok, JSON.stringify(d));
    assert.deepEqual(d.value, {
      type: 'alive',
      ttl: 5,
      nodeId: 'a1a2a3a4a5a6a7a8',
      state: {
        sessionId: 'a1a2a3a4a5a6a7a8',
        timeline: { microsPerBeat: 500000, bpm: 120, beatOrigin: 0, timeOrigin: 100 },
        startStop: { playing: false, beats: 0, timestamp: 0 },
        measurement: { address: '10.77.0.1', port: 40059 },
      },
    });
  });

  it('writes the same bytes for the same state', () => {
    const d = decodeDiscovery(linkAlive());
    assert.ok(d.ok && d.value.type === 'alive');
    const again = encodeAnnouncement('alive', 5, d.value.nodeId, d.value.state);
    const expected = Buffer.concat([linkAlive().subarray(0, 93), linkAlive().subarray(107)]);
    assert.deepEqual(Buffer.from(again), expected);
  });

  it('round-trips announcements and goodbyes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('alive' as const, 'response' as const),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: microsPerBeat(999), max: microsPerBeat(20) }),
        fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
        fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
        fc.boolean(),
        (type, ttl, mpb, beat, time, playing) => {
          const s = state({
            timeline: { microsPerBeat: mpb, bpm: 60e6 / mpb, beatOrigin: beat, timeOrigin: time },
            startStop: { playing, beats: time, timestamp: beat },
          });
          const d = decodeDiscovery(encodeAnnouncement(type, ttl, 'fedcba9876543210', s));
          assert.ok(d.ok);
          assert.deepEqual(d.value, { type, ttl, nodeId: 'fedcba9876543210', state: s });
        },
      ),
    );
    const bye = decodeDiscovery(encodeByeBye('0011223344556677'));
    assert.deepEqual(bye, { ok: true, value: { type: 'byebye', nodeId: '0011223344556677' } });
  });

  it('refuses every cut inside the header or an entry; a cut between entries keeps those before it', () => {
    const full = encodeAnnouncement('alive', 5, '0123456789abcdef', state());
    // Entry boundaries: after tmln (needs sess: refused), after sess, after stst.
    const afterSess = DISCOVERY_HEADER_BYTES + 32 + 16;
    const afterStst = afterSess + 25;
    for (let n = 0; n < full.length; n++) {
      const d = decodeDiscovery(full.subarray(0, n));
      if (n === afterSess) {
        assert.ok(d.ok && d.value.type === 'alive' && d.value.state.startStop === null, `cut at ${n}`);
      } else if (n === afterStst) {
        assert.ok(d.ok && d.value.type === 'alive' && d.value.state.measurement === null, `cut at ${n}`);
      } else {
        assert.equal(d.ok, false, `cut at ${n} of ${full.length} was accepted`);
      }
    }
  });

  it('refuses malformed datagrams with a reason', () => {
    const good = encodeAnnouncement('alive', 5, '0123456789abcdef', state());
    const edit = (f: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      f(b);
      return b;
    };
    const code = (b: Uint8Array) => {
      const d = decodeDiscovery(b);
      return d.ok ? 'accepted' : d.code;
    };
    assert.equal(code(new Uint8Array(MAX_MESSAGE_BYTES + 1)), 'oversize');
    assert.equal(code(Buffer.concat([good, Buffer.alloc(MAX_MESSAGE_BYTES)])), 'oversize');
    assert.equal(code(edit((b) => b.write('X', 0))), 'bad-magic');
    assert.equal(code(edit((b) => (b[7] = 2))), 'bad-magic'); // protocol version 2
    assert.equal(code(edit((b) => (b[8] = 9))), 'bad-type');
    assert.equal(code(edit((b) => b.writeUInt16BE(1, 10))), 'bad-group');
    // mep4 (the last entry) with 5 bytes and a size field saying 5.
    const shortMep = edit((b) => b.writeUInt32BE(5, good.length - 10)).subarray(0, good.length - 1);
    assert.equal(code(shortMep), 'bad-entry-size');
    assert.equal(code(edit((b) => b.writeUInt32BE(0xffffffff, 24))), 'truncated');
    // A tempo outside 20–999 bpm: 10 bpm and 1000 bpm.
    assert.equal(code(edit((b) => b.writeBigInt64BE(6_000_000n, 28))), 'bad-tempo');
    assert.equal(code(edit((b) => b.writeBigInt64BE(60_000n, 28))), 'bad-tempo');
    assert.equal(code(edit((b) => b.writeBigInt64BE(0n, 28))), 'bad-tempo');
    assert.equal(code(edit((b) => b.writeBigInt64BE(-500_000n, 28))), 'bad-tempo');
    assert.equal(code(edit((b) => b.writeBigInt64BE(2n ** 62n, 36))), 'bad-number');
    // stst's bool is one byte 0 or 1.
    assert.equal(code(edit((b) => (b[DISCOVERY_HEADER_BYTES + 48 + 8] = 7))), 'bad-number');
    // mep4 0.0.0.0 or port 0.
    assert.equal(code(edit((b) => b.writeUInt32BE(0, good.length - 6))), 'bad-endpoint');
    assert.equal(code(edit((b) => b.writeUInt16BE(0, good.length - 2))), 'bad-endpoint');
    // The session entry twice.
    const sess = good.subarray(DISCOVERY_HEADER_BYTES + 32, DISCOVERY_HEADER_BYTES + 48);
    assert.equal(code(Buffer.concat([good, sess])), 'duplicate-entry');
  });

  it('never throws on arbitrary bytes, with or without the magic', () => {
    const magic = Buffer.from('_asdp_v\x01', 'latin1');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, withMagic) => {
        const b = withMagic ? Buffer.concat([magic, bytes]) : bytes;
        const d = decodeDiscovery(b);
        assert.equal(typeof d.ok, 'boolean');
      }),
      { numRuns: 3000 },
    );
  });
});

describe('Link measurement codec', () => {
  it('round-trips pings and pongs, and a pong echoes the ping', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
        fc.option(fc.integer({ min: -(2 ** 52), max: 2 ** 52 }), { nil: undefined }),
        fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
        (ht, pgt, gt) => {
          const ping = decodeMeasurement(encodePing(ht, pgt));
          assert.ok(ping.ok && ping.value.type === 'ping');
          assert.equal(ping.value.hostTime, ht);
          assert.equal(ping.value.prevGhostTime, pgt ?? null);
          const pong = decodeMeasurement(encodePong('0123456789abcdef', gt, ping.value.payload));
          assert.deepEqual(pong, {
            ok: true,
            value: {
              type: 'pong',
              sessionId: '0123456789abcdef',
              ghostTime: gt,
              hostTime: ht,
              prevGhostTime: pgt ?? null,
            },
          });
        },
      ),
    );
  });

  it('refuses every cut of a ping except after the host time', () => {
    const full = encodePing(1234, 5678);
    for (let n = 0; n < full.length; n++) {
      const d = decodeMeasurement(full.subarray(0, n));
      if (n === 9 + 16) assert.ok(d.ok && d.value.type === 'ping' && d.value.prevGhostTime === null);
      else assert.equal(d.ok, false, `cut at ${n} was accepted`);
    }
  });

  it('refuses every cut of a pong except between entries after the ghost time', () => {
    const ping = decodeMeasurement(encodePing(1234, 5678));
    assert.ok(ping.ok && ping.value.type === 'ping');
    const full = encodePong('0123456789abcdef', 42, ping.value.payload);
    const ok = new Set([9 + 32, 9 + 48]);
    for (let n = 0; n < full.length; n++) {
      const d = decodeMeasurement(full.subarray(0, n));
      assert.equal(d.ok, ok.has(n), `cut at ${n}`);
    }
  });

  it('refuses an oversize ping payload (no amplification) and malformed pongs', () => {
    const code = (b: Uint8Array) => {
      const d = decodeMeasurement(b);
      return d.ok ? 'accepted' : d.code;
    };
    const ping = Buffer.from(encodePing(1, 2));
    const pad = Buffer.from('7a7a7a7a00000004000000', 'hex'); // an unknown 4-byte entry
    assert.equal(code(Buffer.concat([ping, pad, Buffer.alloc(1)])), 'oversize');
    assert.equal(code(Buffer.concat([ping, Buffer.alloc(MAX_MESSAGE_BYTES)])), 'oversize');
    assert.equal(code(Buffer.from('_link_v\x01\x03', 'latin1')), 'bad-type');
    assert.equal(code(Buffer.from('_link_v\x02\x01', 'latin1')), 'bad-magic');
    assert.equal(code(Buffer.from('_link_v\x01\x01', 'latin1')), 'missing-entry');
    assert.equal(code(Buffer.concat([ping.subarray(0, 25), ping.subarray(9, 25)])), 'duplicate-entry');
  });
});
