import { createCc14Assembler, createParameterNumberAssembler } from '../../protocols/midi/controllers.ts';
import type { MidiEvent, MidiRejectCode } from '../../protocols/midi/events.ts';
import { createMidiParser } from '../../protocols/midi/parser.ts';
import { createRateLimiter } from '../ingest/token-bucket.ts';
import type { ControlEvent } from './mapping.ts';

// One input device's bytes → control events: parse, cap the event rate, assemble 14-bit and
// (N)RPN values. Every interpretation of a message is offered (CC 6 is a plain CC and an NRPN
// data entry); mappings pick the one they declare.

export type ControlReaderInit = {
  device: string;
  eventsPerSecond: number;
  now: () => number;
  onControl: (e: ControlEvent) => void;
  /** Every parsed event, for `hana midi monitor`. */
  onRaw: (e: MidiEvent) => void;
  onReject: (code: MidiRejectCode | 'flood', detail: string) => void;
};

export function createControlReader(init: ControlReaderInit): { push(bytes: Uint8Array): void } {
  const { device } = init;
  const limiter = createRateLimiter({
    ratePerSecond: init.eventsPerSecond,
    burst: Math.max(64, Math.ceil(init.eventsPerSecond / 4)),
    maxSources: 1,
    now: init.now,
  });
  const cc14 = createCc14Assembler();
  const params = createParameterNumberAssembler();
  const emit = (
    kind: ControlEvent['kind'],
    channel: number,
    number: number,
    value: number,
    resolution: 127 | 16383,
  ) => init.onControl({ device, channel, kind, number, value, resolution, pressed: value > resolution / 2 });

  const parser = createMidiParser({
    onError: init.onReject,
    onEvent(e) {
      if (e.kind === 'realtime') return;
      if (!limiter.take(device)) {
        init.onReject('flood', `${device} sends more than ${init.eventsPerSecond} events/s; dropping`);
        return;
      }
      init.onRaw(e);
      switch (e.kind) {
        case 'controlChange': {
          emit('cc', e.channel, e.controller, e.value, 127);
          const wide = cc14.push(e.channel, e.controller, e.value, init.now());
          if (wide) emit('cc14', e.channel, wide.controller, wide.value, 16383);
          const pn = params.push(e.channel, e.controller, e.value);
          if (pn) emit(pn.kind, pn.channel, pn.number, pn.value, 16383);
          return;
        }
        case 'noteOn':
          return init.onControl({
            device,
            channel: e.channel,
            kind: 'note',
            number: e.note,
            value: e.velocity,
            resolution: 127,
            pressed: true,
          });
        case 'noteOff':
          return init.onControl({
            device,
            channel: e.channel,
            kind: 'note',
            number: e.note,
            value: 0,
            resolution: 127,
            pressed: false,
          });
        case 'pitchBend':
          return emit('pitchbend', e.channel, 0, e.value, 16383);
      }
    },
  });
  return { push: parser.push };
}
