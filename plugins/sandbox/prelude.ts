// The code that runs inside each plugin's isolate before the plugin does. It builds the `hana`
// API from plain in-isolate code (no host function, Reference or Callback is ever placed in the
// isolate), removes the few built-ins that could run code outside a frame call, and returns one
// dispatch function the host calls with a string and gets a string back:
//
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

export const LIMITS_IN_ISOLATE = {
  writesPerFrame: 64,
  logsPerFrame: 8,
  logLineLength: 500,
  pathLength: 256,
  stringLength: 4096,
  errorLength: 500,
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

// Built-ins that schedule work outside a call: a FinalizationRegistry callback runs on garbage
// collection, after the frame's timeout is gone (measured: an endless one burns CPU between
// frames). Atomics.wait* block or wake later; WebAssembly is not part of the plugin API.
delete G.FinalizationRegistry;
delete G.WebAssembly;
if (typeof Atomics === 'object') { delete Atomics.wait; delete Atomics.waitAsync; }

let writes = null;
let logs = null;
let droppedWrites = 0;
let droppedLogs = 0;
let frameFn = null;
let setupFn = null;
let self = undefined;

function clip(s, n) { return s.length > n ? s.slice(0, n) + '…' : s; }

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
    if (e !== null && typeof e === 'object' && typeof e.message === 'string') {
      const name = typeof e.name === 'string' ? e.name : 'Error';
      return clip(name + ': ' + e.message, L.errorLength);
    }
    return clip('thrown: ' + show(e), L.errorLength);
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
  for (let i = 0; i < arguments.length; i++) line += (i ? ' ' : '') + show(arguments[i]);
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
  const p = G.plugin;
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
  let drawJson;
  try {
    if (draw !== null && (typeof draw === 'object' || typeof draw === 'function') && typeof draw.then === 'function') {
      return stringify({ x: 'frame() returned a Promise: frame must be synchronous and return an array', l: m.l });
    }
    drawJson = stringify(draw);
  } catch (e) {
    return stringify({ x: 'the display list cannot be serialized: ' + errorText(e), l: m.l });
  }
  if (typeof drawJson !== 'string') {
    return stringify({ x: 'frame() returned ' + (draw === undefined ? 'nothing' : typeof draw) + ', not an array', l: m.l });
  }
  return stringify(m) + '\\n' + drawJson;
}

return function dispatch(kind, arg) {
  if (kind === 'frame') return frame(arg);
  if (kind === 'setup') return setup(arg);
  if (kind === 'bind') return bind();
  return stringify({ e: 'unknown call' });
};
`;
