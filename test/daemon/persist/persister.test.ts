import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AUTOMATION_SAVE_DELAY_MS,
  openPersister,
  type Persister,
  type PersisterInit,
  STREAM_SAVE_FACTOR,
} from '../../../daemon/persist/persister.ts';
import { decodeState, encodeState } from '../../../daemon/persist/state-file.ts';
import { compareStamps } from '../../../daemon/state/hlc.ts';
import { PERSON_LEAD_MS } from '../../../daemon/state/write-order.ts';
import { readSealed, type SealKey, writeSealedAtomic } from '../../../trust-store/sealed-file.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { bindingFor, keyfile, PARAMS, type World, world } from './helpers.ts';

// Persisted state against real sealed files in a temp folder: restore with stamps, keep what
// the config no longer takes, refuse wrong keys and damaged files without touching them, and
// save after changes through the same atomic path a SIGKILL cannot tear.

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-persist-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
const fresh = () => join(dir, `state-${++n}.sealed`);

async function open(w: World, path: string, key: SealKey, extra: Partial<PersisterInit> = {}) {
  const { log, lines } = captureLogger();
  const r = await openPersister({
    path,
    key,
    registry: w.registry,
    store: w.store,
    log,
    binding: bindingFor(w.hlc.node),
    saveDelayMs: 20,
    now: () => w.clock.now,
    ...extra,
  });
  return { r, lines };
}

async function opened(w: World, path: string, key: SealKey, extra: Partial<PersisterInit> = {}) {
  const { r, lines } = await open(w, path, key, extra);
  if (!r.ok) assert.fail(r.error);
  return { p: r.persister as Persister, lines };
}

async function contents(path: string, key: SealKey) {
  const r = await readSealed(path, key);
  if (!r.ok) assert.fail(r.error);
  const d = decodeState(r.plaintext);
  if (!d.ok) assert.fail(d.error);
  return d.file;
}

