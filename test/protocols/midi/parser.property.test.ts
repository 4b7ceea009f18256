import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeMidiEvent } from '../../../protocols/midi/encoder.ts';
import type { MidiEvent } from '../../../protocols/midi/events.ts';
import {
  channelEventArb,
  chunked,
  expectedAfterParse,
  isChannelEvent,
  midiEventArb,
  noisyBytesArb,
  type Output,
  parse,
  recorder,
} from './midi-test-helpers.ts';

// Properties over arbitrary input: the parser never throws, chunking never changes what comes
// out, every byte ends up in exactly one event or one rejection, and it resynchronises.

const encodeAll = (evs: MidiEvent[]) => evs.flatMap((e) => [...encodeMidiEvent(e)]);

/**
 * Feeds `bytes` one at a time and attributes each byte to the output it caused, following the
 * documented rules: a real-time-range byte is one event or one rejection; a message's bytes
 * (status included unless running) belong to its event, or to the 'truncated' /
 * 'sysex-unterminated' report the next status byte triggers; an oversize SysEx's bytes to
 * its one report, up to its end. A closing F6 settles anything still open.
 */
function accountFor(bytes: number[], maxSysexBytes: number, acceptTick: boolean): void {
  const r = recorder({ maxSysexBytes, acceptTick });
  const all = [...bytes, 0xf6];
  let pending = 0; // bytes received for the open message, not yet attributed
  let discarding = false; // inside an oversize SysEx already reported
  let attributed = 0;
  for (const b of all) {
    const seen = r.outputs.length;
    r.push([b]);
    const outs: Output[] = r.outputs.slice(seen);
    const where = `byte 0x${b.toString(16)} in [${all.map((x) => x.toString(16)).join(' ')}]`;
    if (b >= 0xf8) {
      assert.equal(outs.length, 1, where);
      const o = outs[0]!;
      const undefinedByte = b === 0xfd || (b === 0xf9 && !acceptTick);
      if (undefinedByte) assert.ok('error' in o && o.error === 'undefined-status', where);
      else assert.ok('event' in o && o.event.kind === 'realtime', where);
      attributed++;
      continue;
    }
    if (discarding && (b < 0x80 || b === 0xf7)) {
      assert.equal(outs.length, 0, where);
      attributed++;
      if (b === 0xf7) discarding = false;
      continue;
    }
    if (b >= 0x80) discarding = false;
    let own = true; // b itself still unattributed
    for (const o of outs) {
      if ('event' in o) {
        assert.ok(own, where);
        const size = pending + 1;
        const full = encodeMidiEvent(o.event).length;
        const running = isChannelEvent(o.event) && b < 0x80 && size === full - 1;
        assert.ok(size === full || running, `${where}: ${size} bytes for ${JSON.stringify(o.event)}`);
        attributed += size;
        pending = 0;
        own = false;
        continue;
      }
      switch (o.error) {
        case 'truncated':
        case 'sysex-unterminated':
          // Triggered by b, reported before b is handled: covers what came before it.
          assert.ok(own && b >= 0x80 && pending >= 1, where);
          if (o.error === 'sysex-unterminated') assert.notEqual(b, 0xf7, where);
          attributed += pending;
          pending = 0;
          break;
        case 'sysex-oversize':
          assert.ok(own && b < 0x80 && pending >= 1, where);
          attributed += pending + 1;
          pending = 0;
          own = false;
          discarding = true;
          break;
        case 'orphan-data':
          assert.ok(own && b < 0x80 && pending === 0, where);
          attributed++;
          own = false;
          break;
        case 'undefined-status':
          assert.ok(own && (b === 0xf4 || b === 0xf5), where);
          attributed++;
          own = false;
          break;
        case 'orphan-eox':
          assert.ok(own && b === 0xf7, where);
          attributed++;
          own = false;
          break;
      }
    }
    if (own) pending++;
  }
  assert.equal(pending, 0);
  assert.equal(attributed, all.length);
}

