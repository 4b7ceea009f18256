// The hana output page: receives composed frames over a WebSocket and draws the newest one on
// each animation frame. A frame is { index, width, height, layers: [{ id, commands }] } where
// commands is a display list as defined in plugins/api/hana-plugin.d.ts.
//
// Every field is checked before it is drawn: a command with an unknown op, a NaN, a bad colour
// or a wrong type is skipped and counted, never thrown out of the draw loop.
//
// Layers are drawn in order straight onto the one canvas, so a command composites over
// everything drawn before it in the frame (lower layers included): an `add` strobe brightens the
// layers below, a `clear` covers them. (Drawing each layer on its own canvas first measured
// ~40 instead of ~57 fps at 1280×720 in software-rendered Chromium, and would make blend modes
// act only within a plugin's own layer.)

import { createIsf } from './isf.js';
import { createTimeline } from './timeline.js';

const BLENDS = { normal: 'source-over', add: 'lighter', multiply: 'multiply', screen: 'screen' };
const ALIGNS = { left: 'left', center: 'center', right: 'right' };
const MAX_LAYERS = 64;
const MAX_COMMANDS = 2000;
const MAX_POINTS = 2000;
const MAX_TEXT = 200;
const MAX_SIZE = 10000;
const MAX_MESSAGE = 16 * 1024 * 1024;
const IDLE_CURSOR_MS = 2000;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 4000;

// ── Drawing ───────────────────────────────────────────────────────────────────────────────────

const HEX = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/;
const colors = new Map();

/** "#rgb", "#rrggbb" or "#rrggbbaa" → a canvas colour string; undefined for anything else. */
function parseColor(text) {
  if (typeof text !== 'string') return undefined;
  const known = colors.get(text);
  if (known !== undefined) return known;
  if (!HEX.test(text)) return undefined;
  let h = text.slice(1);
  if (h.length === 3) h = h[0] + h[0] + h[1] + h[1] + h[2] + h[2];
  const n = (i) => Number.parseInt(h.slice(i, i + 2), 16);
  const a = h.length === 8 ? n(6) / 255 : 1;
  const css = `rgba(${n(0)}, ${n(2)}, ${n(4)}, ${a})`;
  if (colors.size > 4096) colors.clear(); // plugins may animate colours: keep the cache bounded
  colors.set(text, css);
  return css;
}

const finite = (v) => typeof v === 'number' && Number.isFinite(v);
const optional = (v, check) => v === undefined || check(v);
const own = (table, key) => (typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined);

/**
 * Applies a command's style to ctx. Returns whether it fills (true/false), or undefined when a
 * style field is invalid and the command must be skipped. `view` maps frame units to pixels:
 * scale `s`, then offset (ox, oy) into the letterbox.
 */
function applyStyle(ctx, cmd, view, defaultFill) {
  const color = cmd.color === undefined ? 'rgba(255, 255, 255, 1)' : parseColor(cmd.color);
  if (color === undefined) return undefined;
  if (!optional(cmd.alpha, finite)) return undefined;
  if (!optional(cmd.lineWidth, (w) => finite(w) && w >= 0)) return undefined;
  if (!optional(cmd.fill, (f) => typeof f === 'boolean')) return undefined;
  const blend = cmd.blend === undefined ? 'source-over' : own(BLENDS, cmd.blend);
  if (blend === undefined) return undefined;
  const t = cmd.transform;
  const { s, ox, oy } = view;
  if (t === undefined) {
    ctx.setTransform(s, 0, 0, s, ox, oy);
  } else {
    if (!Array.isArray(t) || t.length !== 6 || !t.every(finite)) return undefined;
    // The command's own matrix first, then frame → screen.
    ctx.setTransform(s * t[0], s * t[1], s * t[2], s * t[3], s * t[4] + ox, s * t[5] + oy);
  }
  ctx.globalAlpha = cmd.alpha === undefined ? 1 : Math.min(1, Math.max(0, cmd.alpha));
  ctx.globalCompositeOperation = blend;
  ctx.fillStyle = color;
  ctx.strokeStyle = color;
  ctx.lineWidth = Math.min(cmd.lineWidth ?? 1, MAX_SIZE);
  return cmd.fill ?? defaultFill;
}

