import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { createPluginWriter, type WriteRefusal } from '../../../daemon/plugins/writes.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { type Change, createStore } from '../../../daemon/state/store.ts';
import { compilePermissions } from '../../../plugins/sandbox/permissions.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// Plugin writes through the validated write path: permission, declared parameter, coercion and
// range rules, all-or-nothing per frame, attributed to the plugin.

const PARAMS = ParamMap.parse({
  '/a': { type: 'float', min: 0, max: 1 },
  '/strict': { type: 'float', min: 0, max: 1, outOfRange: 'reject' },
  '/n': { type: 'int', min: 0, max: 10 },
  '/c': { type: 'color' },
  '/t': { type: 'trigger' },
  '/on': { type: 'bool' },
  '/s': { type: 'string', maxLength: 4 },
  '/master/blackout': { type: 'bool' },
  '/master/opacity': { type: 'float', min: 0, max: 1, default: 1 },
});

function setup(withRejections = false) {
  const registry = createRegistry(PARAMS);
  const store = createStore({ registry, hlc: createHlc({ node: 'n1' }) });
  const changes: Change[] = [];
  store.subscribe((c) => changes.push(...c));
  const refused: WriteRefusal[] = [];
  const { log, lines } = captureLogger();
  const rejections = withRejections
    ? createRejections({ log, security: securityLogger(log), intervalMs: 0 })
    : undefined;
  const perms = compilePermissions({
    reads: [],
    writes: ['/a', '/strict', '/n', '/c', '/t', '/on', '/s', '/undeclared-param', '/master/*'],
  });
  const writer = createPluginWriter({
    registry,
    store,
    rejections,
    permissions: (id) => (id === 'com.example.p' ? perms : undefined),
    onRefused: (r) => refused.push(r),
  });
  return { store, writer, changes, refused, rejections, lines };
}

describe('plugin writes', () => {
  it('refuses /master/opacity and /master/blackout even when declared: no plugin can undo a blackout', () => {
    const t = setup(true);
    t.store.apply([{ path: '/master/blackout', value: true }], 'osc:udp:127.0.0.1:9000');
    assert.equal(t.writer.write('com.example.p', [{ path: '/master/blackout', value: false }]), 0);
    assert.equal(
      t.writer.write('com.example.p', [
        { path: '/a', value: 0.5 },
        { path: '/master/opacity', value: 1 },
      ]),
      0,
      'the whole frame, as for any refusal',
    );
    assert.equal(t.store.get('/master/blackout')?.value, true);
    assert.equal(t.store.get('/a')?.value, 0);
    assert.equal(t.rejections!.counts()['plugin-master-write'], 2);
    assert.deepEqual(t.writer.stats(), { applied: 0, refused: 2, held: 0 });
  });

  it('applies declared writes as one batch, coerced, stamped with the plugin as source', () => {
    const t = setup();
    const n = t.writer.write('com.example.p', [
      { path: '/a', value: 2 },
      { path: '/n', value: 3 },
      { path: '/c', value: '#FF0000' },
      { path: '/on', value: 1 },
      { path: '/t', value: true },
    ]);
    assert.equal(n, 5);
    assert.equal(t.store.get('/a')?.value, 1, 'clamped to the range');
    assert.equal(t.store.get('/c')?.value, '#ff0000ff');
    assert.equal(t.store.get('/on')?.value, true);
    assert.ok(t.changes.every((c) => c.source === 'plugin:com.example.p'));
    assert.ok(
      t.changes.some((c) => c.path === '/t'),
      'the trigger fired',
    );
    assert.deepEqual(t.writer.stats(), { applied: 5, refused: 0, held: 0 });
  });

  it('a trigger released (false or 0) fires nothing', () => {
    const t = setup();
    assert.equal(t.writer.write('com.example.p', [{ path: '/t', value: false }]), 0);
    assert.equal(t.changes.length, 0);
  });

  it('refuses the whole frame when one value is bad, with the coercion reason', () => {
    const t = setup();
    const cases: [string, number | boolean | string, string][] = [
      ['/strict', 5, 'plugin-out-of-range'],
      ['/n', 2.5, 'plugin-wrong-type'],
      ['/c', 'red', 'plugin-wrong-type'],
      ['/s', 'too long', 'plugin-out-of-range'],
      ['/a', 'x', 'plugin-wrong-type'],
      ['/undeclared-param', 1, 'plugin-unknown-address'],
    ];
    for (const [path, value, reason] of cases) {
      const n = t.writer.write('com.example.p', [
        { path: '/a', value: 0.5 },
        { path, value },
      ]);
      assert.equal(n, 0, `${path}=${value}`);
      assert.equal(t.refused.at(-1)?.reason, reason);
    }
    assert.equal(t.changes.length, 0, 'nothing of a refused frame is applied');
  });

  it('counts bad values with the daemon’s rejections when given, and keeps security refusals for itself', () => {
    const t = setup(true);
    t.writer.write('com.example.p', [{ path: '/strict', value: 9 }]);
    assert.deepEqual(t.rejections!.counts(), { 'plugin-out-of-range': 1 });
    assert.equal(t.refused.length, 0);
    t.writer.write('com.example.p', [{ path: '/tempo', value: 1 }]);
    assert.equal(t.refused.at(-1)?.reason, 'plugin-undeclared-write');
    assert.deepEqual(t.rejections!.counts(), { 'plugin-out-of-range': 1 });
  });

  it('refuses paths outside the manifest’s writes, and writers that are not loaded plugins', () => {
    const t = setup();
    assert.equal(t.writer.write('com.example.p', [{ path: '/tempo', value: 120 }]), 0);
    assert.deepEqual(t.refused.at(-1), {
      plugin: 'com.example.p',
      reason: 'plugin-undeclared-write',
      message: "com.example.p wrote /tempo, not declared in its manifest's writes",
      paths: ['/tempo'],
    });
    assert.equal(t.writer.write('com.example.ghost', [{ path: '/a', value: 0 }]), 0);
    assert.equal(t.refused.at(-1)?.reason, 'plugin-unknown-writer');
    assert.equal(t.writer.stats().refused, 2);
  });
});