describe('MIDI parser properties', () => {
  it('never throws, and gives the same outputs however the bytes are chunked', () => {
    fc.assert(
      fc.property(
        noisyBytesArb(400),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.nat(40),
        fc.boolean(),
        (bytes, cuts, maxSysexBytes, acceptTick) => {
          const options = { maxSysexBytes, acceptTick };
          const whole = parse([bytes], options).outputs;
          assert.deepEqual(parse(chunked(bytes, cuts), options).outputs, whole);
          assert.deepEqual(
            parse(
              bytes.map((b) => [b]),
              options,
            ).outputs,
            whole,
          );
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('accounts for every byte in exactly one event or one rejection', () => {
    fc.assert(fc.property(noisyBytesArb(300), fc.nat(12), fc.boolean(), accountFor), { numRuns: 1500 });
  });

  it('accounts for every byte of valid streams mixed with garbage', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.array(midiEventArb, { maxLength: 4 }).map(encodeAll), noisyBytesArb(6)), {
          maxLength: 20,
        }),
        fc.boolean(),
        (parts, acceptTick) => accountFor(parts.flat(), 16, acceptTick),
      ),
      { numRuns: 500 },
    );
  });

  it('resynchronises: after any garbage, a status-led event sequence comes out intact', () => {
    fc.assert(
      fc.property(
        noisyBytesArb(100),
        fc.array(midiEventArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (garbage, evs, cuts) => {
          const r = recorder({ acceptTick: true });
          r.push(garbage);
          const seen = r.outputs.length;
          for (const c of chunked(encodeAll(evs), cuts)) r.push(c);
          const after = r.outputs.slice(seen);
          const events = after.flatMap((o) => ('event' in o ? [o.event] : []));
          const errors = after.flatMap((o) => ('error' in o ? [o.error] : []));
          assert.deepEqual(events, evs.map(expectedAfterParse));
          // At most the garbage's own unfinished message, cut by the first status byte.
          assert.ok(errors.length <= 1, `errors ${errors}`);
          if (errors.length === 1) assert.ok(errors[0] === 'truncated' || errors[0] === 'sysex-unterminated');
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('round-trips encoded events of every kind, in any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(midiEventArb, { maxLength: 24 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (evs, cuts) => {
          const { events, errors } = parse(chunked(encodeAll(evs), cuts), { acceptTick: true });
          assert.deepEqual(errors, []);
          assert.deepEqual(events, evs.map(expectedAfterParse));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reads a stream written with running status like the same stream with full status bytes', () => {
    fc.assert(
      fc.property(fc.array(channelEventArb, { maxLength: 30 }), (evs) => {
        const bytes: number[] = [];
        let last = -1;
        for (const e of evs) {
          const [status, ...data] = encodeMidiEvent(e);
          if (status !== last) bytes.push(status!);
          bytes.push(...data);
          last = status!;
        }
        const { events, errors } = parse([bytes]);
        assert.deepEqual(errors, []);
        assert.deepEqual(events, evs.map(expectedAfterParse));
      }),
      { numRuns: 1000 },
    );
  });

  it('passes real-time bytes inserted anywhere, and leaves every other message intact', () => {
    const realtimeByte = fc.constantFrom(0xf8, 0xfa, 0xfb, 0xfc, 0xfe, 0xff);
    fc.assert(
      fc.property(
        fc.array(midiEventArb.filter((e) => e.kind !== 'realtime')),
        fc.array(fc.tuple(fc.nat(), realtimeByte), { maxLength: 10 }),
        (evs, inserts) => {
          const bytes = encodeAll(evs);
          for (const [at, b] of inserts) bytes.splice(at % (bytes.length + 1), 0, b);
          const { events, errors } = parse([bytes]);
          assert.deepEqual(errors, []);
          assert.equal(events.filter((e) => e.kind === 'realtime').length, inserts.length);
          assert.deepEqual(
            events.filter((e) => e.kind !== 'realtime'),
            evs.map(expectedAfterParse),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });
});
