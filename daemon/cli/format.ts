import type { ParamView } from '../control/handlers.ts';

// Human-readable output for the terminal; `--json` prints the raw result instead.

export function table(rows: readonly string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '))
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
