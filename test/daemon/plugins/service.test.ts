import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { DEFAULT_PARAMS, ParamMap } from '../../../daemon/config/params-schema.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { pluginRuntimeHandlers } from '../../../daemon/plugins/handlers.ts';
import {
  createPluginService,
  type PluginService,
  type PluginServiceInit,
} from '../../../daemon/plugins/service.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { ComposedFrame } from '../../../plugins/display-list.ts';
import { EXAMPLES_DIR, OUTPUT } from '../../../plugins/examples/build.ts';
import { createLocalClock } from '../../../plugins/runtime/clock.ts';
import type { EncodedFrame, PluginSpec } from '../../../plugins/runtime/engine.ts';
import * as src from '../../fixtures/plugins/sources.ts';
import { eventually } from '../../helpers/daemon.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// The daemon side with a real registry and store and a real plugin host child process.

let services: PluginService[] = [];
afterEach(async () => {
  for (const s of services) await s.close();
  services = [];
});

function setup(plugins: PluginSpec[] | (() => PluginSpec[]), init: Partial<PluginServiceInit> = {}) {
  const registry = createRegistry(ParamMap.parse(DEFAULT_PARAMS));
  const store = createStore({ registry, hlc: createHlc({ node: 'n1' }) });
  const { log, lines } = captureLogger();
  const quarantined: [string, string][] = [];
  const frames: EncodedFrame[] = [];
  const service = createPluginService({
    registry,
    store,
    log,
    security: securityLogger(log),
    clock: createLocalClock(() => store.get('/tempo')?.value as number),
    frameRate: 60,
    width: 800,
    height: 600,
    loadPlugins: async () => (typeof plugins === 'function' ? plugins() : plugins),
    onQuarantine: (id, reason) => quarantined.push([id, reason]),
    policy: { faultsToRestart: 3, faultWindowFrames: 3, maxRestarts: 1, backoffMs: 20 },
    host: { restart: { backoffMs: 50 } },
    logIntervalMs: 60_000,
    ...init,
  });
  services.push(service);
  service.onFrame((f) => {
    frames.push(f);
    if (frames.length > 100) frames.shift();
  });
  const layer = (id: string) => {
    const f = frames.at(-1);
    return f ? ComposedFrame.parse(JSON.parse(f.json)).layers.find((l) => l.id === id) : undefined;
  };
  const plugin = (id: string) => service.status().plugins.find((p) => p.id === id);
  return { service, store, lines, quarantined, frames, layer, plugin };
}

const textOf = (layer: { commands: unknown[] } | undefined) =>
  (layer?.commands[0] as { text?: string } | undefined)?.text;

