// ISF shaders on the output page: compiled and run in one WebGL2 context of a canvas of its own,
// each shader's picture then drawn into its plugin's layer by renderer.js. The daemon sends the
// table of sources (already checked by plugins/isf/header.ts) and, beside every frame, the input
// values; the limits are checked here again, because this page runs what it is sent.
//
// What can go wrong is reported to the daemon (`report`), which counts it against the plugin and
// quarantines it as the fault policy says: a compile or link error (with the compiler's message),
// a context lost while the plugin's shader drew, a shader too slow to draw. The page does not
// wait for the daemon: a shader that failed here is not drawn again on this page.

const LIMITS = { sourceBytes: 64 * 1024, passes: 4, inputs: 32, textureSize: 4096, shadersPerPlugin: 4 };
const MAX_PLUGINS = 64;
/** A plugin whose shaders cost more than this (ms) for SLOW_FRAMES frames in a row is stopped. */
const SLOW_MS = 250;
const SLOW_FRAMES = 3;
/** Context losses a plugin may cause on this page before it is no longer drawn here. */
const MAX_LOSSES = 3;
const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const TYPES = { float: 'float', long: 'int', bool: 'bool', event: 'bool', color: 'vec4', point2D: 'vec2' };

const VERTEX = `attribute vec2 hana_pos;
varying vec2 isf_FragNormCoord;
void main() {
  isf_FragNormCoord = hana_pos * 0.5 + 0.5;
  gl_Position = vec4(hana_pos, 0.0, 1.0);
}`;

const COPY = `precision highp float;
varying vec2 isf_FragNormCoord;
uniform sampler2D hana_src;
void main() { gl_FragColor = texture2D(hana_src, isf_FragNormCoord); }`;

/** The table entry for one shader, or a reason it is refused. */
function checkShader(s) {
  if (s === null || typeof s !== 'object' || typeof s.source !== 'string') return 'not a shader';
  if (new TextEncoder().encode(s.source).length > LIMITS.sourceBytes)
    return `source over ${LIMITS.sourceBytes} bytes`;
  if (!Array.isArray(s.inputs) || s.inputs.length > LIMITS.inputs) return `more than ${LIMITS.inputs} inputs`;
  if (!Array.isArray(s.passes) || s.passes.length < 1 || s.passes.length > LIMITS.passes)
    return `1 to ${LIMITS.passes} passes`;
  const names = new Set();
  for (const i of s.inputs) {
    if (!NAME.test(i?.name) || !Object.hasOwn(TYPES, i.type) || names.has(i.name)) return 'a bad input';
    names.add(i.name);
  }
  for (const p of s.passes) {
    if (p?.target !== null && (!NAME.test(p?.target) || names.has(p.target))) return 'a bad pass target';
    if (p.target !== null) names.add(p.target);
  }
  return undefined;
}

/** The source with its JSON header blanked (kept line for line, so error lines still match). */
function body(source) {
  const start = source.indexOf('/*');
  const end = source.indexOf('*/', start + 2);
  if (start < 0 || end < 0) return source;
  return source.slice(0, start) + source.slice(start, end + 2).replace(/[^\n]/g, ' ') + source.slice(end + 2);
}

function fragment(s) {
  const lines = [
    'precision highp float;',
    'precision highp int;',
    'uniform int PASSINDEX;',
    'uniform vec2 RENDERSIZE;',
    'uniform float TIME;',
    'uniform float TIMEDELTA;',
    'uniform int FRAMEINDEX;',
    'uniform vec4 DATE;',
    'varying vec2 isf_FragNormCoord;',
    ...s.inputs.map((i) => `uniform ${TYPES[i.type]} ${i.name};`),
    ...s.passes.filter((p) => p.target !== null).map((p) => `uniform sampler2D ${p.target};`),
    // Every buffer is the output's size (the header check refuses WIDTH and HEIGHT).
    '#define IMG_PIXEL(i, c) texture2D(i, (c) / RENDERSIZE)',
    '#define IMG_NORM_PIXEL(i, c) texture2D(i, c)',
    '#define IMG_THIS_PIXEL(i) texture2D(i, isf_FragNormCoord)',
    '#define IMG_THIS_NORM_PIXEL(i) texture2D(i, isf_FragNormCoord)',
    '#define IMG_SIZE(i) RENDERSIZE',
    '#line 1',
  ];
  return `${lines.join('\n')}\n${body(s.source)}`;
}

