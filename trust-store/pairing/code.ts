import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { WORDS } from './words.ts';

// A pairing code is three words from WORDS, e.g. amber-delta-ocean: 24 bits. It is only a
// password for CPace (cpace.ts), so a passive listener learns nothing it can test offline, and
// an active attacker gets one guess per try; with three tries per code that is 3 / 2^24.
//
// Parsing forgives what happens when a code is shouted across a stage and typed in a hurry:
// case, any separators (or none), a unique prefix of 3+ letters, and one slip per word. Each
// input still maps to at most one code; when `corrected` is set the CLI should show the code
// as read before using it, so a correction never silently spends a try on a different code.

export const CODE_WORDS = 3;
const EXAMPLE = 'amber-delta-ocean';
const MAX_INPUT = 200;
const PREFIX_MIN = 3;

const KNOWN: ReadonlySet<string> = new Set(WORDS);

export type ParsedCode =
  | {
      ok: true;
      /** Canonical form, e.g. 'amber-delta-ocean': show it back to the operator. */
      code: string;
      /** CPace's PRS: the UTF-8 (ASCII) bytes of the canonical form. */
      prs: Uint8Array;
      /** True when a prefix or a typo was resolved: say "read as <code>" before using it. */
      corrected: boolean;
    }
  | { ok: false; error: string };

function canonical(words: readonly string[]): { code: string; prs: Uint8Array } {
  const code = words.join('-');
  return { code, prs: new TextEncoder().encode(code) };
}

/** A fresh code from the OS CSPRNG: one uniform byte per word, repeats allowed (full 24 bits). */
export function generateCode(random: (n: number) => Uint8Array = randomBytes): {
  code: string;
  prs: Uint8Array;
} {
  const b = random(CODE_WORDS);
  if (b.length !== CODE_WORDS) throw new RangeError(`random(${CODE_WORDS}) returned ${b.length} bytes`);
  return canonical(Array.from(b, (i) => WORDS[i]!));
}

/** Optimal string alignment distance: Levenshtein plus swapping two neighbouring letters. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function within(token: string, distance: number): string[] {
  return WORDS.filter(
    (w) => Math.abs(w.length - token.length) <= distance && editDistance(token, w) <= distance,
  );
}

type WordMatch = { ok: true; word: string; corrected: boolean } | { ok: false; error: string };

function matchWord(token: string): WordMatch {
  if (KNOWN.has(token)) return { ok: true, word: token, corrected: false };
  if (!/^[a-z]+$/.test(token)) {
    return {
      ok: false,
      error: `'${token}' is not a pairing-code word: the words have letters only, like ${EXAMPLE}`,
    };
  }
  const byPrefix = token.length >= PREFIX_MIN ? WORDS.filter((w) => w.startsWith(token)) : [];
  const near = within(token, 1);
  // words.ts keeps a slip from ever looking like another word's prefix; if some input still
  // reads both ways, ask rather than spend one of the three tries on a guess.
  const readings = new Set([...byPrefix, ...near]);
  if (readings.size === 1) return { ok: true, word: [...readings][0]!, corrected: true };
  const hint = readings.size > 1 ? [...readings] : within(token, 2);
  const suggestion = hint.length > 0 && hint.length <= 3 ? ` (did you mean ${hint.join(' or ')}?)` : '';
  return {
    ok: false,
    error: `'${token}' is not a pairing-code word${suggestion}; check it against the code on the other screen`,
  };
}

/** Splits letters written without separators ("amberdeltaocean") when exactly one split works. */
function splitRunTogether(text: string): string[] | null {
  const found: string[][] = [];
  const walk = (rest: string, acc: string[]): void => {
    if (found.length > 1) return;
    if (acc.length === CODE_WORDS) {
      if (rest === '') found.push(acc);
      return;
    }
    for (const w of WORDS) if (rest.startsWith(w)) walk(rest.slice(w.length), [...acc, w]);
  };
  walk(text, []);
  return found.length === 1 ? found[0]! : null;
}

/** Reads a code as a person typed it; on failure, one sentence that says what to fix. */
export function parseCode(text: string): ParsedCode {
  if (typeof text !== 'string') return { ok: false, error: 'the pairing code must be text' };
  if (text.length > MAX_INPUT) {
    return { ok: false, error: `that is too long for a pairing code; it is 3 words, like ${EXAMPLE}` };
  }
  // ASCII-only lower-casing: String#toLowerCase would fold 'İ' and friends into new letters.
  const lowered = text.trim().replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
  let tokens = lowered.split(/[\s\-_.,:;/+]+/).filter((t) => t.length > 0);
  if (tokens.length === 0)
    return { ok: false, error: `the pairing code is empty; it is 3 words, like ${EXAMPLE}` };
  if (tokens.length === 1 && !KNOWN.has(tokens[0]!)) {
    const split = splitRunTogether(tokens[0]!);
    if (split) tokens = split;
  }
  if (tokens.length !== CODE_WORDS) {
    const n = tokens.length;
    return {
      ok: false,
      error: `'${text.trim()}' has ${n} word${n === 1 ? '' : 's'}; a pairing code has ${CODE_WORDS}, like ${EXAMPLE}`,
    };
  }
  const words: string[] = [];
  let corrected = false;
  for (const t of tokens) {
    const m = matchWord(t);
    if (!m.ok) return m;
    words.push(m.word);
    corrected ||= m.corrected;
  }
  return { ok: true, ...canonical(words), corrected };
}

/** For the control API: a pairing code typed by a person, out as its canonical form. */
export const PairingCodeSchema = z
  .string()
  .max(MAX_INPUT)
  .transform((text, ctx) => {
    const parsed = parseCode(text);
    if (parsed.ok) return parsed.code;
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  });
