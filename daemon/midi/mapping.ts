import { decodeRelative } from '../../protocols/midi/controllers.ts';
import type { MidiControlKind, MidiMapping } from '../config/midi-schema.ts';
import type { ParamSpec } from '../config/params-schema.ts';
import type { Value } from '../state/coerce.ts';
import type { Registry } from '../state/registry.ts';

// Pure mapping between controller positions and parameter values, both ways. No I/O, no
// timers: the service feeds it events and current values.

/** One moved control, after 14-bit and (N)RPN assembly. `channel` is 0–15. */
export type ControlEvent = {
  readonly device: string;
  readonly channel: number;
  readonly kind: MidiControlKind;
  readonly number: number;
  /** Raw position, 0..resolution. */
  readonly value: number;
  readonly resolution: 127 | 16383;
  /** Notes: note-on with velocity > 0. Controls: in the upper half. */
  readonly pressed: boolean;
};

export type Curve = NonNullable<MidiMapping['curve']>;

export type CompiledMapping = {
  readonly id: string;
  readonly origin: 'config' | 'learned';
  readonly mapping: MidiMapping;
  readonly spec: ParamSpec;
  readonly curve: Curve;
  readonly lo: number;
  readonly hi: number;
  readonly step: number;
  matchesDevice(name: string): boolean;
};

/** Case-insensitive glob (`*` = anything) over port names, which are local, not network input. */
export function devicePattern(pattern: string): (name: string) => boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  );
  return (name) => re.test(name);
}

const MAPPABLE: Record<string, readonly Curve[]> = {
  float: ['linear', 'exponential', 'toggle', 'momentary', 'relative'],
  int: ['linear', 'exponential', 'toggle', 'momentary', 'relative'],
  bool: ['linear', 'toggle', 'momentary'],
  trigger: ['momentary'],
};

export function defaultCurve(spec: ParamSpec, control: MidiControlKind): Curve {
  if (spec.type === 'trigger') return 'momentary';
  if (spec.type === 'bool') return control === 'note' ? 'toggle' : 'linear';
  return 'linear';
}

export type CompileResult = { ok: true; mapping: CompiledMapping } | { ok: false; error: string };

export function compileMapping(
  m: MidiMapping,
  id: string,
  origin: CompiledMapping['origin'],
  registry: Registry,
): CompileResult {
  const spec = registry.get(m.path);
  if (!spec) return { ok: false, error: `mapping ${id}: ${m.path} is not a declared parameter` };
  const allowed = MAPPABLE[spec.type];
  if (!allowed)
    return {
      ok: false,
      error: `mapping ${id}: ${m.path} is a ${spec.type}, which a MIDI control cannot drive`,
    };
  const curve = m.curve ?? defaultCurve(spec, m.control);
  if (!allowed.includes(curve)) {
    return {
      ok: false,
      error: `mapping ${id}: curve "${curve}" does not fit ${spec.type} ${m.path} (use ${allowed.join(', ')})`,
    };
  }
  const ranged = spec.type === 'float' || spec.type === 'int';
  const lo = m.min ?? (ranged ? (spec.min ?? 0) : 0);
  const hi = m.max ?? (ranged ? (spec.max ?? 1) : 1);
  return {
    ok: true,
    mapping: {
      id,
      origin,
      mapping: m,
      spec,
      curve,
      lo,
      hi,
      step: m.step ?? (hi - lo) / 127,
      matchesDevice: devicePattern(m.device),
    },
  };
}

export function matches(c: CompiledMapping, ev: ControlEvent): boolean {
  const m = c.mapping;
  return (
    m.control === ev.kind &&
    (m.number === undefined || m.number === ev.number) &&
    (m.channel === undefined || m.channel - 1 === ev.channel) &&
    c.matchesDevice(ev.device)
  );
}

export type Mapped = { kind: 'write'; value: Value } | { kind: 'fire' } | { kind: 'none' };

const NONE: Mapped = { kind: 'none' };

function shape(c: CompiledMapping, x: number): Value {
  const y = c.curve === 'exponential' ? x ** c.mapping.exponent : x;
  if (c.spec.type === 'bool') return y >= 0.5;
  const v = c.lo + y * (c.hi - c.lo);
  return c.spec.type === 'int' ? Math.round(v) : v;
}

/** What an event means for the mapped parameter, given its current value. */
export function mapEvent(c: CompiledMapping, ev: ControlEvent, current: Value): Mapped {
  switch (c.curve) {
    case 'linear':
    case 'exponential':
      return { kind: 'write', value: shape(c, ev.value / ev.resolution) };
    case 'toggle':
      if (!ev.pressed) return NONE;
      if (c.spec.type === 'bool') return { kind: 'write', value: !current };
      return { kind: 'write', value: (current as number) >= (c.lo + c.hi) / 2 ? c.lo : c.hi };
    case 'momentary':
      if (c.spec.type === 'trigger') return ev.pressed ? { kind: 'fire' } : NONE;
      if (c.spec.type === 'bool') return { kind: 'write', value: ev.pressed };
      return { kind: 'write', value: ev.pressed ? c.hi : c.lo };
    case 'relative': {
      const steps = decodeRelative(ev.value, c.mapping.encoding);
      if (steps === 0) return NONE;
      const raw = Math.min(
        Math.max((current as number) + steps * c.step, Math.min(c.lo, c.hi)),
        Math.max(c.lo, c.hi),
      );
      return { kind: 'write', value: c.spec.type === 'int' ? Math.round(raw) : raw };
    }
  }
}

/** The control position (0..resolution) that shows `value`, or undefined for triggers. */
export function positionFor(c: CompiledMapping, value: Value, resolution: 127 | 16383): number | undefined {
  if (c.spec.type === 'trigger' || value === null) return undefined;
  if (typeof value === 'boolean') return value ? resolution : 0;
  const span = c.hi - c.lo;
  let x = span === 0 ? 0 : ((value as number) - c.lo) / span;
  x = Math.min(1, Math.max(0, x));
  if (c.curve === 'exponential') x **= 1 / c.mapping.exponent;
  if (c.curve === 'toggle' || c.curve === 'momentary') x = x >= 0.5 ? 1 : 0;
  return Math.round(x * resolution);
}

export function resolutionOf(kind: MidiControlKind): 127 | 16383 {
  return kind === 'cc' || kind === 'note' ? 127 : 16383;
}