describe('plugin service', () => {
  it('starts no plugin host when there are no plugins', async () => {
    const t = setup([]);
    await t.service.start();
    assert.equal(t.service.status().host, null);
    assert.deepEqual(t.service.status().plugins, []);
  });

  it('feeds a plugin the values of the parameters it reads — only those — as they change', async () => {
    const t = setup([
      src.spec(
        'com.example.probe',
        `var plugin = { frame(f) { return [{ op: 'text', x: 0, y: 0, text: JSON.stringify(f.params) }]; } };`,
        {
          reads: ['/layer/1/*', '/tempo'],
        },
      ),
    ]);
    t.store.apply([{ path: '/layer/1/opacity', value: 0.25 }], 'cli');
    await t.service.start();
    const seen = () => JSON.parse(textOf(t.layer('com.example.probe')) ?? '{}') as Record<string, unknown>;
    assert.ok(await eventually(() => seen()['/layer/1/opacity'] === 0.25, 400, 25), JSON.stringify(seen()));
    assert.equal(seen()['/tempo'], 120);
    assert.equal(seen()['/scene'], undefined, 'an undeclared parameter is absent');
    assert.equal(seen()['/layer/2/opacity'], undefined);
    t.store.apply(
      [
        { path: '/layer/1/opacity', value: 0.75 },
        { path: '/scene', value: 4 },
      ],
      'cli',
    );
    assert.ok(await eventually(() => seen()['/layer/1/opacity'] === 0.75, 400, 25));
    assert.equal(seen()['/scene'], undefined);
    assert.ok(t.service.status().host?.pid);
    assert.ok(await eventually(() => t.service.status().plugins[0]!.state === 'running', 200, 25));
  });

  it('a fired trigger reaches the frame of each plugin that reads it as one event, exactly once', async () => {
    // Each plugin keeps every event it was handed and draws the tally: how many per address, the
    // values, and whether each event's beat is at or before the frame it arrived in.
    const counter = `var seen = {}; var values = []; var late = 0;
      var plugin = { frame(f) {
        for (const e of f.events) {
          seen[e.address] = (seen[e.address] || 0) + 1;
          values.push(e.value);
          if (e.beat > f.beat + 1e-9) late++;
        }
        return [{ op: 'text', x: 0, y: 0, text: JSON.stringify({ seen, values, late, params: f.params['/strobe'] }) }];
      } };`;
    const t = setup([
      src.spec('com.example.strobe', counter, { reads: ['/strobe', '/layer/1/*'] }),
      src.spec('com.example.deaf', counter, { reads: ['/layer/1/*'] }),
    ]);
    await t.service.start();
    type Seen = { seen: Record<string, number>; values: unknown[]; late: number; params?: unknown };
    const seen = (id: string) => JSON.parse(textOf(t.layer(id)) ?? '{"seen":{}}') as Seen;
    assert.ok(await eventually(() => (t.plugin('com.example.strobe')?.frames ?? 0) > 5, 400, 25));
    assert.deepEqual(seen('com.example.strobe').seen, {}, 'nothing before the hit');

    t.store.apply([{ path: '/strobe', value: null }], 'osc:udp:127.0.0.1:9000');
    assert.ok(await eventually(() => seen('com.example.strobe').seen['/strobe'] === 1, 400, 25));
    // Thirty more frames of that plugin: the hit is not handed out again.
    const at = t.plugin('com.example.strobe')!.frames;
    assert.ok(await eventually(() => t.plugin('com.example.strobe')!.frames > at + 30, 400, 25));
    assert.deepEqual(seen('com.example.strobe'), {
      seen: { '/strobe': 1 },
      values: [null],
      late: 0,
      params: null,
    });
    assert.deepEqual(seen('com.example.deaf').seen, {}, 'a plugin that does not read /strobe gets nothing');

    // Three hits in one burst (faster than a frame) are three events, none lost or doubled.
    for (let i = 0; i < 3; i++) t.store.apply([{ path: '/strobe', value: null }], 'cli');
    // A parameter change is no event.
    t.store.apply([{ path: '/layer/1/opacity', value: 0.5 }], 'cli');
    assert.ok(await eventually(() => seen('com.example.strobe').seen['/strobe'] === 4, 400, 25));
    const at2 = t.plugin('com.example.strobe')!.frames;
    assert.ok(await eventually(() => t.plugin('com.example.strobe')!.frames > at2 + 30, 400, 25));
    assert.deepEqual(seen('com.example.strobe').seen, { '/strobe': 4 });
    assert.equal(seen('com.example.strobe').late, 0, "an event's beat is never after its frame's");
  });

  it('an OSC write holds the bundled LFO off its parameter for takeoverMs, then the LFO resumes', async () => {
    const lfo = await readFile(join(EXAMPLES_DIR, 'lfo', OUTPUT), 'utf8');
    // The hold runs on this clock, stepped by hand; the LFO's frames run in real time.
    let now = 1_000_000;
    const t = setup([src.spec('hana.examples.lfo', lfo, { writes: ['/layer/2/opacity'] })], {
      takeoverMs: 2000,
      now: () => now,
    });
    await t.service.start();
    const entry = () => t.store.get('/layer/2/opacity')!;
    const held = () => t.service.status().writes.held;
    assert.ok(
      await eventually(() => entry().source === 'plugin:hana.examples.lfo', 400, 25),
      'the LFO drives /layer/2/opacity',
    );

    t.store.apply([{ path: '/layer/2/opacity', value: 0.123 }], 'osc:udp:127.0.0.1:9000');
    // The LFO writes at most 20 times a second: 20 attempts is a second of real time held off.
    assert.ok(await eventually(() => held() >= 20, 400, 25), `held ${held()}`);
    assert.deepEqual([entry().value, entry().source], [0.123, 'osc:udp:127.0.0.1:9000']);
    now += 1999;
    const before = held();
    assert.ok(await eventually(() => held() >= before + 10, 400, 25));
    assert.deepEqual(
      [entry().value, entry().source],
      [0.123, 'osc:udp:127.0.0.1:9000'],
      'still held 1 ms before takeoverMs',
    );
    now += 1;
    assert.ok(
      await eventually(() => entry().source === 'plugin:hana.examples.lfo', 400, 25),
      'the LFO resumes once takeoverMs has passed',
    );
    assert.notEqual(entry().value, 0.123);
  });

  it('applies declared writes to the store as the plugin, and refuses undeclared ones as security events', async () => {
    const t = setup([
      src.spec(
        'com.example.w',
        src.writer([
          ['/layer/2/opacity', 0.5],
          ['/tempo', 200],
        ]),
        {
          writes: ['/layer/*/opacity'],
        },
      ),
    ]);
    await t.service.start();
    assert.ok(await eventually(() => t.store.get('/layer/2/opacity')?.value === 0.5, 400, 25));
    assert.equal(t.store.get('/layer/2/opacity')?.source, 'plugin:com.example.w');
    assert.equal(t.store.get('/tempo')?.value, 120, 'the undeclared write never reached the store');
    assert.ok(await eventually(() => (t.plugin('com.example.w')?.refusedWrites ?? 0) > 3, 400, 25));
    const breach = t.lines.find((l) => l.event === 'plugin.undeclared-write');
    assert.equal(breach?.security, true);
    assert.equal(breach?.plugin, 'com.example.w');
    assert.deepEqual(breach?.items, ['/tempo']);
    assert.ok(t.lines.filter((l) => l.event === 'plugin.undeclared-write').length === 1, 'rate-limited');
    assert.ok((t.service.status().events['undeclared-write'] ?? 0) > 3, 'every refusal is counted');
    assert.ok(t.service.status().writes.applied > 0);
  });

  it('reports a quarantine to the daemon, logs it as a security event, and re-enables on request', async () => {
    const t = setup([src.spec('com.example.good', src.GOOD), src.spec('com.example.bad', src.THROWS)]);
    await t.service.start();
    assert.ok(await eventually(() => t.quarantined.length === 1, 400, 25));
    assert.equal(t.quarantined[0]![0], 'com.example.bad');
    assert.match(t.quarantined[0]![1], /restarts within/);
    const line = t.lines.find((l) => l.event === 'plugin.quarantine');
    assert.equal(line?.security, true);
    assert.ok(await eventually(() => t.plugin('com.example.bad')?.state === 'quarantined', 200, 25));
    assert.ok(
      await eventually(() => /boom at frame/.test(t.plugin('com.example.bad')?.lastError ?? ''), 200, 25),
    );

    const handlers = pluginRuntimeHandlers(t.service);
    const ctx = { emit() {}, closed: new Promise<void>(() => {}) };
    assert.deepEqual(await handlers['plugin.enable']!({ id: 'com.example.bad' }, ctx), {
      enabled: 'com.example.bad',
    });
    assert.ok(t.lines.some((l) => l.event === 'plugin.enabled'));
    await assert.rejects(
      async () => handlers['plugin.enable']!({ id: 'com.example.good' }, ctx),
      /not a quarantined plugin/,
    );
    const runtime = (await handlers['plugin.runtime']!({}, ctx)) as { enabled: boolean; plugins: unknown[] };
    assert.equal(runtime.enabled, true);
    assert.equal(runtime.plugins.length, 2);
  });

  it('keeps working while the plugin host is killed; the restarted host gets the parameters set meanwhile', async () => {
    const t = setup([
      src.spec(
        'com.example.probe',
        `var plugin = { frame(f) { return [{ op: 'text', x: 0, y: 0, text: String(f.params['/scene']) }]; } };`,
        {
          reads: ['/scene'],
        },
      ),
    ]);
    await t.service.start();
    assert.ok(await eventually(() => textOf(t.layer('com.example.probe')) === '0', 400, 25));
    const pid = t.service.status().host!.pid!;
    process.kill(pid, 'SIGKILL');
    for (let i = 1; i <= 20; i++) t.store.apply([{ path: '/scene', value: i }], 'cli'); // the store never waits
    assert.equal(t.store.get('/scene')?.value, 20);
    assert.ok(await eventually(() => textOf(t.layer('com.example.probe')) === '20', 400, 25));
    assert.equal(t.service.status().host?.restarts, 1);
    assert.ok(t.lines.some((l) => l.event === 'plugin.host-crash'));
    assert.ok(t.lines.some((l) => l.event === 'plugin.host-restart'));
  });

  it('reload() adds and removes plugins, and stops the host when none are left', async () => {
    let list = [src.spec('com.example.a', src.GOOD)];
    const t = setup(() => list);
    await t.service.start();
    assert.ok(await eventually(() => t.layer('com.example.a') !== undefined, 400, 25));
    list = [src.spec('com.example.a', src.GOOD), src.spec('com.example.b', src.GOOD)];
    // What `hana plugin install|remove|enable|disable` asks a running daemon for.
    const ctx = { emit() {}, closed: new Promise<void>(() => {}) };
    assert.deepEqual(await pluginRuntimeHandlers(t.service)['plugins.reload']!({}, ctx), {
      reloaded: true,
      plugins: ['com.example.a', 'com.example.b'],
    });
    assert.ok(await eventually(() => t.layer('com.example.b') !== undefined, 400, 25));
    const pid = t.service.status().host!.pid!;
    list = [];
    await t.service.reload();
    assert.equal(t.service.status().host, null);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });

  it('keeps its plugins when the plugin list cannot be loaded', async () => {
    let fail = false;
    const t = setup(() => {
      if (fail) throw new Error('disk on fire');
      return [src.spec('com.example.a', src.GOOD)];
    });
    await t.service.start();
    fail = true;
    await t.service.reload();
    assert.ok(t.lines.some((l) => l.event === 'plugin.list-failed'));
    assert.equal(t.service.status().plugins.length, 1);
  });

  it('answers the control API when plugins are off', async () => {
    const handlers = pluginRuntimeHandlers(undefined);
    const ctx = { emit() {}, closed: new Promise<void>(() => {}) };
    assert.equal(((await handlers['plugin.runtime']!({}, ctx)) as { enabled: boolean }).enabled, false);
    await assert.rejects(
      async () => handlers['plugin.enable']!({ id: 'com.example.a' }, ctx),
      /plugins are off/,
    );
    await assert.rejects(async () => handlers['plugin.enable']!({}, ctx), /takes \{"id"/);
    await assert.rejects(async () => handlers['plugins.reload']!({}, ctx), /plugins are off/);
  });
});