describe('persisted state: save and restore', () => {
  it('starts empty without a file, saves written values with stamps and writers, restores them after a restart', async () => {
    const path = fresh();
    const key = keyfile();
    const w1 = world();
    const { p } = await opened(w1, path, key);
    assert.equal(p.report.firstRun, true);
    assert.equal((await stat(path).catch(() => null)) === null, true, 'nothing written before a change');
    w1.store.apply([{ path: '/a', value: 2.5 }], 'cli');
    w1.clock.now += 5;
    w1.store.apply(
      [
        { path: '/s', value: 'hello' },
        { path: '/t', value: null },
      ],
      'osc:udp:127.0.0.1:9000',
    );
    w1.store.merge('/b', {
      value: true,
      stamp: { t: w1.clock.now + 1, c: 3, node: 'node-B' },
      source: 'peer:node-B',
    });
    await p.close();
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const file = await contents(path, key);
    assert.equal(file.node, 'node-A');
    assert.deepEqual(
      file.entries.map((e) => e.path).sort(),
      ['/a', '/b', '/s'],
      'no trigger, no untouched default',
    );

    // A new process: a new store at defaults, a clock that starts from zero.
    const w2 = world(PARAMS, 'node-A', w1.clock.now + 1000);
    const { p: p2, lines } = await opened(w2, path, key);
    assert.equal(p2.report.firstRun, false);
    assert.equal(p2.report.restored, 3);
    assert.deepEqual(p2.report.kept, []);
    for (const path of ['/a', '/b', '/s']) {
      const before = w1.store.get(path)!;
      assert.deepEqual(w2.store.get(path), before, `${path} restored with its stamp and writer`);
    }
    // A person's mark survives: after a restart it still ranks ahead of plugins (write-order.ts).
    assert.equal(w2.store.get('/a')!.human, true);
    assert.equal(w2.store.get('/b')!.human, undefined, 'a peer write without the mark stays without it');
    assert.equal(w2.store.get('/c')!.source, 'default');
    assert.equal(lines.length, 0, 'a clean restore logs nothing here (the storage factory reports it)');
    // The clock has seen the restored stamps: a new local write outranks them all.
    const [ch] = w2.store.apply([{ path: '/b', value: false }], 'cli');
    assert.ok(compareStamps(ch!.stamp, w1.store.get('/b')!.stamp) > 0);
    await p2.close();
  });

  it('restores through merge, so a newer value already in the store is not overwritten', async () => {
    const path = fresh();
    const key = keyfile();
    const w1 = world();
    const { p } = await opened(w1, path, key);
    w1.store.apply([{ path: '/a', value: 3 }], 'cli');
    await p.close();
    const w2 = world();
    // A peer's person, later: it outranks the person's write restored from the file.
    w2.store.merge('/a', {
      value: 7,
      stamp: { t: w1.clock.now + 10, c: 0, node: 'node-B' },
      source: 'peer:node-B',
      human: true,
    });
    const { p: p2 } = await opened(w2, path, key);
    assert.equal(w2.store.get('/a')!.value, 7);
    assert.equal(p2.report.restored, 0);
    assert.deepEqual(p2.report.kept, []);
    await p2.close();
  });

  it('keeps entries the current config cannot take, reports each, and writes them back on the next save', async () => {
    const path = fresh();
    const key = keyfile();
    const now = 1_700_000_000_000;
    const stamp = (c: number) => ({ t: now - 1000, c, node: 'node-A' });
    await writeSealedAtomic(
      path,
      encodeState('node-A', now - 1000, [
        { path: '/a', value: 9, stamp: stamp(0), source: 'cli' }, // range now 0..5 (clamp)
        { path: '/b', value: 1, stamp: stamp(1), source: 'cli' }, // now a bool: a number is the wrong type
        { path: '/c', value: 500, stamp: stamp(2), source: 'cli' }, // reject policy, out of range
        { path: '/gone', value: 1, stamp: stamp(3), source: 'cli' }, // no longer declared
        { path: '/s', value: 'ok', stamp: stamp(4), source: 'cli' },
        {
          path: '/future',
          value: 1,
          stamp: { t: now + 3_600_000, c: 0, node: 'node-B' },
          source: 'peer:node-B',
        },
      ]),
      key,
      'node-A',
    );
    const w = world(
      { ...PARAMS, '/a': { type: 'float', min: 0, max: 5 }, '/future': { type: 'int' } },
      'node-A',
      now,
    );
    const { p } = await opened(w, path, key);
    assert.equal(p.report.restored, 1);
    const codes = Object.fromEntries(p.report.kept.map((k) => [k.path, k.code]));
    assert.deepEqual(codes, {
      '/a': 'out-of-range',
      '/b': 'wrong-type',
      '/c': 'out-of-range',
      '/gone': 'undeclared',
      '/future': 'stamp-refused',
    });
    assert.equal(p.status().unknownPaths, 5);
    assert.equal(w.store.get('/a')!.source, 'default', 'not clamped under the old stamp');
    assert.equal(w.store.get('/s')!.value, 'ok');

    // A write to one of them replaces the kept entry; the others survive the save.
    w.store.apply([{ path: '/c', value: 50 }], 'cli');
    await p.flush();
    const file = await contents(path, key);
    const byPath = Object.fromEntries(file.entries.map((e) => [e.path, e]));
    assert.deepEqual(Object.keys(byPath).sort(), ['/a', '/b', '/c', '/future', '/gone', '/s']);
    assert.equal(byPath['/c']!.value, 50);
    assert.equal(byPath['/gone']!.value, 1);
    assert.deepEqual(byPath['/future']!.stamp, { t: now + 3_600_000, c: 0, node: 'node-B' });
    await p.close();
  });

  it('coalesces a burst of changes into one save', async () => {
    const path = fresh();
    const key = keyfile();
    const w = world();
    const { p } = await opened(w, path, key, { saveDelayMs: 50 });
    for (let i = 0; i <= 100; i++) w.store.apply([{ path: '/c', value: i }], 'cli');
    await p.flush();
    assert.equal(p.status().saves, 1);
    assert.equal((await contents(path, key)).entries.find((e) => e.path === '/c')!.value, 100);
    assert.ok(p.status().lastSavedAt);
    await p.close();
  });

  // Issue 18: the bundled LFO's 10 writes a second made an idle daemon seal and fsync its state
  // four times a second, most of its CPU.
  it("saves changes only plugins made after AUTOMATION_SAVE_DELAY_MS; a person's change brings the save forward", async () => {
    const path = fresh();
    const key = keyfile();
    const w = world();
    const set: { delay: number; fn: () => void; id: number }[] = [];
    let ids = 0;
    const timers = {
      set: (delay: number, fn: () => void) => {
        set.push({ delay, fn, id: ++ids });
        return ids;
      },
      clear: (h: unknown) => {
        const i = set.findIndex((t) => t.id === h);
        if (i >= 0) set.splice(i, 1);
      },
    };
    const { p } = await opened(w, path, key, { saveDelayMs: 250, timers });
    for (let i = 0; i < 20; i++) w.store.apply([{ path: '/c', value: i }], 'plugin:hana.examples.lfo');
    assert.deepEqual(
      set.map((t) => t.delay),
      [AUTOMATION_SAVE_DELAY_MS],
      'one save, five seconds out',
    );
    w.store.apply([{ path: '/c', value: 42 }], 'osc:udp:127.0.0.1:9000');
    assert.deepEqual(
      set.map((t) => t.delay),
      [250],
      "a person's write replaced it with the short delay",
    );
    set.shift()!.fn();
    await p.flush();
    assert.equal(p.status().saves, 1);
    assert.equal((await contents(path, key)).entries.find((e) => e.path === '/c')!.value, 42);
    // Past the person's lead, or the store leaves the plugin's write out (write-order.ts).
    w.clock.now += PERSON_LEAD_MS;
    w.store.apply([{ path: '/c', value: 7 }], 'plugin:hana.examples.lfo');
    assert.deepEqual(
      set.map((t) => t.delay),
      [AUTOMATION_SAVE_DELAY_MS],
      'after the save, automation waits again',
    );
    await p.close();
    assert.equal(
      (await contents(path, key)).entries.find((e) => e.path === '/c')!.value,
      7,
      'close saves it',
    );
  });

  it('a stream of changes sets the save timer once and reads the clock for it once, not per change', async () => {
    const w = world();
    let reads = 0;
    let sets = 0;
    const timers = {
      set: (_delay: number, _fn: () => void) => ++sets,
      clear: () => {},
    };
    const { p } = await opened(w, fresh(), keyfile(), { saveDelayMs: 250, timers });
    const now = performance.now;
    performance.now = () => {
      reads++;
      return now.call(performance);
    };
    try {
      for (let i = 0; i < 1000; i++)
        w.store.apply([{ path: '/c', value: i % 100 }], 'osc:udp:127.0.0.1:9000');
    } finally {
      performance.now = now;
    }
    assert.equal(sets, 1, 'one save timer');
    assert.ok(reads <= 1, `${reads} clock reads for 1000 changes`);
    await p.close();
  });

  // Issue 18: at controller rates a sealed, fsync'd save every saveDelayMs was about 4 % of the
  // daemon's OSC ingest profile. In a stream saves are spaced STREAM_SAVE_FACTOR × saveDelayMs
  // from the last one's start (the bound on what a kill loses); after a quiet spell, saveDelayMs.
  it('in a stream of changes saves at most once per STREAM_SAVE_FACTOR × saveDelayMs; after a quiet spell, after saveDelayMs', async () => {
    const path = fresh();
    const key = keyfile();
    const w = world();
    const set: { delay: number; fn: () => void }[] = [];
    const timers = {
      set: (delay: number, fn: () => void) => set.push({ delay, fn }),
      clear: () => {},
    };
    const clock = { t: 10_000 };
    const now = performance.now;
    performance.now = () => clock.t;
    try {
      const { p } = await opened(w, path, key, { saveDelayMs: 250, timers });
      const osc = (v: number) => w.store.apply([{ path: '/c', value: v }], 'osc:udp:127.0.0.1:9000');
      osc(1);
      assert.deepEqual(
        set.map((s) => s.delay),
        [250],
        'the first change of a stream: saveDelayMs',
      );
      clock.t += 250;
      set.shift()!.fn(); // the save starts now
      await p.flush();
      assert.equal(p.status().saves, 1);
      clock.t += 50;
      osc(2);
      assert.deepEqual(
        set.map((s) => s.delay),
        [STREAM_SAVE_FACTOR * 250 - 50],
        'a change 50 ms after a save waits until 4 × 250 ms after that save started',
      );
      clock.t += STREAM_SAVE_FACTOR * 250 - 50;
      set.shift()!.fn();
      await p.flush();
      assert.equal(p.status().saves, 2);
      assert.equal((await contents(path, key)).entries.find((e) => e.path === '/c')!.value, 2);
      clock.t += 5000;
      osc(3);
      assert.deepEqual(
        set.map((s) => s.delay),
        [250],
        'after a quiet spell a change waits saveDelayMs again',
      );
      set.length = 0;
      await p.close();
    } finally {
      performance.now = now;
    }
  });

  it('saves again after changes that arrive while a save is running', async () => {
    const path = fresh();
    const key = keyfile();
    const w = world();
    const { p } = await opened(w, path, key, { saveDelayMs: 0 });
    w.store.apply([{ path: '/c', value: 1 }], 'cli');
    const first = p.flush(); // the save of /c = 1 is now in flight
    w.store.apply([{ path: '/c', value: 2 }], 'cli');
    await first;
    assert.equal((await contents(path, key)).entries.find((e) => e.path === '/c')!.value, 1);
    await p.close();
    assert.equal((await contents(path, key)).entries.find((e) => e.path === '/c')!.value, 2);
    assert.equal(p.status().saves, 2);
  });

  it('counts and logs a failed save once, retries, and catches up when the disk is back', async () => {
    const sub = join(dir, `gone-${++n}`);
    await mkdir(sub);
    const path = join(sub, 'state.sealed');
    const key = keyfile();
    const w = world();
    const { p, lines } = await opened(w, path, key, { saveDelayMs: 0 });
    await rm(sub, { recursive: true });
    w.store.apply([{ path: '/c', value: 1 }], 'cli');
    await p.flush();
    w.store.apply([{ path: '/c', value: 2 }], 'cli');
    await p.flush();
    assert.ok(p.status().failures >= 2, `failures ${p.status().failures}`);
    assert.equal(lines.filter((l) => l.event === 'persist.save-failed').length, 1, 'logged once per minute');
    await mkdir(sub);
    await p.close();
    assert.equal((await contents(path, key)).entries.find((e) => e.path === '/c')!.value, 2);
    assert.equal(p.status().saves, 1);
  });

  it('removes temp files a killed writer left behind', async () => {
    const sub = join(dir, `tmp-${++n}`);
    await mkdir(sub);
    const path = join(sub, 'state.sealed');
    await writeFile(join(sub, '.state.sealed.4242.deadbeef.tmp'), 'half a file');
    await writeFile(join(sub, 'unrelated.tmp'), 'not ours');
    const { p } = await opened(world(), path, keyfile());
    assert.deepEqual(await readdir(sub), ['unrelated.tmp']);
    await p.close();
  });
});

