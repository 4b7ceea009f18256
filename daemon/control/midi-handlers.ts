import { z } from 'zod';
import type { MidiService } from '../midi/service.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// Control API for MIDI: ports, mappings, learn, and a live monitor stream.

const Learn = z
  .object({ path: z.string().min(1).max(256), timeoutSeconds: z.number().int().min(1).max(600).optional() })
  .strict();
const Remove = z.object({ id: z.string().min(1).max(64) }).strict();

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
      const pending = midi.learn(path, (timeoutSeconds ?? defaultLearnSeconds) * 1000);
      ctx.emit({ armed: path });
      const r = await pending;
      if (!r.ok) throw controlError(`learn-${r.code}`, r.error);
      return { mapping: r.mapping };
    },
    async 'midi.monitor'(_params, ctx) {
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
