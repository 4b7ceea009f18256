import { z } from 'zod';
import { MIDI_DISABLED, type MidiService } from '../midi/service.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// Control API for MIDI: ports, mappings, learn, and a live monitor stream.

const Learn = z
  .object({ path: z.string().min(1).max(256), timeoutSeconds: z.number().int().min(1).max(600).optional() })
  .strict();
const Remove = z.object({ id: z.string().min(1).max(64) }).strict();

/**
 * With MIDI off, nothing can be learned or monitored: say so and why, rather than wait for a
 * control that cannot arrive.
 */
function refuseIfOff(midi: MidiService, what: string): void {
  const p = midi.ports();
  if (p.available) return;
  const fix =
    p.reason === MIDI_DISABLED
      ? 'set "midi": { "enabled": true } in the config and restart hana'
      : 'see docs/midi.md (troubleshooting); OSC and everything else work as usual';
  throw controlError('midi-off', `MIDI is off (${p.reason ?? 'no MIDI backend'}), so ${what}: ${fix}.`);
}

export function midiHandlers(midi: MidiService, defaultLearnSeconds: number): Handlers {
  return {
    'midi.ports': () => midi.ports(),
    'midi.mappings': () => ({ mappings: midi.mappings() }),
    async 'midi.remove'(params) {
      const { id } = Remove.parse(params);
      const r = await midi.removeMapping(id);
      if (!r.ok) throw controlError('unknown-mapping', r.error);
      return { removed: id };
    },
    async 'midi.learn'(params, ctx) {
      const { path, timeoutSeconds } = Learn.parse(params);
      refuseIfOff(midi, `no control can be learned for ${path}`);
      const pending = midi.learn(path, (timeoutSeconds ?? defaultLearnSeconds) * 1000);
      ctx.emit({ armed: path });
      const r = await pending;
      if (!r.ok) throw controlError(`learn-${r.code}`, r.error);
      return { mapping: r.mapping };
    },
    async 'midi.monitor'(_params, ctx) {
      refuseIfOff(midi, 'there are no MIDI events to show');
      // SysEx payloads are bytes: show them as a list, not as an object keyed by index.
      const stop = midi.monitor((e) =>
        ctx.emit(JSON.parse(JSON.stringify(e, (_k, v) => (v instanceof Uint8Array ? [...v] : v)))),
      );
      await ctx.closed;
      stop();
      return {};
    },
  };
}
