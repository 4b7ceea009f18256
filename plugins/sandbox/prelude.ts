// The code that runs inside each plugin's isolate before the plugin does. It builds the `hana`
// API from plain in-isolate code (no host function, Reference or Callback is ever placed in the
// isolate), removes the few built-ins that could run code outside a frame call, and returns one
// dispatch function the host calls with a string and gets a string back (in a one-element array):
//
//   dispatch('run', source)      → runs the bundle (indirect eval, as a classic script)
//   dispatch('bind')             → looks up the bundle's global `plugin`
//   dispatch('setup', infoJson)  → plugin.setup(info)
//   dispatch('frame', frameJson) → plugin.frame(frame), answered as `<meta json>\n<draw json>`
//
// Meta is {w: [[path, value]…], l: [line…], dw, dl} or {e: error} or {x: why the output is unusable}.
// JSON never contains a raw newline, so the first "\n" splits meta from the display list and the
// host can cap each part's size before parsing it. The plugin can rewrite anything in its own
// isolate, including what this code relies on (prototypes, JSON, toJSON): the host therefore
// treats the whole answer as untrusted and checks it again. What is captured here only keeps
// honest plugins from breaking the API by accident.
//
// Nothing the plugin throws leaves the isolate as an exception: isolated-vm copies a thrown
// error's message and stack into the host whole (measured: a top-level `throw new Error('x'.repeat(1e8))`
// cost the host 200 MB and 1.2 s), outside the plugin's memory limit. So the bundle runs here,
// every call is caught here, and only a clipped text goes out; an answer larger than the host
// would accept is refused here too, before it is copied out.

import { MAX_COMMANDS, MAX_DISPLAY_LIST_BYTES } from '../display-list.ts';

export const LIMITS_IN_ISOLATE = {
  writesPerFrame: 64,
  logsPerFrame: 8,
  logLineLength: 500,
  pathLength: 256,
  stringLength: 4096,
  errorLength: 500,
  flattenLength: 65536,
  answerBytes: MAX_DISPLAY_LIST_BYTES,
  commands: MAX_COMMANDS,
} as const;