describe('persisted state: refusals', () => {
  async function savedFile() {
    const path = fresh();
    const key = keyfile();
    const w = world();
    const { p } = await opened(w, path, key);
    w.store.apply([{ path: '/a', value: 4 }], 'cli');
    await p.close();
    return { path, key, bytes: await readFile(path) };
  }

  async function assertRefused(path: string, key: SealKey, bytes: Uint8Array, pattern: RegExp) {
    const w = world();
    const { r } = await open(w, path, key);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.ok(r.error.includes(path), `names the file: ${r.error}`);
    assert.ok(['wrong-key-or-tampered', 'truncated', 'not-sealed', 'bad-state'].includes(r.code), r.code);
    assert.match(r.error, pattern);
    assert.match(r.error, /storage\.key/);
    assert.deepEqual(await readFile(path), Buffer.from(bytes), 'the file is left as it was');
    assert.equal(w.store.get('/a')!.source, 'default', 'nothing restored');
  }

  it('refuses a wrong key, a passphrase for a key-file file, a flipped byte and a truncation, leaving the file untouched', async () => {
    const { path, key, bytes } = await savedFile();
    await assertRefused(path, keyfile(), bytes, /cannot decrypt/);
    await assertRefused(path, { kind: 'passphrase', passphrase: 'guess' }, bytes, /passphrase/);
    const flipped = new Uint8Array(bytes);
    flipped[flipped.length - 20]! ^= 0x01;
    await writeFile(path, flipped);
    await assertRefused(path, key, flipped, /modified or damaged/);
    const cut = bytes.subarray(0, 30);
    await writeFile(path, cut);
    await assertRefused(path, key, cut, /cut short/);
    await writeFile(path, '{"not":"sealed"}');
    await assertRefused(path, key, Buffer.from('{"not":"sealed"}'), /not a sealed hana file/);
  });

  it('refuses a file that decrypts but is not a state file', async () => {
    const path = fresh();
    const key = keyfile();
    await writeSealedAtomic(path, new TextEncoder().encode('{"format":"hana-scene"}'), key, 'node-A');
    const bytes = await readFile(path);
    await assertRefused(path, key, bytes, /not a hana state file/);
  });

  it("refuses another laptop's state.sealed sealed with the same key, naming both devices, and leaves it untouched", async () => {
    const path = fresh();
    const key = keyfile();
    // Names without a dash: messages show a device ID's first group.
    const theirs = world(PARAMS, 'laptopB');
    const { p } = await opened(theirs, path, key);
    theirs.store.apply([{ path: '/a', value: 4 }], 'cli');
    await p.close();
    const bytes = await readFile(path);
    const w = world(PARAMS, 'laptopA');
    const { r, lines } = await open(w, path, key);
    assert.ok(!r.ok && r.code === 'other-device');
    assert.equal(
      r.error,
      `${path} was written by device laptopB, not this one (laptopA): it was copied from another laptop; put back this laptop's own ${path} from a backup (or move it away to start from defaults); hana left it untouched`,
    );
    assert.equal(lines.length, 0, 'the caller logs the refusal, once');
    assert.deepEqual(await readFile(path), bytes);
    assert.equal(w.store.get('/a')!.source, 'default', 'nothing restored');
  });

  it('restores a format-1 state file this home held when upgraded, and re-seals it naming the device at the next save', async () => {
    const path = fresh();
    const key = keyfile();
    const old = encodeState('node-A', 1_699_999_999_000, [
      { path: '/a', value: 3, stamp: { t: 1_699_999_999_000, c: 0, node: 'node-A' }, source: 'cli' },
    ]);
    await writeSealedAtomic(path, old, key); // no device: as hana wrote it before
    const legacy = await readFile(path);
    const refusedW = world();
    const { r } = await open(refusedW, path, key);
    assert.ok(!r.ok && r.code === 'unknown-legacy', 'not known to this home: refused');
    const w = world();
    const { p } = await opened(w, path, key, { binding: bindingFor('node-A', { legacy: [legacy] }) });
    assert.equal(w.store.get('/a')!.value, 3);
    w.store.apply([{ path: '/b', value: true }], 'cli');
    await p.close();
    const now = await readSealed(path, key, bindingFor('node-A'));
    assert.ok(now.ok && now.device === 'node-A', 'migrated on the next write');
  });

  it('refuses an unreadable path (a directory) rather than treating it as a first run', async () => {
    const path = fresh();
    await mkdir(path);
    const { r } = await open(world(), path, keyfile());
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error.includes(path));
  });
});
