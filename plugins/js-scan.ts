// A small JavaScript lexer for the plugin audit: it tells code from comments, string and
// template text and regular expressions, so that `// we never call require()` or a log message
// mentioning "fetch" is not reported as a use. It is not a parser: it only has to decide, for
// each character, which of those it belongs to. The one guess is whether "/" starts a regular
// expression or divides, decided from the previous token as every JavaScript tokenizer does.

export type StringLiteral = { readonly text: string; readonly line: number; readonly column: number };

export type Scanned = {
  /** The source with comment, string, template-text and regex bodies blanked (newlines kept). */
  readonly code: string;
  /** Contents of string literals and template text pieces, with where they start. */
  readonly strings: readonly StringLiteral[];
};

// After these, "/" starts a regex; after an identifier, number, ")" or "]" it divides.
const REGEX_AFTER_PUNCT = new Set('(,=:[!&|?{};+-*%<>~^'.split(''));
const REGEX_AFTER_WORD = new Set([
  'return',
  'typeof',
  'instanceof',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'case',
  'do',
  'else',
  'yield',
  'await',
]);
const WORD = /[\w$]/;

/** Scans `src` in one pass; unterminated constructs run to the end of input (never throws). */
export function scanJs(src: string): Scanned {
  const out = src.split('');
  const strings: StringLiteral[] = [];
  // Line starts, to turn an offset into line and column for string literals.
  const lineStarts = [0];
  for (let i = 0; i < src.length; i++) if (src[i] === '\n') lineStarts.push(i + 1);
  const position = (offset: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo]! + 1 };
  };
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  const keep = (from: number, to: number) => {
    strings.push({ text: src.slice(from, to), ...position(from) });
  };

  // What is open: '{' for a block or object, '${' for a template substitution.
  const stack: string[] = [];
  let prev = ''; // last significant code character
  let prevWord = ''; // last identifier-like word, if the last token was one
  let i = 0;

  const scanTemplate = (): void => {
    // At the character after "`" or after the "}" closing a substitution.
    const start = i;
    while (i < src.length) {
      const c = src[i]!;
      if (c === '\\') {
        i += 2;
        continue;
      }
      if (c === '`') {
        keep(start, i);
        blank(start, i);
        i++;
        prev = '`';
        prevWord = '';
        return;
      }
      if (c === '$' && src[i + 1] === '{') {
        keep(start, i);
        blank(start, i);
        stack.push('${');
        i += 2;
        prev = '{';
        prevWord = '';
        return;
      }
      i++;
    }
    keep(start, src.length);
    blank(start, src.length);
  };

  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === '/' && next === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? src.length : end;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i + 1;
      let j = start;
      while (j < src.length && src[j] !== c && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1;
      const stop = Math.min(j, src.length);
      keep(start, stop);
      blank(start, stop);
      i = stop + 1;
      prev = c;
      prevWord = '';
      continue;
    }
    if (c === '`') {
      i++;
      scanTemplate();
      continue;
    }
    if (c === '/' && (prev === '' || REGEX_AFTER_PUNCT.has(prev) || REGEX_AFTER_WORD.has(prevWord))) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== '\n') {
        const d = src[j]!;
        if (d === '\\') {
          j += 2;
          continue;
        }
        if (d === '[') inClass = true;
        else if (d === ']') inClass = false;
        else if (d === '/' && !inClass) break;
        j++;
      }
      blank(i + 1, Math.min(j, src.length));
      i = j + 1;
      while (i < src.length && WORD.test(src[i]!)) i++; // flags
      prev = '/';
      prevWord = '';
      continue;
    }
    if (c === '{') stack.push('{');
    if (c === '}') {
      if (stack.pop() === '${') {
        i++;
        scanTemplate();
        continue;
      }
    }
    if (WORD.test(c)) {
      let j = i;
      while (j < src.length && WORD.test(src[j]!)) j++;
      prevWord = src.slice(i, j);
      prev = src[j - 1]!;
      i = j;
      continue;
    }
    if (!/\s/.test(c)) {
      prev = c;
      prevWord = '';
    }
    i++;
  }
  return { code: out.join(''), strings };
}
