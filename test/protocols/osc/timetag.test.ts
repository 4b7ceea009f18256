import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IMMEDIATE } from '../../../protocols/osc/codec.ts';
import { isImmediate, msToTimetag, timetagToMs } from '../../../protocols/osc/timetag.ts';

// NTP time tags: seconds since 1900-01-01 and 2^-32 fractions of a second.

const NTP_UNIX_EPOCH = 2_208_988_800; // seconds from 1900 to 1970
const TWO_32 = 2 ** 32;
/** Last millisecond of NTP era 0 (2036-02-07T06:28:15.999Z). */
const ERA0_END_MS = (TWO_32 - NTP_UNIX_EPOCH) * 1000 - 1;

describe('OSC time tags', () => {
  it('isImmediate is exactly (0, 1)', () => {
    assert.equal(isImmediate({ seconds: 0, fraction: 1 }), true);
    assert.equal(isImmediate(IMMEDIATE), true);
    assert.equal(isImmediate({ seconds: 0, fraction: 0 }), false);
    assert.equal(isImmediate({ seconds: 1, fraction: 1 }), false);
    assert.equal(isImmediate({ seconds: 0, fraction: 2 }), false);
    assert.equal(isImmediate(msToTimetag(0)), false);
  });

  it('known NTP values', () => {
    // The Unix epoch is NTP second 2208988800.
    assert.deepEqual(msToTimetag(0), { seconds: NTP_UNIX_EPOCH, fraction: 0 });
    assert.equal(timetagToMs({ seconds: NTP_UNIX_EPOCH, fraction: 0 }), 0);
    // 2000-01-01T00:00:00.500Z: NTP 3155673600 s, half a second = 2^31.
    const y2k = Date.UTC(2000, 0, 1) + 500;
    assert.deepEqual(msToTimetag(y2k), { seconds: 3_155_673_600, fraction: 0x80000000 });
    assert.equal(timetagToMs({ seconds: 3_155_673_600, fraction: 0x80000000 }), y2k);
    // A quarter second.
    assert.deepEqual(msToTimetag(250), { seconds: NTP_UNIX_EPOCH, fraction: 0x40000000 });
  });

  it('a time before 1970 still has a fraction in range', () => {
    const t = msToTimetag(-1);
    assert.equal(t.seconds, NTP_UNIX_EPOCH - 1);
    assert.ok(t.fraction >= 0 && t.fraction < TWO_32);
    assert.ok(Math.abs(timetagToMs(t) - -1) < 0.001);
  });

  it('the fraction never reaches 2^32 (rounding up is clamped)', () => {
    const t = msToTimetag(999.99999999999);
    assert.equal(t.seconds, NTP_UNIX_EPOCH);
    assert.equal(t.fraction, TWO_32 - 1);
  });

  it('property: ms -> time tag -> ms within 1 µs (NTP era 0)', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: ERA0_END_MS, noNaN: true }), (ms) => {
        const t = msToTimetag(ms);
        assert.ok(Number.isInteger(t.seconds) && t.seconds >= 0 && t.seconds < TWO_32);
        assert.ok(Number.isInteger(t.fraction) && t.fraction >= 0 && t.fraction < TWO_32);
        assert.ok(
          Math.abs(timetagToMs(t) - ms) <= 0.001,
          `${ms} -> ${JSON.stringify(t)} -> ${timetagToMs(t)}`,
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('property: time tag -> ms -> time tag within 1 µs', () => {
    const oneMicro = TWO_32 / 1e6; // fraction units per microsecond
    fc.assert(
      fc.property(
        fc.integer({ min: NTP_UNIX_EPOCH, max: TWO_32 - 1 }),
        fc.integer({ min: 0, max: TWO_32 - 1 }),
        (seconds, fraction) => {
          const back = msToTimetag(timetagToMs({ seconds, fraction }));
          const diff = (back.seconds - seconds) * TWO_32 + (back.fraction - fraction);
          assert.ok(Math.abs(diff) <= oneMicro, `${seconds}.${fraction} -> ${back.seconds}.${back.fraction}`);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
