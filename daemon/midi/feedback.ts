import { encodeControl } from '../../protocols/midi/encoder.ts';
import type { Change } from '../state/store.ts';
import type { CompiledMapping } from './mapping.ts';
import { positionFor, resolutionOf } from './mapping.ts';
import { createCoalescer, type Timers } from './rate.ts';

// MIDI feedback: when a mapped parameter changes from anywhere, the controller's output gets
// the matching message (motor fader, LED ring, pad light). Not sent back to the device the
// change came from (the fader is already there; sending would make it fight the hand), and
// rate-limited per control so a storm of changes cannot saturate a 31.25 kbaud DIN link.

export type FeedbackOutput = { readonly name: string; send(bytes: Uint8Array): void };

export type MidiFeedbackInit = {
  mappings: () => readonly CompiledMapping[];
  outputs: () => Iterable<FeedbackOutput>;
  /** The channel to answer on when a mapping listens on any channel: the one last heard. */
  lastChannel: (mappingId: string) => number | undefined;
  feedbackHz: number;
  now?: () => number;
  timers?: Timers;
};

export function createMidiFeedback(init: MidiFeedbackInit) {
  let sent = 0;
  const outputsByName = () => new Map([...init.outputs()].map((o) => [o.name, o]));
  const limiter = createCoalescer<{ output: string; bytes: Uint8Array }>(
    1000 / init.feedbackHz,
    (_key, { output, bytes }) => {
      const out = outputsByName().get(output);
      if (!out) return;
      out.send(bytes);
      sent++;
    },
    init.now,
    init.timers,
  );

  function onChanges(changes: readonly Change[]): void {
    const mappings = init.mappings();
    if (mappings.length === 0) return;
    for (const ch of changes) {
      if (!ch.changed) continue;
      for (const c of mappings) {
        if (c.mapping.path !== ch.path || !c.mapping.feedback) continue;
        const raw = positionFor(c, ch.value, resolutionOf(c.mapping.control));
        if (raw === undefined) continue;
        const channel =
          c.mapping.channel !== undefined ? c.mapping.channel - 1 : (init.lastChannel(c.id) ?? 0);
        const bytes = encodeControl(c.mapping.control, channel, c.mapping.number ?? 0, raw);
        for (const out of init.outputs()) {
          if (!c.matchesDevice(out.name) || ch.source === `midi:${out.name}`) continue;
          limiter.push(`${out.name}\u0000${c.id}`, { output: out.name, bytes });
        }
      }
    }
  }

  return {
    onChanges,
    stats: () => ({ sent, pending: limiter.pending }),
    close: () => limiter.close(),
  };
}
