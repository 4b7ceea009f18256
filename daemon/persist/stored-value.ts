import type { ParamSpec } from '../config/params-schema.ts';
import { type CoerceCode, coerceArgs, type Value } from '../state/coerce.ts';
import type { Registry } from '../state/registry.ts';

// A value read back from disk (persisted state, a scene) was valid under the config it was
// written with; the config may have changed since. It is judged by the same coercion and range
// rules as any write, after a strict type check: a number stored for what is now a bool is a
// changed declaration, not a value to reinterpret.

export type StoredCode = 'undeclared' | 'trigger' | CoerceCode;

export type StoredCheck =
  | { ok: true; value: Value; clamped: boolean }
  | { ok: false; code: StoredCode; reason: string };

function jsType(spec: ParamSpec): 'number' | 'boolean' | 'string' | 'null' {
  switch (spec.type) {
    case 'float':
    case 'int':
      return 'number';
    case 'bool':
      return 'boolean';
    case 'string':
    case 'color':
      return 'string';
    case 'trigger':
      return 'null';
  }
}

const typeName = (v: unknown) => (v === null ? 'null' : typeof v);

export function checkStoredValue(registry: Registry, path: string, value: unknown): StoredCheck {
  const spec = registry.get(path);
  if (!spec) return { ok: false, code: 'undeclared', reason: 'not a declared parameter in this config' };
  // A trigger is an event, not state: replaying it from disk would fire it.
  if (spec.type === 'trigger') return { ok: false, code: 'trigger', reason: 'a trigger holds no value' };
  if (typeName(value) !== jsType(spec)) {
    return {
      ok: false,
      code: 'wrong-type',
      reason: `holds a ${typeName(value)}, but the parameter is now a ${spec.type}`,
    };
  }
  const arg =
    typeof value === 'number'
      ? ({ type: 'd', value } as const)
      : typeof value === 'boolean'
        ? ({ type: value ? 'T' : 'F', value } as const)
        : ({ type: 's', value: value as string } as const);
  const c = coerceArgs(spec, [arg]);
  if (!c.ok) return { ok: false, code: c.code, reason: c.message };
  return { ok: true, value: c.value, clamped: c.clamped };
}
