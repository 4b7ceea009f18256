// The operator console. Plain DOM, no build step. Everything goes through one WebSocket: calls
// to the daemon's control methods ({id, method, params} → {id, ok, result|error}) and the
// parameter changes the daemon pushes ({type: "changes"}), applied once per animation frame.
// The token comes from this page's address; the page reconnects by itself after a restart.

const token = new URLSearchParams(location.search).get('token') ?? '';
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('aria-') || k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
};

// ---- connection -------------------------------------------------------------------------

let ws;
let nextId = 1;
const waiting = new Map();
let retryMs = 250;

function setConn(state, text) {
  $('conn').dataset.state = state;
  $('conn').textContent = text;
}

function connect() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${encodeURIComponent(token)}`;
  ws = new WebSocket(url);
  ws.onopen = () => {
    retryMs = 250;
    setConn('connected', 'connected');
    void loadAll();
  };
  ws.onmessage = (ev) => {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (m.type === 'changes') return queueChanges(m.changes);
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.ok) w.resolve(m.result);
    else w.reject(Object.assign(new Error(m.error?.message ?? 'failed'), { code: m.error?.code }));
  };
  ws.onclose = (ev) => {
    for (const w of waiting.values())
      w.reject(Object.assign(new Error('disconnected'), { code: 'disconnected' }));
    waiting.clear();
    if (ev.code === 4001) {
      // `hana ui --new-token`: this address is dead for good; retrying would only be refused.
      setConn('error', 'the console token was replaced: open the address `hana ui` prints');
      return;
    }
    setConn('reconnecting', 'daemon unreachable: reconnecting…');
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 2000);
  };
}

function call(method, params = {}) {
  return new Promise((resolve, reject) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      reject(Object.assign(new Error('not connected'), { code: 'disconnected' }));
      return;
    }
    const id = nextId++;
    waiting.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });
}

/**
 * Puts `fresh` (each with data-key and data-shape) into `box`, keeping the rows already there
 * whose key and shape are unchanged and updating their text in place: a table refreshed every
 * second must not swap a button from under the operator's pointer.
 */
function syncChildren(box, fresh) {
  const old = new Map([...box.children].map((c) => [c.dataset.key, c]));
  const next = fresh.map((f) => {
    const o = f.dataset.key === undefined ? undefined : old.get(f.dataset.key);
    if (!o || o.dataset.shape !== f.dataset.shape || o.children.length !== f.children.length) return f;
    for (const a of f.attributes) if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value);
    const oc = [...o.children];
    [...f.children].forEach((c, i) => {
      if (!oc[i].querySelector('button, input') && !oc[i].isEqualNode(c)) oc[i].replaceWith(c);
    });
    return o;
  });
  if (next.length !== box.children.length || next.some((n, i) => box.children[i] !== n))
    box.replaceChildren(...next);
}

const say = (id, text, bad = false) => {
  $(id).textContent = text;
  $(id).classList.toggle('bad', bad);
};

// ---- Show -------------------------------------------------------------------------------

/** path → { spec, input, show(value) } */
const controls = new Map();
const pendingChanges = new Map();
let frameQueued = false;
/** The control under the operator's finger is not moved by the echo of its own writes. */
let held = null;

function queueChanges(changes) {
  for (const c of changes) pendingChanges.set(c.path, c.value);
  if (!frameQueued) {
    frameQueued = true;
    requestAnimationFrame(applyChanges);
  }
}

function applyChanges() {
  frameQueued = false;
  for (const [path, value] of pendingChanges) {
    const c = controls.get(path);
    if (c && c.input !== held) c.show(value);
    if (path === '/master/blackout') showBlackout(value === true);
  }
  pendingChanges.clear();
}

// One write per control per frame while dragging: the daemon sees what the operator sees.
const outgoing = new Map();
let sendQueued = false;
function write(path, words) {
  outgoing.set(path, words);
  if (sendQueued) return;
  sendQueued = true;
  requestAnimationFrame(() => {
    sendQueued = false;
    for (const [p, w] of outgoing) call('set', { path: p, words: w }).catch((e) => flash(p, e.message));
    outgoing.clear();
  });
}

function flash(path, message) {
  const c = controls.get(path);
  if (!c) return;
  c.row.title = message;
  c.row.classList.add('refused');
  setTimeout(() => c.row.classList.remove('refused'), 1500);
}

const decimals = (spec) => (spec.type === 'int' ? 0 : 3);

function makeControl(p) {
  const { path, spec } = p;
  const label = el('label', { class: 'addr', htmlFor: `c-${path}` }, path);
  const unit = spec.unit ? el('span', { class: 'unit' }, spec.unit) : '';
  let input;
  let show;
  let readout = el('output', { class: 'readout' });
  const common = { id: `c-${path}`, 'aria-label': path };
  if ((spec.type === 'float' || spec.type === 'int') && spec.min !== undefined && spec.max !== undefined) {
    input = el('input', {
      ...common,
      type: 'range',
      min: String(spec.min),
      max: String(spec.max),
      step: spec.type === 'int' ? '1' : String((spec.max - spec.min) / 1000 || 0.001),
    });
    input.addEventListener('pointerdown', () => {
      held = input;
    });
    input.addEventListener('pointerup', () => {
      held = null;
    });
    input.addEventListener('input', () => {
      readout.textContent = Number(input.value).toFixed(decimals(spec));
      write(path, [input.value]);
    });
    show = (v) => {
      input.value = String(v);
      readout.textContent = Number(v).toFixed(decimals(spec));
    };
  } else if (spec.type === 'float' || spec.type === 'int') {
    input = el('input', { ...common, type: 'number', step: spec.type === 'int' ? '1' : 'any' });
    input.addEventListener('change', () => write(path, [input.value]));
    show = (v) => {
      input.value = String(v);
    };
  } else if (spec.type === 'bool') {
    input = el('input', { ...common, type: 'checkbox', role: 'switch' });
    input.addEventListener('change', () => write(path, [String(input.checked)]));
    show = (v) => {
      input.checked = v === true;
      readout.textContent = v === true ? 'on' : 'off';
    };
  } else if (spec.type === 'trigger') {
    input = el('button', { ...common, type: 'button', class: 'trigger' }, 'fire');
    input.addEventListener('click', () => write(path, []));
    show = () => {
      input.classList.add('fired');
      setTimeout(() => input.classList.remove('fired'), 150);
    };
    readout = '';
  } else if (spec.type === 'color') {
    input = el('input', { ...common, type: 'color' });
    let alpha = 'ff';
    input.addEventListener('input', () => write(path, [`${input.value}${alpha}`]));
    show = (v) => {
      if (typeof v !== 'string') return;
      input.value = v.slice(0, 7);
      alpha = v.length === 9 ? v.slice(7) : 'ff';
      readout.textContent = v;
    };
  } else {
    input = el('input', { ...common, type: 'text', maxLength: spec.maxLength ?? 256 });
    input.addEventListener('change', () => write(path, [input.value]));
    show = (v) => {
      if (document.activeElement !== input) input.value = v ?? '';
    };
  }
  const row = el('div', { class: `ctl t-${spec.type}`, 'data-path': path }, label, input, readout, unit);
  if (spec.description) row.title = spec.description;
  show(p.value);
  return { spec, input, show, row };
}

/** "/layer/1/opacity" is in group "/layer/1"; "/tempo" in "/". */
const groupOf = (path) => path.slice(0, path.lastIndexOf('/')) || '/';

function renderParams(params) {
  controls.clear();
  const groups = new Map();
  for (const p of params) {
    const g = groupOf(p.path);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(p);
  }
  const box = $('params');
  box.replaceChildren();
  for (const [g, list] of groups) {
    const fs = el('fieldset', { 'data-group': g }, el('legend', {}, g));
    for (const p of list) {
      const c = makeControl(p);
      controls.set(p.path, c);
      fs.append(c.row);
    }
    box.append(fs);
  }
  applyFilter();
  const b = params.find((p) => p.path === '/master/blackout');
  $('blackout').disabled = !b;
  if (b) showBlackout(b.value === true);
}

/** An OSC-style pattern (* ? [..] {a,b}) or plain text anywhere in the address. */
function matcher(text) {
  const t = text.trim();
  if (!t) return () => true;
  if (!/[*?[{]/.test(t)) return (p) => p.includes(t);
  let re = '';
  for (let i = 0; i < t.length; i++) {
    const ch = t[i];
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '{') {
      const end = t.indexOf('}', i);
      if (end < 0) return () => false;
      re += `(?:${t
        .slice(i + 1, end)
        .split(',')
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|')})`;
      i = end;
    } else if (ch === '[') {
      const end = t.indexOf(']', i);
      if (end < 0) return () => false;
      re += `[${t
        .slice(i + 1, end)
        .replace(/^!/, '^')
        .replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  try {
    const r = new RegExp(`^${re}$`);
    return (p) => r.test(p);
  } catch {
    return () => false;
  }
}

function applyFilter() {
  const m = matcher($('filter').value);
  for (const [path, c] of controls) c.row.hidden = !m(path);
  for (const fs of $('params').querySelectorAll('fieldset')) {
    fs.hidden = [...fs.querySelectorAll('.ctl')].every((r) => r.hidden);
  }
}

function showBlackout(on) {
  $('blackout').setAttribute('aria-pressed', String(on));
  $('blackout').textContent = on ? 'BLACKOUT ON' : 'BLACKOUT';
}

// ---- Peers ------------------------------------------------------------------------------

const short = (id) => (id ?? '').slice(0, 7);
const ms = (v) => (v === null || v === undefined ? '–' : `${Number(v).toFixed(1)} ms`);

function peerActions(id, role, state) {
  const act = (text, method, params, confirmText) => {
    const b = el('button', { type: 'button', 'aria-label': `${text} ${short(id)}` }, text);
    b.addEventListener('click', async () => {
      if (confirmText && !confirm(confirmText)) return;
      try {
        await call(method, { id, ...params });
        void refresh();
      } catch (e) {
        say('pair-result', e.message, true);
      }
    });
    return b;
  };
  const box = el('span', { class: 'actions' });
  if (state !== 'linked' || role === 'none') box.append(act('Allow', 'trust.allow', {}));
  if (state !== 'blocked')
    box.append(act('Block', 'trust.block', {}, `Block ${short(id)}? It is cut off at once.`));
  box.append(act('Forget', 'trust.forget', {}, `Forget ${short(id)}? It must be paired again.`));
  if (role === 'performer' || role === 'observer') {
    const other = role === 'performer' ? 'observer' : 'performer';
    box.append(act(`Make ${other}`, 'trust.allow', { role: other }));
  }
  return box;
}

function renderPeers(id, peers, trust) {
  $('self-name').textContent = `${id.name} · ${short(id.deviceId)}`;
  const self = $('self');
  self.replaceChildren(
    el('dt', {}, 'This laptop'),
    el('dd', {}, id.name),
    el('dt', {}, 'Device ID'),
    el('dd', { class: 'mono' }, id.deviceId),
    el('dt', {}, 'Peer port'),
    el('dd', {}, String(id.peerPort)),
  );
  const rows = new Map();
  for (const p of trust.peers ?? []) {
    rows.set(p.id, {
      id: p.id,
      name: p.name,
      state: p.state === 'blocked' ? 'blocked' : 'offline',
      role: p.role,
      rttMs: null,
      clock: null,
      code: null,
    });
  }
  for (const p of peers.peers ?? []) rows.set(p.id, { ...rows.get(p.id), ...p });
  const why = (r) => {
    if (r.state === 'blocked') return 'blocked';
    if (r.code) return r.code;
    if (r.clock?.warning) return r.clock.warning;
    if (r.state === 'pending') return r.offersPairing ? 'not paired (offers a code)' : 'not paired';
    if (r.state === 'offline') return 'not heard from';
    return '';
  };
  const body = $('peer-table').tBodies[0];
  const fresh = [...rows.values()].map((r) =>
    el(
      'tr',
      { 'data-key': r.id, 'data-shape': `${r.state}|${r.role}`, 'data-peer': r.id, 'data-state': r.state },
      el('td', {}, r.name ?? ''),
      el('td', { class: 'mono', title: r.id }, short(r.id)),
      el('td', { class: `state s-${r.state}` }, r.state),
      el('td', {}, r.role ?? ''),
      el('td', {}, ms(r.rttMs)),
      el('td', {}, ms(r.clock?.offsetMs ?? r.sync?.offsetMs)),
      el('td', { class: 'why' }, why(r)),
      el('td', {}, peerActions(r.id, r.role, r.state)),
    ),
  );
  if (rows.size === 0)
    fresh.push(
      el(
        'tr',
        { 'data-key': '' },
        el('td', { colSpan: 8, class: 'muted' }, 'No peers yet: pair with another laptop below.'),
      ),
    );
  syncChildren(body, fresh);
  const h = trust.held ?? [];
  $('held').hidden = h.length === 0;
  $('held').textContent = h
    .map(
      (x) =>
        `key change held: "${x.name}" came back as ${short(x.presentedId)} (pinned ${short(x.pinnedId)}); Allow it only if its operator rotated the key.`,
    )
    .join(' ');
}

// ---- Plugins ----------------------------------------------------------------------------

/** Frames counted at the last refresh, per plugin: fps is their rate between refreshes. */
const lastFrames = new Map();
function fpsOf(r) {
  if (!r) return undefined;
  const now = performance.now();
  const prev = lastFrames.get(r.id);
  lastFrames.set(r.id, { frames: r.frames, at: now });
  if (!prev || now <= prev.at || r.frames < prev.frames) return undefined;
  return ((r.frames - prev.frames) * 1000) / (now - prev.at);
}

function renderPlugins(installed, runtime) {
  const live = new Map((runtime.plugins ?? []).map((p) => [p.id, p]));
  const body = $('plugin-table').tBodies[0];
  const change = (id, action) => {
    const b = el(
      'button',
      { type: 'button', 'aria-label': `${action} ${id}` },
      action[0].toUpperCase() + action.slice(1),
    );
    b.addEventListener('click', async () => {
      if (!confirm(`${action} ${id}?`)) return;
      try {
        const r = await call('plugin.change', { id, action });
        say('plugin-result', `${action}d ${id} ${r.version}`);
        void refresh();
      } catch (e) {
        say('plugin-result', e.message, true);
      }
    });
    return b;
  };
  const fresh = (installed.plugins ?? []).map((p) => {
    const r = live.get(p.id);
    const state = p.quarantined
      ? `quarantined: ${p.quarantined.reason}`
      : !p.enabled
        ? 'disabled'
        : (r?.state ?? 'not running');
    const fps = fpsOf(r);
    return el(
      'tr',
      {
        'data-key': p.id,
        'data-shape': p.quarantined || !p.enabled ? 'off' : 'on',
        'data-plugin': p.id,
        'data-state': p.quarantined ? 'quarantined' : p.enabled ? (r?.state ?? 'stopped') : 'disabled',
      },
      el('td', {}, p.id),
      el('td', {}, p.publisherName ?? p.publisherKeyId),
      el('td', {}, p.version),
      el('td', { class: p.quarantined ? 'state bad' : 'state' }, state),
      el('td', {}, fps === undefined ? '–' : String(Math.round(fps))),
      el('td', {}, String(r?.overruns ?? 0)),
      el('td', {}, String(r?.restarts ?? 0)),
      el(
        'td',
        { class: 'actions' },
        p.quarantined || !p.enabled ? change(p.id, 'enable') : change(p.id, 'disable'),
        change(p.id, 'remove'),
      ),
    );
  });
  if (fresh.length === 0)
    fresh.push(
      el('tr', { 'data-key': '' }, el('td', { colSpan: 8, class: 'muted' }, 'No plugins installed.')),
    );
  syncChildren(body, fresh);
}

// ---- Scenes and audit -------------------------------------------------------------------

function renderScenes(list) {
  syncChildren(
    $('scene-list'),
    (list.scenes ?? []).map((s) => {
      const name = typeof s === 'string' ? s : s.name;
      const b = el('button', { type: 'button', 'aria-label': `load scene ${name}` }, 'Load');
      b.addEventListener('click', async () => {
        try {
          await call('scene.load', { name });
          say('scene-result', `loaded ${name}`);
        } catch (e) {
          say('scene-result', e.message, true);
        }
      });
      return el('li', { 'data-key': name }, el('span', {}, name), ' ', b);
    }),
  );
}

function renderAudit(r) {
  const body = $('audit-table').tBodies[0];
  const recs = (r.records ?? []).slice(-50).reverse();
  body.replaceChildren(
    ...recs.map((x) =>
      el(
        'tr',
        { 'data-writer': x.writer ?? '' },
        el('td', {}, (x.time ?? '').replace('T', ' ').replace(/\.\d+Z$/, '')),
        el('td', {}, x.writer ?? ''),
        el('td', { class: 'mono' }, x.kind === 'change' ? x.path : x.action),
        el(
          'td',
          { class: 'mono' },
          x.kind === 'change'
            ? `${JSON.stringify(x.old)} → ${JSON.stringify(x.new)}`
            : x.detail
              ? JSON.stringify(x.detail).slice(0, 120)
              : '',
        ),
      ),
    ),
  );
}

// ---- Security and health ----------------------------------------------------------------

/** Security codes by channel (docs/reasons.md), asked of the daemon once per connection. */
let securityCodes = {};
const CHANNEL = {
  input: 'input',
  console: 'console',
  output: 'output',
  oscquery: 'oscquery',
  peers: 'link',
  mdns: 'mdns',
};
const isSecurity = (where, reason) => (securityCodes[CHANNEL[where]] ?? []).includes(reason);

function renderHealth(s, out) {
  const rows = [];
  const add = (where, counts) => {
    for (const [reason, n] of Object.entries(counts ?? {})) rows.push({ where, reason, n });
  };
  add('input', s.rejected);
  add('console', s.console?.rejected);
  add('output', s.output?.rejected);
  add('oscquery', s.oscquery?.rejected);
  add('peers', s.peers?.refusals);
  add('mdns', s.mdns?.rejected);
  const body = $('rejections').tBodies[0];
  body.replaceChildren(
    ...rows.map((r) =>
      el(
        'tr',
        { class: isSecurity(r.where, r.reason) ? 'security' : '', 'data-reason': r.reason },
        el('td', {}, r.where),
        el('td', {}, r.reason),
        el('td', {}, String(r.n)),
      ),
    ),
  );
  $('no-rejections').hidden = rows.length > 0;
  const ports = [
    ['OSC', `${s.osc.bind} udp ${s.osc.udpPort}${s.osc.tcpPort ? `, tcp ${s.osc.tcpPort}` : ''}`],
    ['OSC allowed from', s.osc.allow.join(', ')],
    ['Peers', `udp ${s.peers?.port ?? '–'} (policy ${s.peers?.policy ?? '–'})`],
    ['OSCQuery', s.oscquery ? `${s.oscquery.bind}:${s.oscquery.port}` : 'off'],
    ['Output page', out ? `port ${out.port}, ${out.clients} page(s)` : 'off'],
    ['Console', s.console ? `${s.console.bind}:${s.console.port}, ${s.console.clients} page(s)` : 'off'],
  ];
  $('ports').tBodies[0].replaceChildren(
    ...ports.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v))),
  );
  $('midi').textContent = s.midi.available
    ? `${s.midi.inputs} input(s), ${s.midi.outputs} output(s), ${s.midi.mappings} mapping(s)`
    : `off: ${s.midi.reason}`;
  const st = s.storage;
  $('storage').textContent =
    `key ${st.key?.kind ?? '?'}; ${st.persist ? `state saved ${st.persist.saves} time(s), ${st.persist.failures} failure(s)` : 'state not saved'}; ` +
    `audit ${st.audit ? `${st.audit.records} record(s), ${st.audit.dropped} dropped` : 'off'}; ${st.scenes} scene(s)`;
}

// ---- loading and refreshing -------------------------------------------------------------

let refreshing = false;
async function refresh() {
  if (refreshing || ws?.readyState !== WebSocket.OPEN) return;
  refreshing = true;
  try {
    const auditQuery = { limit: 50 };
    if ($('audit-path').value.trim()) auditQuery.path = $('audit-path').value.trim();
    if ($('audit-writer').value.trim()) auditQuery.writer = $('audit-writer').value.trim();
    const settle = (p) =>
      p.then(
        (v) => v,
        () => undefined,
      );
    const [s, id, peers, trust, pair, installed, runtime, scenes, audit, out] = await Promise.all([
      settle(call('status')),
      settle(call('id')),
      settle(call('peers')),
      settle(call('trust.list')),
      settle(call('pair.status')),
      settle(call('plugin.installed')),
      settle(call('plugin.runtime')),
      settle(call('scene.list')),
      settle(call('audit.query', auditQuery)),
      settle(call('output.url')),
    ]);
    if (id && peers && trust) renderPeers(id, peers, trust);
    if (pair)
      $('pair-code').textContent =
        pair.state === 'open' && pair.code ? pair.code : $('pair-code').textContent;
    if (installed && runtime) renderPlugins(installed, runtime);
    if (scenes) renderScenes(scenes);
    if (audit) renderAudit(audit);
    if (s) renderHealth(s, out);
    if (out && $('preview').dataset.src !== out.url) {
      $('preview').dataset.src = out.url;
      $('preview').src = out.url;
    }
    $('preview-note').textContent = out ? '' : 'The output page is off (output.enabled).';
  } finally {
    refreshing = false;
  }
}

async function loadAll() {
  try {
    securityCodes = await call('console.reasons');
    const r = await call('params');
    renderParams(r.params);
  } catch (e) {
    setConn('error', e.message);
  }
  await refresh();
}

// ---- wiring -----------------------------------------------------------------------------

$('filter').addEventListener('input', applyFilter);
$('blackout').addEventListener('click', () => {
  const on = $('blackout').getAttribute('aria-pressed') !== 'true';
  showBlackout(on);
  write('/master/blackout', [String(on)]);
});
$('pair-open').addEventListener('click', async () => {
  try {
    const r = await call('pair.open', {});
    $('pair-code').textContent = r.code;
    say(
      'pair-result',
      `Enter ${r.code} on the other laptop (valid until ${new Date(r.expires).toLocaleTimeString()}).`,
    );
  } catch (e) {
    say('pair-result', e.message, true);
  }
});
$('pair-join').addEventListener('click', async () => {
  const code = $('pair-join-code').value.trim();
  const peerText = $('pair-join-peer').value.trim();
  const params = { code };
  if (peerText) {
    const i = peerText.lastIndexOf(':');
    params.peer = {
      address: peerText.slice(0, i).replace(/^\[|\]$/g, ''),
      port: Number(peerText.slice(i + 1)),
    };
  }
  say('pair-result', 'pairing…');
  try {
    const r = await call('pair.join', params);
    say('pair-result', `paired with ${r.name ?? r.peer?.name ?? 'the other laptop'}`);
    void refresh();
  } catch (e) {
    say('pair-result', e.message, true);
  }
});
$('scene-save').addEventListener('click', async () => {
  const name = $('scene-name').value.trim();
  if (!name) return say('scene-result', 'give the scene a name', true);
  try {
    const r = await call('scene.save', { name });
    say('scene-result', `saved ${r.name} (${r.params} parameters)`);
    void refresh();
  } catch (e) {
    say('scene-result', e.message, true);
  }
});

setInterval(() => void refresh(), 1000);
if (!token) setConn('error', 'no token in this address: open the URL that `hana ui` prints');
else connect();