export const PRELUDE = `
'use strict';
const G = globalThis;
const L = ${JSON.stringify(LIMITS_IN_ISOLATE)};
const parse = JSON.parse;
const stringify = JSON.stringify;
const toText = String;
const freeze = Object.freeze;
const defineProperty = Object.defineProperty;
const indirectEval = G.eval;
const isArray = Array.isArray;
const objectKeys = Object.keys;

// Built-ins that schedule work outside a call: a FinalizationRegistry callback runs on garbage
// collection, after the frame's timeout is gone (measured: an endless one burns CPU between
// frames). Atomics.wait* block or wake later; WebAssembly is not part of the plugin API.
delete G.FinalizationRegistry;
delete G.WebAssembly;
if (typeof Atomics === 'object') { delete Atomics.wait; delete Atomics.waitAsync; }

// Built-ins whose memory lives outside the V8 heap that memoryLimit counts: ICU's formatters,
// collators, segmenters and their caches (measured: 200,000 Intl.DateTimeFormat objects took a
// process to 800 MB of RSS with 6 MB of heap; an isolate with memoryMb 32 grew the plugin host
// to 3 GB). Intl is removed; the locale-sensitive methods become their plain, locale-free
// counterparts, which allocate only on the heap. Arrays' toLocaleString calls their elements',
// so it needs nothing of its own.
delete G.Intl;
{
  const plain = (proto, name, fn) =>
    defineProperty(proto, name, { value: fn, writable: true, enumerable: false, configurable: true });
  const numberToString = Number.prototype.toString;
  const bigintToString = BigInt.prototype.toString;
  const dateToString = Date.prototype.toString;
  const dateToDateString = Date.prototype.toDateString;
  const dateToTimeString = Date.prototype.toTimeString;
  const upper = String.prototype.toUpperCase;
  const lower = String.prototype.toLowerCase;
  plain(Number.prototype, 'toLocaleString', function toLocaleString() { return numberToString.call(this); });
  plain(BigInt.prototype, 'toLocaleString', function toLocaleString() { return bigintToString.call(this); });
  plain(Date.prototype, 'toLocaleString', function toLocaleString() { return dateToString.call(this); });
  plain(Date.prototype, 'toLocaleDateString', function toLocaleDateString() { return dateToDateString.call(this); });
  plain(Date.prototype, 'toLocaleTimeString', function toLocaleTimeString() { return dateToTimeString.call(this); });
  plain(String.prototype, 'toLocaleUpperCase', function toLocaleUpperCase() { return upper.call(this); });
  plain(String.prototype, 'toLocaleLowerCase', function toLocaleLowerCase() { return lower.call(this); });
  plain(String.prototype, 'localeCompare', function localeCompare(that) {
    const a = toText(this);
    const b = toText(that);
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

let writes = null;
let logs = null;
let droppedWrites = 0;
let droppedLogs = 0;
let frameFn = null;
let setupFn = null;
let self = undefined;
let evaluated = undefined;

// Cutting a long string that was built by repeat() or + flattens all of it first (measured:
// taking 500 characters off a 4 MB 'x'.repeat() took 161 ms of an isolate's CPU); past
// L.flattenLength characters only the length is told.
function clip(s, n) {
  if (s.length <= n) return s;
  if (s.length > L.flattenLength) return '[' + s.length + ' characters]';
  return s.slice(0, n) + '…';
}

function show(v) {
  if (typeof v === 'string') return v;
  try {
    const s = stringify(v);
    if (s !== undefined) return s;
  } catch {}
  try { return toText(v); } catch { return '[unprintable]'; }
}

function errorText(e) {
  try {
    if (e !== null && typeof e === 'object') {
      // Each read once (a getter may answer differently twice), each clipped before joining.
      const message = e.message;
      if (typeof message === 'string') {
        const name = e.name;
        const n = typeof name === 'string' ? clip(name, 100) : 'Error';
        return clip(n + ': ' + clip(message, L.errorLength), L.errorLength);
      }
    }
    return clip('thrown: ' + clip(show(e), L.errorLength), L.errorLength);
  } catch {
    return 'an exception that cannot be shown';
  }
}

function set(path, value) {
  if (writes === null) throw new TypeError('hana.set works only while frame() runs');
  if (typeof path !== 'string' || path.length > L.pathLength) {
    throw new TypeError('hana.set: the path is a string of at most ' + L.pathLength + ' characters');
  }
  const t = typeof value;
  if (!(t === 'number' || t === 'boolean' || (t === 'string' && value.length <= L.stringLength))) {
    throw new TypeError('hana.set: the value is a number, a boolean or a string of at most ' + L.stringLength + ' characters');
  }
  if (writes.length >= L.writesPerFrame) { droppedWrites++; return; }
  writes[writes.length] = [path, value];
}

function log() {
  let line = '';
  for (let i = 0; i < arguments.length && line.length <= L.logLineLength; i++) {
    line += (i ? ' ' : '') + clip(show(arguments[i]), L.logLineLength);
  }
  if (logs === null) logs = [];
  if (logs.length >= L.logsPerFrame) { droppedLogs++; return; }
  logs[logs.length] = clip(line, L.logLineLength);
}

const hana = freeze({ set: freeze(set), log: freeze(log) });
defineProperty(G, 'hana', { value: hana, writable: false, enumerable: false, configurable: false });
// The isolate's own console prints nowhere; plugins that use it reach hana.log instead.
defineProperty(G, 'console', {
  value: freeze({ log: hana.log, info: hana.log, warn: hana.log, error: hana.log, debug: hana.log }),
  writable: true, enumerable: false, configurable: true,
});

function bind() {
  const p = evaluated !== undefined ? evaluated : G.plugin;
  if (p === null || (typeof p !== 'object' && typeof p !== 'function')) {
    return stringify({ e: 'the bundle defines no global "plugin" (build it with esbuild --format=iife --global-name=plugin)' });
  }
  if (typeof p.frame !== 'function') return stringify({ e: 'the plugin exports no frame() function' });
  frameFn = p.frame;
  setupFn = typeof p.setup === 'function' ? p.setup : null;
  self = p;
  return stringify({ ok: true, setup: setupFn !== null });
}

function meta() {
  return { w: [], l: logs === null ? [] : logs, dw: droppedWrites, dl: droppedLogs };
}

// A bundle that starts with "use strict" (esbuild writes it) keeps its top-level vars inside
// the eval, not on globalThis: the host appends an expression naming plugin, whose value is
// the eval's completion value.
function run(source) {
  logs = null; droppedLogs = 0;
  try {
    evaluated = indirectEval(source);
  } catch (e) {
    return stringify({ e: errorText(e), l: logs === null ? [] : logs });
  }
  return stringify(meta());
}

function setup(infoJson) {
  logs = null; droppedLogs = 0;
  try {
    if (setupFn !== null) setupFn.call(self, freeze(parse(infoJson)));
  } catch (e) {
    return stringify({ e: errorText(e), l: logs === null ? [] : logs });
  }
  return stringify(meta());
}

function frame(frameJson) {
  writes = []; logs = null; droppedWrites = 0; droppedLogs = 0;
  let draw;
  try {
    draw = frameFn.call(self, parse(frameJson));
  } catch (e) {
    writes = null;
    return stringify({ e: errorText(e), l: logs === null ? [] : logs });
  }
  const m = meta();
  m.w = writes;
  writes = null;
  // Serialized one command at a time and stopped at the caps: the work of checking a list is
  // bounded by what the host would accept, not by what the plugin built (measured: stringifying
  // the 2.4 MB "too many bytes" list took 80-175 ms of the isolate's CPU, past its time limit
  // on a loaded machine, so it was judged an overrun instead of invalid output).
  let drawJson = '[';
  try {
    if (draw !== null && (typeof draw === 'object' || typeof draw === 'function') && typeof draw.then === 'function') {
      return stringify({ x: 'frame() returned a Promise: frame must be synchronous and return an array', l: m.l });
    }
    if (!isArray(draw)) {
      return stringify({ x: 'frame() returned ' + (draw === undefined ? 'nothing' : draw === null ? 'null' : typeof draw) + ', not an array', l: m.l });
    }
    const n = draw.length;
    if (!(n <= L.commands)) {
      return stringify({ x: 'the display list has ' + toText(n) + ' commands, more than ' + L.commands, c: 'too-many-commands', l: m.l });
    }
    for (let i = 0; i < n; i++) {
      const cmd = draw[i];
      // A string field longer than the room left can only make the list too large; serializing
      // it is what is slow (measured: JSON of one 1 MB text took 70-580 ms of the isolate's CPU).
      if (cmd !== null && typeof cmd === 'object') {
        const keys = objectKeys(cmd);
        for (let k = 0; k < keys.length; k++) {
          const v = cmd[keys[k]];
          if (typeof v === 'string' && v.length > L.answerBytes - drawJson.length) {
            return stringify({ x: 'the display list is more than ' + L.answerBytes + ' bytes (a ' + v.length + '-character string)', c: 'too-large', l: m.l });
          }
        }
      }
      const part = stringify(cmd);
      drawJson += (i === 0 ? '' : ',') + (part === undefined ? 'null' : part);
      if (drawJson.length + 1 > L.answerBytes) {
        return stringify({ x: 'the display list is more than ' + L.answerBytes + ' bytes', c: 'too-large', l: m.l });
      }
    }
    drawJson += ']';
  } catch (e) {
    return stringify({ x: 'the display list cannot be serialized: ' + errorText(e), l: m.l });
  }
  return stringify(m) + '\\n' + drawJson;
}

function call(kind, arg) {
  if (kind === 'frame') return frame(arg);
  if (kind === 'setup') return setup(arg);
  if (kind === 'run') return run(arg);
  if (kind === 'bind') return bind();
  return stringify({ e: 'unknown call' });
}

function answer(kind, arg) {
  try {
    return call(kind, arg);
  } catch (e) {
    // Reached when the plugin broke what the answer is built with (a throwing toJSON on
    // Object.prototype, say). A string primitive is serialized without any toJSON lookup.
    try {
      return '{"e":' + stringify(errorText(e)) + '}';
    } catch {
      return '{"e":"an exception that cannot be shown"}';
    }
  }
}

// The answer leaves in a one-element array the host copies by structured clone (sandbox.ts
// \`ask\` says why). A literal defines its own element, so nothing on Array.prototype is consulted.
return function dispatch(kind, arg) {
  return [answer(kind, arg)];
};
`;