export function createIsf({ report }) {
  const canvas = document.createElement('canvas');
  canvas.width = 1;
  canvas.height = 1;
  const gl = canvas.getContext('webgl2', {
    alpha: true,
    premultipliedAlpha: false,
    antialias: false,
    depth: false,
    stencil: false,
    preserveDrawingBuffer: false,
  });
  const loseExt = gl?.getExtension('WEBGL_lose_context') ?? null;
  const floatOk = gl?.getExtension('EXT_color_buffer_float') !== null;
  /** plugin id → [{ spec, error?, gl: { program, uniforms, targets } }] */
  let table = new Map();
  /** Plugins no longer drawn on this page, id → why. */
  const stopped = new Map();
  const losses = new Map();
  const slow = new Map();
  const events = new Map();
  let resources = null;
  let drawing = null;
  let armed = null;
  let lost = false;
  let frameIndex = 0;
  let lastTime = null;
  const stats = { compiled: 0, faults: 0, losses: 0, restores: 0, drawn: 0 };

  const fault = (plugin, shader, kind, message) => {
    stats.faults++;
    report({ fault: { plugin, shader, kind, message: String(message).slice(0, 600) } });
  };

  const stop = (plugin, why) => {
    if (!stopped.has(plugin)) stopped.set(plugin, why);
  };

  if (gl) {
    canvas.addEventListener('webglcontextlost', (e) => {
      // Without preventDefault the browser never gives the context back.
      e.preventDefault();
      lost = true;
      resources = null;
      stats.losses++;
      // A forced loss (WEBGL_lose_context) comes back only when asked; a real one by itself.
      if (loseExt !== null) setTimeout(() => loseExt.restoreContext(), 50);
    });
    canvas.addEventListener('webglcontextrestored', () => {
      lost = false;
      stats.restores++;
      for (const list of table.values()) for (const s of list) s.built = undefined;
    });
  }

  function compile(type, text) {
    const sh = gl.createShader(type);
    gl.shaderSource(sh, text);
    gl.compileShader(sh);
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS) && !gl.isContextLost()) {
      const log = gl.getShaderInfoLog(sh) || 'compile failed';
      gl.deleteShader(sh);
      return { error: log.trim() };
    }
    return { shader: sh };
  }

  function link(fragmentText) {
    const v = compile(gl.VERTEX_SHADER, VERTEX);
    const f = compile(gl.FRAGMENT_SHADER, fragmentText);
    if (f.error) return { kind: 'compile', error: f.error };
    if (v.error) return { kind: 'compile', error: v.error };
    const p = gl.createProgram();
    gl.attachShader(p, v.shader);
    gl.attachShader(p, f.shader);
    gl.bindAttribLocation(p, 0, 'hana_pos');
    gl.linkProgram(p);
    gl.deleteShader(v.shader);
    gl.deleteShader(f.shader);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS) && !gl.isContextLost()) {
      const log = gl.getProgramInfoLog(p) || 'link failed';
      gl.deleteProgram(p);
      return { kind: 'link', error: log.trim() };
    }
    return { program: p };
  }

  /** The context's shared parts: the triangle, the copy program. Made again after a loss. */
  function shared() {
    if (resources !== null) return resources;
    const vao = gl.createVertexArray();
    gl.bindVertexArray(vao);
    const buf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    // One triangle covering the viewport.
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 3, -1, -1, 3]), gl.STATIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    const copy = link(COPY).program;
    resources = { vao, copy, copySrc: gl.getUniformLocation(copy, 'hana_src') };
    return resources;
  }

  /** Program and buffers of one shader, built on first use (and again after a context loss). */
  function build(plugin, index, entry) {
    if (entry.built !== undefined) return entry.built;
    const r = link(fragment(entry.spec));
    if (r.error !== undefined) {
      entry.built = null;
      fault(plugin, index, r.kind, r.error);
      stop(plugin, `${r.kind}: ${r.error}`);
      return null;
    }
    stats.compiled++;
    const uniforms = {};
    for (const n of ['PASSINDEX', 'RENDERSIZE', 'TIME', 'TIMEDELTA', 'FRAMEINDEX', 'DATE'])
      uniforms[n] = gl.getUniformLocation(r.program, n);
    for (const i of entry.spec.inputs) uniforms[i.name] = gl.getUniformLocation(r.program, i.name);
    const targets = new Map();
    for (const p of entry.spec.passes) {
      if (p.target === null || targets.has(p.target)) continue;
      targets.set(p.target, {
        persistent: p.persistent === true,
        float: p.float === true && floatOk,
        location: gl.getUniformLocation(r.program, p.target),
        textures: null,
        fbos: null,
        w: 0,
        h: 0,
      });
    }
    entry.built = { program: r.program, uniforms, targets };
    return entry.built;
  }

  function texture(t, w, h) {
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    if (t.float) gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, w, h, 0, gl.RGBA, gl.FLOAT, null);
    else gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
    const filter = t.float ? gl.NEAREST : gl.LINEAR;
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, filter);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, filter);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    const fbo = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    return { tex, fbo };
  }

  /** Two textures per target: a pass reads the last one written and writes the other. */
  function sizeTargets(built, w, h) {
    for (const t of built.targets.values()) {
      if (t.w === w && t.h === h && t.textures !== null) continue;
      if (t.textures !== null)
        for (const x of t.textures) {
          gl.deleteTexture(x.tex);
          gl.deleteFramebuffer(x.fbo);
        }
      t.textures = [texture(t, w, h), texture(t, w, h)];
      t.read = 0;
      t.w = w;
      t.h = h;
    }
  }

  function setInput(u, input, value, fire) {
    const loc = u[input.name];
    if (loc === null || loc === undefined) return;
    const v = value === undefined ? input.default : value;
    switch (input.type) {
      case 'float':
        gl.uniform1f(loc, Number.isFinite(v) ? v : 0);
        break;
      case 'long':
        gl.uniform1i(loc, Number.isFinite(v) ? Math.round(v) : 0);
        break;
      case 'bool':
        gl.uniform1i(loc, v === true ? 1 : 0);
        break;
      case 'event':
        gl.uniform1i(loc, fire ? 1 : 0);
        break;
      case 'color':
        gl.uniform4fv(loc, Array.isArray(v) && v.length === 4 && v.every(Number.isFinite) ? v : [0, 0, 0, 1]);
        break;
      case 'point2D':
        gl.uniform2fv(loc, Array.isArray(v) && v.length === 2 && v.every(Number.isFinite) ? v : [0, 0]);
        break;
    }
  }

  /** Runs every pass of one shader into the canvas (w × h). False when it could not draw. */
  function run(plugin, index, entry, values, time, w, h) {
    const built = build(plugin, index, entry);
    if (built === null) return false;
    const res = shared();
    sizeTargets(built, w, h);
    gl.useProgram(built.program);
    gl.bindVertexArray(res.vao);
    gl.disable(gl.BLEND);
    const u = built.uniforms;
    gl.uniform2f(u.RENDERSIZE, w, h);
    gl.uniform1f(u.TIME, time);
    gl.uniform1f(u.TIMEDELTA, lastTime === null ? 0 : Math.max(0, time - lastTime));
    gl.uniform1i(u.FRAMEINDEX, frameIndex);
    const d = new Date();
    gl.uniform4f(
      u.DATE,
      d.getFullYear(),
      d.getMonth() + 1,
      d.getDate(),
      d.getHours() * 3600 + d.getMinutes() * 60 + d.getSeconds(),
    );
    for (const input of entry.spec.inputs) {
      const key = `${plugin}\u0000${index}\u0000${input.name}`;
      let fire = false;
      if (input.type === 'event') {
        const count = values?.[input.name];
        fire = Number.isFinite(count) && events.has(key) && events.get(key) !== count;
        if (Number.isFinite(count)) events.set(key, count);
      }
      setInput(u, input, values?.[input.name], fire);
    }
    // Temporary buffers start each frame empty; persistent ones keep what they hold.
    for (const t of built.targets.values()) {
      if (t.persistent) continue;
      for (const x of t.textures) {
        gl.bindFramebuffer(gl.FRAMEBUFFER, x.fbo);
        gl.clearColor(0, 0, 0, 0);
        gl.clear(gl.COLOR_BUFFER_BIT);
      }
    }
    const passes = entry.spec.passes;
    for (let i = 0; i < passes.length; i++) {
      // Every target readable, each unit holding the copy last written.
      let unit = 0;
      for (const t of built.targets.values()) {
        gl.activeTexture(gl.TEXTURE0 + unit);
        gl.bindTexture(gl.TEXTURE_2D, t.textures[t.read].tex);
        if (t.location !== null) gl.uniform1i(t.location, unit);
        unit++;
      }
      const target = passes[i].target === null ? null : built.targets.get(passes[i].target);
      gl.bindFramebuffer(gl.FRAMEBUFFER, target === null ? null : target.textures[1 - target.read].fbo);
      gl.viewport(0, 0, w, h);
      gl.uniform1i(u.PASSINDEX, i);
      gl.clearColor(0, 0, 0, 0);
      gl.clear(gl.COLOR_BUFFER_BIT);
      gl.drawArrays(gl.TRIANGLES, 0, 3);
      if (target !== null) target.read = 1 - target.read;
    }
    const last = passes[passes.length - 1];
    if (last.target !== null) {
      // The last pass drew into a buffer: that buffer is the picture.
      const t = built.targets.get(last.target);
      gl.bindFramebuffer(gl.FRAMEBUFFER, null);
      gl.useProgram(res.copy);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, t.textures[t.read].tex);
      gl.uniform1i(res.copySrc, 0);
      gl.viewport(0, 0, w, h);
      gl.drawArrays(gl.TRIANGLES, 0, 3);
    }
    return true;
  }

  return {
    /** The daemon's table ({ shaders: { id: [...] } }). Programs are built when first drawn. */
    setTable(message) {
      const next = new Map();
      const shaders = message?.shaders;
      if (shaders === null || typeof shaders !== 'object') return;
      for (const [id, list] of Object.entries(shaders).slice(0, MAX_PLUGINS)) {
        if (!Array.isArray(list) || list.length > LIMITS.shadersPerPlugin) {
          fault(id, 0, 'refused', `more than ${LIMITS.shadersPerPlugin} shaders`);
          continue;
        }
        const old = table.get(id);
        const entries = [];
        list.forEach((spec, i) => {
          const why = checkShader(spec);
          if (why !== undefined) {
            fault(id, i, 'refused', why);
            stop(id, why);
            return;
          }
          // A shader the page already built is kept when its source did not change.
          const same = old?.[i] && JSON.stringify(old[i].spec) === JSON.stringify(spec);
          entries.push(same ? old[i] : { spec });
        });
        next.set(id, entries);
      }
      table = next;
      // A plugin gone from the table (quarantined, removed) starts afresh if it comes back.
      for (const id of [...stopped.keys(), ...losses.keys()]) {
        if (!next.has(id)) {
          stopped.delete(id);
          losses.delete(id);
        }
      }
    },
    has: (id) => table.has(id) && !stopped.has(id),
    /**
     * Draws plugin `id`'s shaders, one after another, calling `each(canvas)` after each so the
     * caller copies the picture out before the next one overwrites it.
     */
    draw(id, values, time, w, h, each) {
      // A context already lost (the event comes later) is no plugin's fault that draws now.
      if (!gl || lost || gl.isContextLost() || !table.has(id) || stopped.has(id)) return;
      const side = Math.min(LIMITS.textureSize, gl.getParameter(gl.MAX_TEXTURE_SIZE));
      const k = Math.min(1, side / Math.max(w, h));
      const cw = Math.max(1, Math.floor(w * k));
      const ch = Math.max(1, Math.floor(h * k));
      if (canvas.width !== cw || canvas.height !== ch) {
        canvas.width = cw;
        canvas.height = ch;
      }
      const started = performance.now();
      drawing = id;
      const list = table.get(id);
      for (let i = 0; i < list.length; i++) {
        if (armed === id && loseExt !== null) {
          armed = null;
          loseExt.loseContext();
        }
        const ok = run(id, i, list[i], values?.[i], time, cw, ch);
        if (gl.isContextLost()) {
          // Lost while this plugin drew: it is the one held responsible.
          const n = (losses.get(id) ?? 0) + 1;
          losses.set(id, n);
          fault(
            id,
            i,
            'context-lost',
            `the WebGL context was lost while shader ${i} drew (${n} on this page)`,
          );
          if (n >= MAX_LOSSES) stop(id, 'context lost too often');
          break;
        }
        if (ok) {
          each(canvas);
          stats.drawn++;
        }
      }
      drawing = null;
      const took = performance.now() - started;
      const s = took > SLOW_MS ? (slow.get(id) ?? 0) + 1 : 0;
      slow.set(id, s);
      if (s >= SLOW_FRAMES) {
        fault(id, 0, 'too-slow', `its shaders took ${Math.round(took)} ms to draw, ${s} frames in a row`);
        stop(id, 'too slow');
      }
    },
    /** Called once per composed frame, after every layer: TIME and FRAMEINDEX move on. */
    endFrame(time) {
      lastTime = time;
      frameIndex++;
    },
    stats: () => ({
      ...stats,
      available: !!gl,
      lost,
      drawing,
      plugins: [...table.keys()],
      stopped: Object.fromEntries(stopped),
    }),
    /**
     * Loses the context while plugin `id`'s shader next draws, as a runaway shader does when the
     * GPU watchdog resets it (WEBGL_lose_context): how the recovery is rehearsed and tested.
     */
    loseWhileDrawing(id) {
      armed = id;
    },
  };
}
