import type { ParamView } from '../control/handlers.ts';

// Human-readable output for the terminal; `--json` prints the raw result instead.

// Terminal columns, not UTF-16 units: a CJK name or an emoji takes two columns, a combining
// accent none, so `.length` padding would push every later column of that row sideways.
const WIDE =
  /^[\u1100-\u115f\u231a\u231b\u2329\u232a\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\ua960-\ua97f\uac00-\ud7a3\uf900-\ufaff\ufe10-\ufe19\ufe30-\ufe6f\uff00-\uff60\uffe0-\uffe6\u{16fe0}-\u{18aff}\u{1b000}-\u{1b2ff}\u{1f200}-\u{1f2ff}\u{20000}-\u{3fffd}]/u;
const EMOJI = /\p{Emoji_Presentation}|\p{Extended_Pictographic}\ufe0f/u;
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]+$/u;
// Built on first use: constructing it (ICU's break rules) takes 20–30 ms, a good part of a
// `hana status`, whose cells are nearly always plain ASCII and never need it.
let segmenter: Intl.Segmenter | undefined;
// Printable ASCII: one column per character.
const ASCII = /^[\x20-\x7e]*$/;

/** Columns `s` takes in a terminal (after `printable`). */
export function displayWidth(s: string): number {
  if (ASCII.test(s)) return s.length;
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  let width = 0;
  for (const { segment } of segmenter.segment(s)) {
    if (ZERO_WIDTH.test(segment)) continue;
    width += WIDE.test(segment) || EMOJI.test(segment) ? 2 : 1;
  }
  return width;
}

// C0/C1 controls would end the row or move the cursor; bidi controls would reorder the columns
// after them. Shown escaped instead, so whatever a cell holds stays on its line, in its column.
const UNPRINTABLE = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

/** `s` on one line, with control and bidi characters escaped (`\u{1b}`). */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

export function table(rows: readonly string[][]): string {
  if (rows.length === 0) return '';
  const cells = rows.map((r) => r.map(printable));
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((r) => displayWidth(r[c] ?? ''))));
  const pad = (cell: string, c: number) => cell + ' '.repeat(widths[c]! - displayWidth(cell));
  return cells
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : pad(cell, c))).join('  '))
    .join('\n');
}

export function formatValue(v: unknown): string {
  if (v === null) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e6) / 1e6);
  return String(v);
}

function range(p: ParamView): string {
  const s = p.spec;
  if (s.type === 'float' || s.type === 'int') {
    if (s.min === undefined && s.max === undefined) return '';
    return `${s.min ?? '-∞'}..${s.max ?? '∞'}${s.outOfRange === 'reject' ? ' (reject)' : ''}`;
  }
  return '';
}

export function paramsTable(params: readonly ParamView[], withSpec: boolean): string {
  const head = withSpec
    ? ['PATH', 'TYPE', 'VALUE', 'RANGE', 'UNIT', 'DESCRIPTION']
    : ['PATH', 'VALUE', 'SET BY'];
  const rows = params.map((p) =>
    withSpec
      ? [p.path, p.spec.type, formatValue(p.value), range(p), p.spec.unit ?? '', p.spec.description ?? '']
      : [p.path, formatValue(p.value), p.source],
  );
  return table([head, ...rows]);
}
