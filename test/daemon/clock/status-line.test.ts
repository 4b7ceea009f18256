import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClockReading } from '../../../daemon/clock/session-clock.ts';
import { clockStatusLine } from '../../../daemon/clock/status-line.ts';
import { T0 } from './arbitraries.ts';

// What `hana status` says about the beat in each case a reading can be in.

const LEADER = 'PQRSTUV-BONSGYC-YLTMRWG-C43ENR5-QXGG5DR-NRQW4ZK-PFSGE3T-MFWGYZI';
const timeline = { tempo: 128, beatOrigin: 0, timeOrigin: T0 };
const base = {
  timeMs: T0 + 1000,
  offsetMs: 0,
  errorMs: 0,
  estimateAgeMs: null,
  tempo: 128,
  timeline,
  leader: LEADER,
  leaderLinked: true,
  beat: 2.1333,
  phase: 0.1333,
} as const;

describe('clockStatusLine', () => {
  it('says there is no beat yet instead of printing one counted from 1970', () => {
    const r: ClockReading = {
      ...base,
      basis: 'own-clock',
      errorMs: null,
      timeline: null,
      leader: null,
      leaderLinked: false,
      beat: null,
      phase: null,
      tempo: 120,
    };
    assert.equal(clockStatusLine(r), 'no shared beat yet (tempo 120 bpm): set /tempo to start one');
  });

  it('names who leads and how well this laptop follows', () => {
    assert.equal(
      clockStatusLine({ ...base, basis: 'self' }),
      'beat 2.13 at 128 bpm, led by this daemon (it set the tempo last)',
    );
    assert.equal(
      clockStatusLine({ ...base, basis: 'leader', errorMs: 0.214 }),
      'beat 2.13 at 128 bpm, following PQRSTUV (±0.21 ms)',
    );
    assert.equal(
      clockStatusLine({
        ...base,
        basis: 'last-offset',
        leaderLinked: false,
        errorMs: 4.41,
        estimateAgeMs: 42_300,
      }),
      'beat 2.13 at 128 bpm, following PQRSTUV, not linked: its offset measured 42 s ago (±4.41 ms, growing)',
    );
    assert.equal(
      clockStatusLine({ ...base, basis: 'own-clock', leaderLinked: false, errorMs: null }),
      "beat 2.13 at 128 bpm, led by PQRSTUV, never measured here: on this laptop's own clock (error unknown)",
    );
  });
});
