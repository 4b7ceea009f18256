// Text a plugin brings (its manifest's name and description, file names, code excerpts) ends up
// on the operator's terminal. Characters that change how the rest of a line looks are refused in
// manifests and escaped wherever such text is printed:
//   - C0 and C1 control characters and DEL: escape sequences repaint the terminal;
//   - bidirectional overrides, embeddings, isolates and marks: "evil\u202Egnp.js" shows as
//     "eviljs.png", and a name can look like another;
//   - zero-width and other invisible characters: two names that look equal are not;
//   - line and paragraph separators: a second line inside one field.

// Written as a string: a regex literal holding control characters is what the linter warns of.
const UNSAFE_SOURCE =
  '[\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f\\u00ad\\u061c\\u115f\\u1160\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\u3164\\ufeff\\uffa0\\ufff9-\\ufffb]|\\u034f|\\u{e0001}|[\\u{e0020}-\\u{e007f}]';
const UNSAFE_BUT_NEWLINE = new RegExp(UNSAFE_SOURCE, 'u');
const UNSAFE_BUT_NEWLINE_ALL = new RegExp(UNSAFE_SOURCE, 'gu');
const NEWLINE = /\n/g;

const KINDS: [RegExp, string][] = [
  // biome-ignore lint/suspicious/noControlCharactersInRegex: classifying control characters is the point
  [/[\x00-\x1f\x7f]/u, 'a control character'],
  [/[\x80-\x9f]/u, 'a C1 control character'],
  [/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u, 'a bidirectional override or mark'],
  [/[\u2028\u2029]/u, 'a line or paragraph separator'],
];

/** Why `text` may not be shown as it is, or undefined when it may. */
export function unsafeTextProblem(text: string, opts: { newlines?: boolean } = {}): string | undefined {
  const m = UNSAFE_BUT_NEWLINE.exec(text) ?? (opts.newlines ? null : /\n/.exec(text));
  if (!m) return undefined;
  const ch = m[0];
  const kind = KINDS.find(([re]) => re.test(ch))?.[1] ?? 'an invisible (zero-width) character';
  return `contains ${kind} (${codePoint(ch)} at position ${m.index})`;
}

const codePoint = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** The text with every unsafe character (newlines too) written as \u{…}: safe on one line. */
export function printable(text: string): string {
  return printableLines(text).replace(NEWLINE, '\\n');
}

/** As printable(), but newlines stay: for multi-line output whose lines are ours. */
export function printableLines(text: string): string {
  return text.replace(UNSAFE_BUT_NEWLINE_ALL, (ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`);
}

/**
 * JSON text (from JSON.stringify) with the same characters as \uXXXX escapes: the same data to a
 * JSON reader, nothing raw on a terminal. They can only occur inside strings, where the escape
 * means the same character.
 */
export function jsonSafe(json: string): string {
  return json.replace(UNSAFE_BUT_NEWLINE_ALL, (ch) =>
    [...ch]
      .flatMap((c) => {
        const cp = c.codePointAt(0)!;
        // Astral characters (the tag block) as their UTF-16 surrogate pair.
        return cp > 0xffff ? [0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff)] : [cp];
      })
      .map((u) => `\\u${u.toString(16).padStart(4, '0')}`)
      .join(''),
  );
}
