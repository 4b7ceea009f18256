import type { MidiControlKind, MidiMapping } from '../config/midi-schema.ts';
import type { Registry } from '../state/registry.ts';
import { type ControlEvent, defaultCurve } from './mapping.ts';
import type { Timers } from './rate.ts';

// MIDI learn: arm with a parameter, move a control, and the binding is made. One moved control
// produces several events (CC 99/98/6/38 for an NRPN, MSB + LSB for 14-bit), so the learner
// collects for a short settle window after the first event and binds the most precise
// interpretation of the same gesture.

const SETTLE_MS = 150;
const PREFERENCE: MidiControlKind[] = ['nrpn', 'rpn', 'cc14', 'pitchbend', 'cc', 'note'];

export type LearnResult =
  | { ok: true; mapping: MidiMapping }
  | { ok: false; code: 'timeout' | 'cancelled' | 'bad-path'; error: string };

type Armed = {
  path: string;
  candidates: ControlEvent[];
  done: (r: LearnResult) => void;
  timeout: unknown;
  settle?: unknown;
};

export function createLearner(init: {
  registry: Registry;
  timers: Timers;
  onLearned: (m: MidiMapping) => Promise<void>;
}) {
  let armed: Armed | undefined;

  function finish(a: Armed | undefined, r: LearnResult): void {
    if (!a) return;
    if (armed === a) armed = undefined;
    init.timers.clear(a.timeout);
    if (a.settle !== undefined) init.timers.clear(a.settle);
    a.done(r);
  }

  function choose(a: Armed): MidiMapping {
    const first = a.candidates[0]!;
    // 14-bit only when the LSB actually arrived for the same controller: an MSB alone is 7-bit.
    const cc14Real = a.candidates.some(
      (e) => e.kind === 'cc' && e.number === first.number + 32 && first.number < 32,
    );
    const usable = a.candidates.filter((e) => e.kind !== 'cc14' || cc14Real);
    const best =
      PREFERENCE.map((k) => usable.find((e) => e.kind === k)).find((e) => e !== undefined) ?? first;
    const spec = init.registry.get(a.path)!;
    return {
      device: best.device,
      channel: best.channel + 1,
      control: best.kind,
      ...(best.kind !== 'pitchbend' && { number: best.number }),
      path: a.path,
      curve: defaultCurve(spec, best.kind),
      exponent: 2,
      encoding: 'twosComplement',
      feedback: true,
    };
  }

  return {
    arm(path: string, timeoutMs: number): Promise<LearnResult> {
      const spec = init.registry.get(path);
      if (!spec || !['float', 'int', 'bool', 'trigger'].includes(spec.type)) {
        const why = spec
          ? `${path} is a ${spec.type}, which a MIDI control cannot drive`
          : `${path} is not a declared parameter`;
        return Promise.resolve({ ok: false, code: 'bad-path', error: why });
      }
      finish(armed, { ok: false, code: 'cancelled', error: `learning was re-armed for ${path}` });
      return new Promise((done) => {
        const a: Armed = { path, candidates: [], done, timeout: undefined };
        a.timeout = init.timers.set(timeoutMs, () =>
          finish(a, {
            ok: false,
            code: 'timeout',
            error: `no control moved within ${Math.round(timeoutMs / 1000)} s`,
          }),
        );
        armed = a;
      });
    },
    /** Offers an event; true when the learner consumed it (it is not applied meanwhile). */
    offer(ev: ControlEvent): boolean {
      const a = armed;
      if (!a) return false;
      // A note-off or a button release is the end of a gesture, not a new control.
      if (a.candidates.length === 0 && ev.kind === 'note' && !ev.pressed) return true;
      if (a.candidates.length > 0 && ev.device !== a.candidates[0]!.device) return true;
      a.candidates.push(ev);
      if (a.settle === undefined) {
        a.settle = init.timers.set(SETTLE_MS, () => {
          // Stop collecting at once; saving takes a moment and must not swallow more events.
          if (armed === a) armed = undefined;
          init.timers.clear(a.timeout);
          const mapping = choose(a);
          init.onLearned(mapping).then(
            () => finish(a, { ok: true, mapping }),
            (err) =>
              finish(a, {
                ok: false,
                code: 'cancelled',
                error: `could not save the mapping: ${(err as Error).message}`,
              }),
          );
        });
      }
      return true;
    },
    armed: () => armed?.path,
    cancel: () => finish(armed, { ok: false, code: 'cancelled', error: 'the daemon is stopping' }),
  };
}
