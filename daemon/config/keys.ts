import { z } from 'zod';
import { Config } from './schema.ts';

// The config's field names, read from the one schema: for "did you mean" on an unknown field,
// one sentence per config error, and the docs test that checks every field the docs mention.

type JsonSchema = {
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
};

let cached: JsonSchema | undefined;
const schema = () =>
  (cached ??= z.toJSONSchema(Config, { io: 'input', unrepresentable: 'any' }) as JsonSchema);

/** The object schemas a value at `path` may be (a union gives several). */
function at(path: readonly PropertyKey[]): JsonSchema[] {
  let here = [schema()];
  for (const key of path) {
    const next: JsonSchema[] = [];
    for (const s of here.flatMap((s) => [s, ...(s.anyOf ?? []), ...(s.oneOf ?? [])])) {
      if (typeof key === 'number' && s.items) next.push(s.items);
      else if (typeof key === 'string' && s.properties?.[key]) next.push(s.properties[key]);
      else if (typeof key === 'string' && typeof s.additionalProperties === 'object')
        next.push(s.additionalProperties);
    }
    here = next;
  }
  return here.flatMap((s) => [s, ...(s.anyOf ?? []), ...(s.oneOf ?? [])]);
}

/**
 * Field names allowed in the object at `path` (e.g. ["osc"] → port, bind, …). With the object
 * itself, a union picks the variant its `type` names (a bool parameter has no `min`).
 */
export function knownKeys(path: readonly PropertyKey[], input?: unknown): string[] {
  const type = typeof input === 'object' && input !== null ? (input as { type?: unknown }).type : undefined;
  const variants = at(path).filter((s) => {
    const tag = s.properties?.type?.const;
    return type === undefined || tag === undefined || tag === type;
  });
  return [...new Set(variants.flatMap((s) => Object.keys(s.properties ?? {})))].sort();
}

/** Every dotted field path of the config (`osc.rateLimit.burst`), objects included; not `params.*`. */
export function configKeyPaths(): Set<string> {
  const out = new Set<string>();
  const walk = (s: JsonSchema, prefix: string) => {
    for (const v of [s, ...(s.anyOf ?? []), ...(s.oneOf ?? [])]) {
      for (const [key, child] of Object.entries(v.properties ?? {})) {
        const path = prefix ? `${prefix}.${key}` : key;
        out.add(path);
        if (path === 'params') continue;
        walk(child, path);
        if (child.items) walk(child.items, `${path}[]`);
      }
    }
  };
  walk(schema(), '');
  return out;
}

/** Edits between two words, a swap of neighbours counting as one ("prot" → "port"). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known name `word` is most likely a typo of, if one is close enough to guess. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = distance(w, name.toLowerCase());
    if (d <= Math.max(1, Math.floor(name.length / 3)) && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

/** `osc.port`, `params["/x"].min`, `midi.mappings[0].path`: a path as the zod messages write it. */
const dotted = (path: readonly PropertyKey[]) =>
  path
    .map((k, i) =>
      typeof k === 'number'
        ? `[${k}]`
        : /^[A-Za-z_]\w*$/.test(String(k))
          ? `${i ? '.' : ''}${String(k)}`
          : `[${JSON.stringify(String(k))}]`,
    )
    .join('');

/** The message for fields the schema does not know, in one sentence; a near miss gets "did you mean". */
export function unknownFields(
  path: readonly PropertyKey[],
  keys: readonly string[],
  input?: unknown,
): string {
  const known = knownKeys(path, input);
  return keys
    .map((key) => {
      const field = dotted([...path, key]);
      const guess = closest(key, known);
      if (guess) return `unknown field "${field}": did you mean "${dotted([...path, guess])}"?`;
      const where = path.length ? `"${dotted(path)}"` : 'the top level';
      return `unknown field "${field}": ${where} takes ${known.map((k) => `"${k}"`).join(', ')}`;
    })
    .join('; ');
}
