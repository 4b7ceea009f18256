import { type DisplayList, parseDisplayList } from '../display-list.ts';
import type { Permissions } from './permissions.ts';
import { LIMITS_IN_ISOLATE as L } from './prelude.ts';

// Reading a frame's answer on the host side. The answer is one string, `<meta>\n<display list>`,
// produced by code the plugin can subvert, so each part is size-capped before it is parsed and
// every field is checked again here; nothing the plugin shaped is trusted for being "ours".

export const MAX_META_BYTES = 64 * 1024;

export type WriteValue = number | boolean | string;
export type PluginWrite = { readonly path: string; readonly value: WriteValue };

export type Answer =
  | {
      kind: 'ok';
      commands: DisplayList;
      /** The validated list as the plugin serialized it: composed without re-serializing. */
      json: string;
      writes: PluginWrite[];
      /** Paths the plugin tried to write without declaring them; not applied. */
      refused: string[];
      logs: string[];
      droppedLogs: number;
      droppedWrites: number;
    }
  | { kind: 'exception'; error: string; logs: string[] }
  | { kind: 'invalid-output'; code: string; error: string; logs: string[] };

type Meta = Record<string, unknown>;

function readMeta(text: string): Meta | string {
  if (text.length > MAX_META_BYTES)
    return `the frame's bookkeeping is ${text.length} bytes, more than allowed`;
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Meta;
  } catch {}
  return 'the frame answer is not JSON';
}

const own = (m: Meta, k: string): unknown => (Object.hasOwn(m, k) ? m[k] : undefined);
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

function readLogs(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const line of v.slice(0, L.logsPerFrame))
    if (typeof line === 'string') out.push(clip(line, L.logLineLength));
  return out;
}

const count = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0);

function isWriteValue(v: unknown): v is WriteValue {
  return (
    (typeof v === 'number' && Number.isFinite(v)) ||
    typeof v === 'boolean' ||
    (typeof v === 'string' && v.length <= L.stringLength)
  );
}

/** Splits, caps, parses and validates one frame answer; writes are sorted by permission. */
export function readFrameAnswer(answer: unknown, permissions: Permissions): Answer {
  const invalid = (code: string, error: string, logs: string[] = []): Answer => ({
    kind: 'invalid-output',
    code,
    error,
    logs,
  });
  if (typeof answer !== 'string') return invalid('no-answer', 'the frame call returned no answer');
  const nl = answer.indexOf('\n');
  const meta = readMeta(nl < 0 ? answer : answer.slice(0, nl));
  if (typeof meta === 'string') return invalid('bad-answer', meta);
  const logs = readLogs(own(meta, 'l'));
  const error = own(meta, 'e');
  if (error !== undefined) {
    return { kind: 'exception', error: clip(typeof error === 'string' ? error : 'an exception', 500), logs };
  }
  const unusable = own(meta, 'x');
  if (unusable !== undefined || nl < 0) {
    const why = typeof unusable === 'string' ? clip(unusable, 500) : 'frame() returned no display list';
    // The prelude refuses a list over a cap before it leaves the isolate, and names the cap.
    const cap = own(meta, 'c');
    return invalid(cap === 'too-large' || cap === 'too-many-commands' ? cap : 'not-a-list', why, logs);
  }
  const json = answer.slice(nl + 1);
  const list = parseDisplayList(json);
  if (!list.ok) return invalid(list.code, list.error, logs);

  const raw = own(meta, 'w');
  if (!Array.isArray(raw) || raw.length > L.writesPerFrame) {
    return invalid('bad-writes', 'the frame answer carries malformed writes', logs);
  }
  // Last write per path wins, in first-write order: one frame, one value per parameter.
  const accepted = new Map<string, WriteValue>();
  const refused = new Set<string>();
  for (const w of raw) {
    if (!Array.isArray(w) || w.length !== 2)
      return invalid('bad-writes', 'a write is not [path, value]', logs);
    const [path, value] = w as [unknown, unknown];
    if (typeof path !== 'string' || path.length > L.pathLength || !isWriteValue(value)) {
      return invalid('bad-writes', 'a write is not a path and a number, boolean or string', logs);
    }
    if (permissions.canWrite(path)) accepted.set(path, value);
    else refused.add(path);
  }
  return {
    kind: 'ok',
    commands: list.commands,
    json,
    writes: [...accepted].map(([path, value]) => ({ path, value })),
    refused: [...refused],
    logs,
    droppedLogs: count(own(meta, 'dl')),
    droppedWrites: count(own(meta, 'dw')),
  };
}

/** Reads the answer of `bind` or `setup`: an error message, or undefined when it went well. */
export function readControlAnswer(answer: unknown): { error?: string; logs: string[]; setup?: boolean } {
  if (typeof answer !== 'string') return { error: 'the call returned no answer', logs: [] };
  const meta = readMeta(answer);
  if (typeof meta === 'string') return { error: meta, logs: [] };
  const logs = readLogs(own(meta, 'l'));
  const error = own(meta, 'e');
  if (error !== undefined)
    return { error: clip(typeof error === 'string' ? error : 'an exception', 500), logs };
  return { logs, setup: own(meta, 'setup') === true };
}