/** Draws one command; false when it was skipped. */
function drawCommand(ctx, cmd, view) {
  if (cmd === null || typeof cmd !== 'object') return false;
  switch (cmd.op) {
    case 'clear': {
      const color = cmd.color === undefined ? undefined : parseColor(cmd.color);
      if (cmd.color !== undefined && color === undefined) return false;
      // Covers the whole output (default black); a translucent colour fades what is there.
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.globalAlpha = 1;
      ctx.globalCompositeOperation = 'source-over';
      ctx.fillStyle = color ?? '#000';
      ctx.fillRect(view.ox, view.oy, view.w, view.h);
      return true;
    }
    case 'rect': {
      if (![cmd.x, cmd.y, cmd.w, cmd.h].every(finite)) return false;
      const fill = applyStyle(ctx, cmd, view, true);
      if (fill === undefined) return false;
      if (fill) ctx.fillRect(cmd.x, cmd.y, cmd.w, cmd.h);
      else ctx.strokeRect(cmd.x, cmd.y, cmd.w, cmd.h);
      return true;
    }
    case 'circle': {
      if (![cmd.x, cmd.y, cmd.r].every(finite) || cmd.r < 0) return false;
      const fill = applyStyle(ctx, cmd, view, true);
      if (fill === undefined) return false;
      ctx.beginPath();
      ctx.arc(cmd.x, cmd.y, cmd.r, 0, Math.PI * 2);
      if (fill) ctx.fill();
      else ctx.stroke();
      return true;
    }
    case 'line': {
      if (![cmd.x1, cmd.y1, cmd.x2, cmd.y2].every(finite)) return false;
      if (applyStyle(ctx, cmd, view, false) === undefined) return false;
      ctx.beginPath();
      ctx.moveTo(cmd.x1, cmd.y1);
      ctx.lineTo(cmd.x2, cmd.y2);
      ctx.stroke();
      return true;
    }
    case 'polyline': {
      const p = cmd.points;
      if (!Array.isArray(p) || p.length < 2 || p.length % 2 !== 0 || p.length > MAX_POINTS) return false;
      if (!p.every(finite) || !optional(cmd.closed, (c) => typeof c === 'boolean')) return false;
      const fill = applyStyle(ctx, cmd, view, false);
      if (fill === undefined) return false;
      ctx.beginPath();
      ctx.moveTo(p[0], p[1]);
      for (let i = 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
      if (cmd.closed) ctx.closePath();
      if (fill) ctx.fill();
      else ctx.stroke();
      return true;
    }
    case 'text': {
      if (![cmd.x, cmd.y].every(finite) || typeof cmd.text !== 'string') return false;
      if (!optional(cmd.size, (s) => finite(s) && s > 0)) return false;
      const align = cmd.align === undefined ? 'left' : own(ALIGNS, cmd.align);
      if (align === undefined) return false;
      const fill = applyStyle(ctx, cmd, view, true);
      if (fill === undefined) return false;
      ctx.font = `${Math.min(cmd.size ?? 24, MAX_SIZE)}px sans-serif`;
      ctx.textAlign = align;
      ctx.textBaseline = 'alphabetic';
      const text = cmd.text.slice(0, MAX_TEXT);
      if (fill) ctx.fillText(text, cmd.x, cmd.y);
      else ctx.strokeText(text, cmd.x, cmd.y);
      return true;
    }
    default:
      return false;
  }
}

/** Draws a layer's commands onto ctx (already clipped to the view); returns how many were skipped. */
function drawCommands(ctx, layer, view) {
  const commands = layer.commands;
  let skipped = Math.max(0, commands.length - MAX_COMMANDS);
  for (let i = 0; i < Math.min(commands.length, MAX_COMMANDS); i++) {
    let ok = false;
    try {
      ok = drawCommand(ctx, commands[i], view);
    } catch {
      ok = false;
    }
    if (!ok) skipped++;
  }
  return skipped;
}

// Scratch canvases, one per use, sized to the output canvas on demand: a layer drawn alone before
// it is blended (opacity below 1 or a blend other than normal), and deck B while the crossfader
// mixes it in. A layer at full opacity in normal mode is drawn straight onto its deck, as before
// the mixer existed: per-layer canvases cost ~40 instead of ~57 fps at 1280×720 in
// software-rendered Chromium, so they are used only where the mix needs them.
const scratch = new Map();
function scratchCanvas(name, like) {
  let ctx = scratch.get(name);
  if (ctx === undefined) {
    ctx = document.createElement('canvas').getContext('2d');
    scratch.set(name, ctx);
  }
  if (ctx.canvas.width !== like.width || ctx.canvas.height !== like.height) {
    ctx.canvas.width = like.width;
    ctx.canvas.height = like.height;
  }
  return ctx;
}

function resetDrawing(ctx) {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.globalAlpha = 1;
  ctx.globalCompositeOperation = 'source-over';
}

/** The layer's mix, or the plain one (full, normal, no deck) when the daemon sent none. */
function layerMix(mix, layer) {
  const m =
    typeof layer.id === 'string' && Object.hasOwn(mix.layers, layer.id) ? mix.layers[layer.id] : undefined;
  return m ?? { opacity: 1, blend: 'normal', deck: null };
}

/**
 * Draws one layer onto `ctx` (clipped to the view) by its mix: straight when it is at full opacity
 * in normal mode, else alone on a scratch canvas that is then laid over `ctx` with the layer's
 * opacity as alpha and its blend as the composite operation (add = lighter).
 */
function drawLayer(ctx, layer, lm, view, extras) {
  if (lm.opacity <= 0) return 0;
  if (lm.opacity >= 1 && lm.blend === 'normal') {
    extras.beforeCommands(ctx, layer, view);
    return drawCommands(ctx, layer, view);
  }
  const lc = scratchCanvas('layer', ctx.canvas);
  resetDrawing(lc);
  lc.clearRect(0, 0, lc.canvas.width, lc.canvas.height);
  extras.beforeCommands(lc, layer, view);
  const skipped = drawCommands(lc, layer, view);
  resetDrawing(ctx);
  ctx.globalAlpha = lm.opacity;
  ctx.globalCompositeOperation = BLENDS[lm.blend];
  ctx.drawImage(lc.canvas, 0, 0);
  resetDrawing(ctx);
  return skipped;
}

const NO_EXTRAS = { beforeCommands() {} };

/**
 * Draws a composed frame onto `canvas`, letterboxed: the frame's width × height keeps its aspect
 * ratio and is centred, black bars around it, nothing drawn outside it. Layers are mixed as the
 * daemon's `mix` says (daemon/output/mix.ts): deck A's layers over black, deck B's over black,
 * the two crossfaded (A × (1 − x) + B × x), then the layers on no deck over the result.
 * Returns how many commands (or layers) were skipped.
 */
function drawFrame(ctx, frame, mix = NO_MIX, extras = NO_EXTRAS) {
  const canvas = ctx.canvas;
  resetDrawing(ctx);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (frame === null || typeof frame !== 'object' || !Array.isArray(frame.layers)) return 1;
  const fw = finite(frame.width) && frame.width > 0 ? frame.width : 1280;
  const fh = finite(frame.height) && frame.height > 0 ? frame.height : 720;
  const s = Math.min(canvas.width / fw, canvas.height / fh);
  const w = Math.round(fw * s);
  const h = Math.round(fh * s);
  if (w < 1 || h < 1) return 0;
  const view = { s, w, h, ox: Math.floor((canvas.width - w) / 2), oy: Math.floor((canvas.height - h) / 2) };
  let skipped = 0;
  const decks = { a: [], b: [], none: [] };
  for (const layer of frame.layers.slice(0, MAX_LAYERS)) {
    if (layer === null || typeof layer !== 'object' || !Array.isArray(layer.commands)) {
      skipped++;
      continue;
    }
    const lm = layerMix(mix, layer);
    decks[lm.deck ?? 'none'].push({ layer, lm });
  }
  const clip = (c) => {
    c.save();
    c.beginPath();
    c.rect(view.ox, view.oy, w, h);
    c.clip();
  };
  const drawDeck = (c, list) => {
    for (const { layer, lm } of list) skipped += drawLayer(c, layer, lm, view, extras);
  };
  const x = mix.crossfade;
  clip(ctx);
  if (x < 1) drawDeck(ctx, decks.a);
  if (x > 0) {
    if (x >= 1) drawDeck(ctx, decks.b);
    else {
      // Deck B over its own black, laid over deck A with alpha x: A × (1 − x) + B × x.
      const bc = scratchCanvas('deck-b', canvas);
      resetDrawing(bc);
      bc.fillStyle = '#000';
      bc.fillRect(0, 0, canvas.width, canvas.height);
      clip(bc);
      drawDeck(bc, decks.b);
      bc.restore();
      resetDrawing(ctx);
      ctx.globalAlpha = x;
      ctx.drawImage(bc.canvas, 0, 0);
      resetDrawing(ctx);
    }
  }
  drawDeck(ctx, decks.none);
  ctx.restore();
  return skipped;
}

const NO_MIX = { crossfade: 0, layers: {}, inputs: {} };

/** The daemon's mix from a message, or undefined when it carries none that is well formed. */
function readMix(message) {
  const m = message?.mix;
  if (m === null || typeof m !== 'object' || !finite(m.crossfade)) return undefined;
  if (m.layers === null || typeof m.layers !== 'object') return undefined;
  const layers = {};
  for (const [id, l] of Object.entries(m.layers).slice(0, MAX_LAYERS)) {
    if (l === null || typeof l !== 'object' || !finite(l.opacity)) continue;
    layers[id] = {
      opacity: Math.min(1, Math.max(0, l.opacity)),
      blend: own(BLENDS, l.blend) === undefined ? 'normal' : l.blend,
      deck: l.deck === 'a' || l.deck === 'b' ? l.deck : null,
    };
  }
  // Shader inputs by plugin id, one record per shader; isf.js checks each value as it sets it.
  const inputs = m.inputs !== null && typeof m.inputs === 'object' ? m.inputs : {};
  return { crossfade: Math.min(1, Math.max(0, m.crossfade)), layers, inputs };
}

/**
 * The master controls over everything drawn, bars included: blackout paints black, an opacity
 * below 1 darkens by a black veil of 1 − opacity (on the opaque canvas, colour × opacity). It runs
 * after every layer with the drawing state reset, so nothing a plugin drew can undo it.
 */
function applyMaster(ctx, master) {
  if (!master.blackout && master.opacity >= 1) return;
  const canvas = ctx.canvas;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.globalAlpha = 1;
  ctx.globalCompositeOperation = 'source-over';
  ctx.fillStyle = master.blackout ? '#000' : `rgba(0, 0, 0, ${1 - master.opacity})`;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

/** The daemon's master from a message, or undefined when it carries none that is well formed. */
function readMaster(message) {
  const m = message?.master;
  if (m === null || typeof m !== 'object') return undefined;
  if (!finite(m.opacity) || typeof m.blackout !== 'boolean') return undefined;
  return { opacity: Math.min(1, Math.max(0, m.opacity)), blackout: m.blackout };
}

// ── The page ──────────────────────────────────────────────────────────────────────────────────

const canvas = document.getElementById('output');
const statusBox = document.getElementById('status');
// Opaque: the browser need not blend the canvas with the page behind it.
const ctx2d = canvas.getContext('2d', { alpha: false });
const token = new URLSearchParams(location.search).get('token') ?? '';

const state = {
  connected: false,
  connects: 0,
  received: 0,
  drawn: 0,
  badMessages: 0,
  skipped: 0,
  index: null,
  /** The beat of the frame on screen, so a test can see that the timeline chose it (beatAt). */
  beat: null,
  layers: 0,
  fps: 0,
  /** Time spent drawing one frame, ms (moving average). */
  drawMs: 0,
  retryAt: 0,
  overlay: false,
  /** As the daemon last said; until it has, the picture shows in full. */
  master: { opacity: 1, blackout: false },
  /** The master the canvas was last drawn with. */
  shown: { opacity: 1, blackout: false },
  /** The layer mix as the daemon last said (daemon/output/mix.ts). */
  mix: NO_MIX,
};
let socket = null;
// Shader faults go back to the daemon over the page's socket (daemon/output/shader-faults.ts).
const isf = createIsf({
  report(message) {
    if (socket !== null && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  },
});
/** Draws a layer's ISF shaders (if its plugin has any) under its commands. */
const shaderExtras = {
  frame: null,
  beforeCommands(ctx, layer, view) {
    if (typeof layer.id !== 'string' || !isf.has(layer.id)) return;
    const time = finite(this.frame?.time) ? this.frame.time : 0;
    const values = Object.hasOwn(state.mix.inputs, layer.id) ? state.mix.inputs[layer.id] : undefined;
    isf.draw(layer.id, Array.isArray(values) ? values : undefined, time, view.w, view.h, (picture) => {
      ctx.save();
      resetDrawing(ctx);
      ctx.drawImage(picture, view.ox, view.oy, view.w, view.h);
      ctx.restore();
    });
  },
};
let latest = null;
/** Frames by their session time (timeline.js); a frame without one is shown as it comes. */
const timeline = createTimeline();
let drawnFrame = null;
let dirty = true;
let retryDelay = RETRY_FIRST_MS;
const drawTimes = [];

function resize() {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(window.innerWidth * dpr));
  const h = Math.max(1, Math.round(window.innerHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  dirty = true;
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  socket = ws;
  ws.onopen = () => {
    state.connected = true;
    state.connects++;
    retryDelay = RETRY_FIRST_MS;
  };
  ws.onmessage = (event) => {
    if (typeof event.data !== 'string' || event.data.length > MAX_MESSAGE) {
      state.badMessages++;
      return;
    }
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      state.badMessages++;
      return;
    }
    if (message !== null && typeof message === 'object' && Object.hasOwn(message, 'shaders')) {
      isf.setTable(message);
      dirty = true;
      return;
    }
    const master = readMaster(message);
    if (master !== undefined) state.master = master;
    const mix = readMix(message);
    if (mix !== undefined) state.mix = mix;
    // A message with the daemon's fields alone (they changed before any frame) keeps the frame.
    const own = (master === undefined ? 0 : 1) + (mix === undefined ? 0 : 1);
    if (own === 0 || Object.keys(message).length > own) {
      latest = message;
      // When the message reached the page, not when this handler got to run after a long draw.
      const at =
        event.timeStamp > 0 && event.timeStamp <= performance.now() ? event.timeStamp : performance.now();
      if (!timeline.add(message, at)) timeline.reset();
      state.received++;
    }
    dirty = true;
  };
  ws.onclose = () => {
    state.connected = false;
    // Jittered exponential backoff: a restarting daemon is not hammered by every open page.
    const wait = retryDelay * (0.8 + Math.random() * 0.4);
    state.retryAt = performance.now() + wait;
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
    setTimeout(connect, wait);
  };
}

function updateStatus(now) {
  while (drawTimes.length > 0 && drawTimes[0] < now - 1000) drawTimes.shift();
  state.fps = drawTimes.length;
  const visible = state.overlay || !state.connected || state.received === 0;
  statusBox.hidden = !visible;
  if (!visible) return;
  let text;
  if (!state.connected) {
    const secs = Math.max(0, Math.ceil((state.retryAt - now) / 1000));
    text = state.connects === 0 ? 'connecting…' : `disconnected, retrying in ${secs}s`;
  } else if (state.received === 0) {
    text = 'connected, waiting for frames (is a plugin running?)';
  } else {
    text = `connected  ${state.fps} fps  frame ${state.index ?? '-'}  ${state.layers} layers  draw ${state.drawMs.toFixed(1)} ms`;
    if (state.skipped > 0) text += `  ${state.skipped} bad commands skipped`;
  }
  statusBox.classList.toggle('warn', !state.connected);
  if (statusBox.textContent !== text) statusBox.textContent = text;
}

function tick(now) {
  requestAnimationFrame(tick);
  // The frame whose session time has come (timeline.js), not simply the last to arrive.
  const frame = timeline.pick(performance.now()) ?? latest;
  if (frame !== drawnFrame || dirty) {
    drawnFrame = frame;
    dirty = false;
    const started = performance.now();
    try {
      if (frame !== null) {
        shaderExtras.frame = frame;
        state.skipped += drawFrame(ctx2d, frame, state.mix, shaderExtras);
        isf.endFrame(finite(frame.time) ? frame.time : 0);
        state.index = finite(frame.index) ? frame.index : null;
        state.beat = finite(frame.beat) ? frame.beat : null;
        state.layers = Array.isArray(frame.layers) ? frame.layers.length : 0;
      }
    } catch {
      state.skipped++; // a frame that broke drawing as a whole: the next one gets its chance
    }
    applyMaster(ctx2d, state.master);
    state.shown = state.master;
    state.drawMs += (performance.now() - started - state.drawMs) * 0.1;
    state.drawn++;
    drawTimes.push(now);
  }
  updateStatus(now);
}

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else document.documentElement.requestFullscreen().catch(() => {});
}

let idleTimer = 0;
function wake() {
  document.body.classList.remove('idle');
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => document.body.classList.add('idle'), IDLE_CURSOR_MS);
}

window.addEventListener('resize', resize);
window.addEventListener('mousemove', wake);
window.addEventListener('dblclick', toggleFullscreen);
window.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === 'f' || e.key === 'F') toggleFullscreen();
  if (e.key === 'h' || e.key === 'H') {
    state.overlay = !state.overlay;
    updateStatus(performance.now());
  }
});

// Read-only numbers for people (and tests) looking at the page from the console.
window.hanaOutput = Object.freeze({
  stats: () => ({
    ...state,
    canvas: { width: canvas.width, height: canvas.height },
    fullscreen: document.fullscreenElement !== null,
    idle: document.body.classList.contains('idle'),
    isf: isf.stats(),
    timeline: timeline.stats(),
  }),
  /**
   * The beat this page shows at an instant given as epoch milliseconds (performance.timeOrigin
   * + performance.now()): how two pages are compared at one moment.
   */
  beatAt: (epochMs) => timeline.beatAt(epochMs - performance.timeOrigin),
  /** Rehearses a runaway shader: the WebGL context is lost while plugin `id`'s shader draws. */
  loseShaderContext: (id) => isf.loseWhileDrawing(String(id)),
});

resize();
wake();
connect();
requestAnimationFrame(tick);
