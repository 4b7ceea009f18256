// OSC 1.0 address patterns (? * [a-z] [!a-z] {a,b}) plus OSC 1.1's `//` (any number of levels).
// The pattern comes from the network, so matching must be linear: no regex backtracking.
// Each part is matched by a small dynamic program over (token, character); `//` by one over
// (pattern part, address part). Cost is O(pattern × address), whatever the input.

const MAX_PATTERN_LENGTH = 256;
const MAX_BRACE_ALTERNATIVES = 32;

type Token =
  | { k: 'lit'; c: number }
  | { k: 'any' }
  | { k: 'star' }
  | { k: 'set'; neg: boolean; ranges: number[] /* pairs lo, hi */ };

/** One address part: a literal string, or alternatives (from braces) of token sequences. */
type Part = { kind: 'literal'; text: string } | { kind: 'glob'; alts: Token[][] } | { kind: 'deep' };

export type AddressPattern = {
  readonly source: string;
  readonly literal: boolean;
  match(address: string): boolean;
};
export type PatternResult = { ok: true; pattern: AddressPattern } | { ok: false; reason: string };

const SPECIAL = /[*?[\]{}]|\/\//;

export function isPattern(address: string): boolean {
  return SPECIAL.test(address);
}

export function compilePattern(source: string): PatternResult {
  if (source.length > MAX_PATTERN_LENGTH)
    return { ok: false, reason: `longer than ${MAX_PATTERN_LENGTH} characters` };
  if (source[0] !== '/') return { ok: false, reason: 'does not start with "/"' };
  if (!isPattern(source)) {
    return { ok: true, pattern: { source, literal: true, match: (a) => a === source } };
  }
  const raw = source.slice(1).split('/');
  const parts: Part[] = [];
  for (let i = 0; i < raw.length; i++) {
    const text = raw[i]!;
    if (text === '') {
      if (i === raw.length - 1) return { ok: false, reason: 'ends with "/"' };
      if (parts.at(-1)?.kind !== 'deep') parts.push({ kind: 'deep' });
      continue;
    }
    const part = compilePart(text);
    if (typeof part === 'string') return { ok: false, reason: part };
    parts.push(part);
  }
  return { ok: true, pattern: { source, literal: false, match: (a) => matchParts(parts, a) } };
}

function compilePart(text: string): Part | string {
  if (!/[*?[\]{}]/.test(text)) return { kind: 'literal', text };
  let alts: Token[][] = [[]];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '*') {
      for (const a of alts) if (a.at(-1)?.k !== 'star') a.push({ k: 'star' });
    } else if (ch === '?') {
      for (const a of alts) a.push({ k: 'any' });
    } else if (ch === '[') {
      const end = text.indexOf(']', i + 2);
      if (end < 0) return 'has "[" without "]"';
      const set = compileSet(text.slice(i + 1, end));
      for (const a of alts) a.push(set);
      i = end;
    } else if (ch === '{') {
      const end = text.indexOf('}', i + 1);
      if (end < 0) return 'has "{" without "}"';
      const choices = text.slice(i + 1, end).split(',');
      if (choices.some((c) => /[*?[\]{]/.test(c))) return 'has a special character inside "{…}"';
      if (alts.length * choices.length > MAX_BRACE_ALTERNATIVES) return 'has too many "{…}" alternatives';
      alts = alts.flatMap((a) => choices.map((c) => [...a, ...literalTokens(c)]));
      i = end;
    } else if (ch === ']' || ch === '}') {
      return `has "${ch}" without its opening bracket`;
    } else {
      for (const a of alts) a.push({ k: 'lit', c: ch.charCodeAt(0) });
    }
  }
  return { kind: 'glob', alts };
}

function literalTokens(s: string): Token[] {
  return Array.from(s, (ch) => ({ k: 'lit', c: ch.charCodeAt(0) }) as const);
}

function compileSet(body: string): Token {
  const neg = body[0] === '!';
  const chars = neg ? body.slice(1) : body;
  const ranges: number[] = [];
  for (let i = 0; i < chars.length; i++) {
    const lo = chars.charCodeAt(i);
    // A '-' between two characters is a range; first or last it is literal (OSC 1.0).
    if (chars[i + 1] === '-' && i + 2 < chars.length) {
      const hi = chars.charCodeAt(i + 2);
      ranges.push(Math.min(lo, hi), Math.max(lo, hi));
      i += 2;
    } else {
      ranges.push(lo, lo);
    }
  }
  return { k: 'set', neg, ranges };
}

function tokenMatches(t: Token, code: number): boolean {
  switch (t.k) {
    case 'lit':
      return t.c === code;
    case 'any':
      return true;
    case 'set': {
      let hit = false;
      for (let i = 0; i < t.ranges.length; i += 2) {
        if (code >= t.ranges[i]! && code <= t.ranges[i + 1]!) {
          hit = true;
          break;
        }
      }
      return hit !== t.neg;
    }
    case 'star':
      return false;
  }
}

/** Wildcard match by dynamic programming: reach[j] = tokens so far can consume s[0..j). */
function matchTokens(tokens: Token[], s: string): boolean {
  let reach = new Uint8Array(s.length + 1);
  reach[0] = 1;
  for (const t of tokens) {
    const next = new Uint8Array(s.length + 1);
    if (t.k === 'star') {
      let on = 0;
      for (let j = 0; j <= s.length; j++) {
        if (reach[j]) on = 1;
        next[j] = on;
      }
    } else {
      for (let j = 0; j < s.length; j++) if (reach[j] && tokenMatches(t, s.charCodeAt(j))) next[j + 1] = 1;
    }
    reach = next;
  }
  return reach[s.length] === 1;
}

function matchPart(p: Part, s: string): boolean {
  if (p.kind === 'literal') return p.text === s;
  if (p.kind === 'deep') return false;
  for (const alt of p.alts) if (matchTokens(alt, s)) return true;
  return false;
}

function matchParts(parts: Part[], address: string): boolean {
  if (address[0] !== '/') return false;
  const segs = address.slice(1).split('/');
  // reach[j]: the pattern parts so far match exactly segs[0..j).
  let reach = new Uint8Array(segs.length + 1);
  reach[0] = 1;
  for (const p of parts) {
    const next = new Uint8Array(segs.length + 1);
    if (p.kind === 'deep') {
      let on = 0;
      for (let j = 0; j <= segs.length; j++) {
        if (reach[j]) on = 1;
        next[j] = on;
      }
    } else {
      for (let j = 0; j < segs.length; j++) if (reach[j] && matchPart(p, segs[j]!)) next[j + 1] = 1;
    }
    reach = next;
  }
  return reach[segs.length] === 1;
}
