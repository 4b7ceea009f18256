import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sceneName } from '../../../daemon/scenes/scene-file.ts';
import { openScenes, type Scenes } from '../../../daemon/scenes/scenes.ts';
import { readSealed, type SealKey } from '../../../trust-store/sealed-file.ts';
import { bindingFor, keyfile, PARAMS, type ParamMapInput, type World, world } from '../persist/helpers.ts';

// Scenes on real sealed files: capture, validate against the current declarations on load,
// apply as one batch under "scene:<name>", and refuse anything damaged or sealed with another key.

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hana-scenes-'));
});
const opened: Scenes[] = [];
after(async () => {
  for (const s of opened) await s.close();
  await rm(root, { recursive: true, force: true });
});

let n = 0;
async function setup(params: ParamMapInput = PARAMS, key: SealKey = keyfile(), dir?: string) {
  const w = world(params);
  const scenesDir = dir ?? join(root, `scenes-${++n}`);
  const scenes = await openScenes({
    dir: scenesDir,
    key,
    registry: w.registry,
    store: w.store,
    binding: bindingFor('node-A'),
    now: () => w.clock.now,
    maxScenes: 5,
  });
  opened.push(scenes);
  return { w, scenes, key, dir: scenesDir };
}

function expectOk<T extends { ok: boolean }>(r: T): Extract<T, { ok: true }> {
  if (!r.ok) assert.fail(JSON.stringify(r));
  return r as Extract<T, { ok: true }>;
}

function expectFail(r: { ok: boolean; code?: string; error?: string }, code: string, pattern?: RegExp) {
  assert.equal(r.ok, false, `expected ${code}`);
  assert.equal(r.code, code, r.error);
  if (pattern) assert.match(r.error!, pattern);
}

function setValues(w: World) {
  w.store.apply(
    [
      { path: '/a', value: 7 },
      { path: '/b', value: true },
      { path: '/c', value: 42 },
      { path: '/s', value: 'verse' },
      { path: '/col', value: '#ff000080' },
    ],
    'cli',
  );
}

describe('scene names', () => {
  it('accepts letters, digits, . _ - from a letter or digit, up to 64, case-insensitively', () => {
    for (const [input, name] of [
      ['intro', 'intro'],
      ['Intro', 'intro'],
      ['chorus-2.b_final', 'chorus-2.b_final'],
      ['9', '9'],
      ['a'.repeat(64), 'a'.repeat(64)],
    ]) {
      assert.deepEqual(sceneName(input!), { ok: true, name });
    }
    for (const bad of [
      '',
      '.',
      '..',
      '.hidden',
      '-x',
      '_x',
      'a/b',
      'a\\b',
      '../x',
      'a b',
      'é',
      'a'.repeat(65),
      'x\0',
    ]) {
      const r = sceneName(bad);
      assert.equal(r.ok, false, JSON.stringify(bad));
      assert.ok(!r.ok && /not a scene name: use 1–64 letters/.test(r.error));
    }
  });
});

describe('scene save and load', () => {
  it('saves every non-trigger value sealed and 0600, and loads it back as one batch under scene:<name>', async () => {
    const { w, scenes, key, dir } = await setup();
    setValues(w);
    const saved = expectOk(await scenes.save('Intro'));
    assert.equal(saved.name, 'intro');
    assert.equal(saved.params, 5);
    assert.equal(saved.replaced, false);
    const file = join(dir, 'intro.scene');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const bytes = await readFile(file);
    assert.equal(bytes.subarray(0, 12).toString(), 'HANA-SEALED\n');
    assert.equal(bytes.includes('verse'), false, 'values are not readable at rest');
    const plain = await readSealed(file, key);
    assert.ok(plain.ok);
    const scene = JSON.parse(new TextDecoder().decode(plain.ok ? plain.plaintext : new Uint8Array()));
    assert.equal(scene.format, 'hana-scene');
    assert.equal(scene.savedAt, new Date(w.clock.now).toISOString());
    assert.equal(
      scene.values.some((v: { path: string }) => v.path === '/t'),
      false,
      'no trigger',
    );

    w.store.apply(
      [
        { path: '/a', value: 0 },
        { path: '/s', value: 'bridge' },
      ],
      'cli',
    );
    w.batches.length = 0;
    const loaded = expectOk(await scenes.load('INTRO'));
    assert.equal(loaded.applied, 5);
    assert.equal(loaded.changed, 2);
    assert.deepEqual(loaded.skipped, []);
    assert.equal(w.batches.length, 1, 'one batch, one notification');
    assert.ok(w.batches[0]!.every((c) => c.source === 'scene:intro'));
    assert.equal(w.store.get('/a')!.value, 7);
    assert.equal(w.store.get('/s')!.value, 'verse');
    assert.equal(w.store.get('/col')!.value, '#ff000080');
    assert.equal(scenes.count(), 1);
  });

  it('captures only the paths an OSC pattern matches with `only`', async () => {
    const { w, scenes } = await setup();
    setValues(w);
    const r = expectOk(await scenes.save('letters', { only: '/{a,b,s}' }));
    assert.equal(r.params, 3);
    w.store.apply(
      [
        { path: '/a', value: 1 },
        { path: '/c', value: 1 },
      ],
      'cli',
    );
    await scenes.load('letters');
    assert.equal(w.store.get('/a')!.value, 7);
    assert.equal(w.store.get('/c')!.value, 1, 'outside the pattern: untouched');
    expectFail(await scenes.save('x', { only: '/[a' }), 'bad-pattern', /not a valid OSC address pattern/);
    expectFail(await scenes.save('x', { only: '/t' }), 'no-match', /no declared parameter/);
    expectFail(await scenes.save('x', { only: '/nothing/*' }), 'no-match');
  });

  it('will not overwrite a scene without force, and says so', async () => {
    const { w, scenes } = await setup();
    expectOk(await scenes.save('intro'));
    setValues(w);
    expectFail(await scenes.save('Intro'), 'exists', /already exists: add --force/);
    w.store.apply([{ path: '/c', value: 1 }], 'cli');
    await scenes.load('intro');
    assert.equal(w.store.get('/c')!.value, 0, 'the first save is intact');
    w.store.apply([{ path: '/c', value: 1 }], 'cli');
    const r = expectOk(await scenes.save('intro', { force: true }));
    assert.equal(r.replaced, true);
    w.store.apply([{ path: '/c', value: 2 }], 'cli');
    await scenes.load('intro');
    assert.equal(w.store.get('/c')!.value, 1);
  });

  it('serialises concurrent saves of one name: exactly one wins without force', async () => {
    const { scenes } = await setup();
    const results = await Promise.all([scenes.save('race'), scenes.save('race'), scenes.save('race')]);
    assert.equal(results.filter((r) => r.ok).length, 1);
    assert.equal(results.filter((r) => !r.ok && r.code === 'exists').length, 2);
  });

  it('validates each value against the current config: skips what does not fit, clamps per policy, applies the rest', async () => {
    const key = keyfile();
    const dir = join(root, `shared-${++n}`);
    const old = await setup(PARAMS, key, dir);
    setValues(old.w);
    expectOk(await old.scenes.save('show'));
    // The config changed: /a shrank (clamp), /c shrank (reject), /b became a float, /s is gone.
    const now = await setup(
      {
        '/a': { type: 'float', min: 0, max: 5 },
        '/b': { type: 'float' },
        '/c': { type: 'int', min: 0, max: 10, outOfRange: 'reject' },
        '/col': { type: 'color' },
      },
      key,
      dir,
    );
    const r = expectOk(await now.scenes.load('show'));
    assert.deepEqual(
      r.skipped.map((s) => [s.path, s.code]),
      [
        ['/b', 'wrong-type'],
        ['/c', 'out-of-range'],
        ['/s', 'undeclared'],
      ],
    );
    assert.match(r.skipped[0]!.reason, /saved as bool/);
    assert.deepEqual(r.clamped, [{ path: '/a', saved: 7, applied: 5 }]);
    assert.equal(r.applied, 2);
    assert.equal(now.w.store.get('/a')!.value, 5);
    assert.equal(now.w.store.get('/col')!.value, '#ff000080');
    assert.equal(now.w.store.get('/c')!.source, 'default');
  });
});

describe('scene refusals', () => {
  it('refuses a tampered, truncated or foreign-key scene with a clear error and applies nothing', async () => {
    const { w, scenes, dir } = await setup();
    setValues(w);
    expectOk(await scenes.save('a'));
    const file = join(dir, 'a.scene');
    const good = await readFile(file);
    w.store.apply([{ path: '/c', value: 1 }], 'cli');
    w.batches.length = 0;

    const flipped = Buffer.from(good);
    flipped[60]! ^= 0x80;
    await writeFile(file, flipped);
    expectFail(
      await scenes.load('a'),
      'wrong-key-or-tampered',
      /scene "a" cannot be read: .*modified or damaged.*hana scene delete a/,
    );
    await writeFile(file, good.subarray(0, 40));
    expectFail(await scenes.load('a'), 'truncated', /cut short/);
    await writeFile(file, 'plain text');
    expectFail(await scenes.load('a'), 'not-sealed');
    assert.equal(w.batches.length, 0, 'nothing applied');

    // The same bytes under another daemon's key.
    await writeFile(file, good);
    const other = await setup(PARAMS, keyfile(), dir);
    expectFail(await other.scenes.load('a'), 'wrong-key-or-tampered', /check storage\.key/);
    expectOk(await scenes.load('a'));
  });

  it('refuses bad names, missing scenes, and more scenes than the cap', async () => {
    const { scenes } = await setup();
    expectFail(await scenes.load('../state'), 'bad-name');
    expectFail(await scenes.save('a/b'), 'bad-name');
    expectFail(await scenes.load('nope'), 'not-found', /hana scene list/);
    expectFail(await scenes.delete('nope'), 'not-found');
    for (let i = 0; i < 5; i++) expectOk(await scenes.save(`s${i}`));
    expectFail(await scenes.save('s5'), 'too-many', /delete some/);
    expectOk(await scenes.save('s0', { force: true }));
  });
});

describe('scene list and delete', () => {
  it('reads every scene in the background after opening, so the first list needs no decryption', async () => {
    const first = await setup();
    expectOk(await first.scenes.save('one'));
    const file = join(first.dir, 'one.scene');
    const st = await stat(file);
    const again = await setup(PARAMS, first.key, first.dir);
    await again.scenes.warmed;
    // Same size, inode and mtime but other bytes: only a cached answer can still be right.
    await writeFile(file, Buffer.alloc(st.size, 0x41));
    // Mid-millisecond: a whole-millisecond time can round down through utimes' float seconds.
    await utimes(file, st.atime, (Math.floor(st.mtimeMs) + 0.5) / 1000);
    const [one] = await again.scenes.list();
    assert.equal(one!.params, 5);
    assert.equal(one!.error, undefined);
    expectFail(await again.scenes.load('one'), 'not-sealed', /cannot be read/);
  });

  it('removes temp files of saves a kill interrupted, and nothing else', async () => {
    const dir = join(root, `tmp-${++n}`);
    await mkdir(dir);
    await writeFile(join(dir, '.intro.scene.1234.00ff00ff.tmp'), 'half');
    await writeFile(join(dir, '.keep-me'), 'not ours');
    await setup(PARAMS, keyfile(), dir);
    assert.deepEqual(await readdir(dir), ['.keep-me']);
  });

  it('lists name, saved time, parameter count and size, marks unreadable scenes, and ignores other files', async () => {
    const { w, scenes, dir } = await setup();
    expectOk(await scenes.save('b-side', { only: '/a' }));
    w.clock.now += 60_000;
    expectOk(await scenes.save('a-side'));
    await writeFile(join(dir, 'broken.scene'), 'garbage');
    await writeFile(join(dir, 'Upper.scene'), 'not a name hana writes');
    await writeFile(join(dir, 'notes.txt'), 'hello');
    const list = await scenes.list();
    assert.deepEqual(
      list.map((s) => s.name),
      ['a-side', 'b-side', 'broken'],
    );
    const [a, b, broken] = list;
    assert.equal(a!.params, 5);
    assert.equal(b!.params, 1);
    assert.equal(a!.savedAt, new Date(w.clock.now).toISOString());
    assert.equal(a!.bytes, (await stat(join(dir, 'a-side.scene'))).size);
    assert.equal(broken!.params, null);
    assert.match(broken!.error!, /^not-sealed: /);
    assert.equal(scenes.count(), 3);
    // Listing again reads from the cache, and notices a file replaced underneath.
    assert.deepEqual(await scenes.list(), list);
    await writeFile(join(dir, 'a-side.scene'), await readFile(join(dir, 'b-side.scene')));
    assert.equal((await scenes.list())[0]!.params, 1);

    const d = expectOk(await scenes.delete('B-SIDE'));
    assert.equal(d.name, 'b-side');
    assert.deepEqual((await readdir(dir)).sort(), [
      'Upper.scene',
      'a-side.scene',
      'broken.scene',
      'notes.txt',
    ]);
    expectFail(await scenes.delete('b-side'), 'not-found');
    assert.equal(scenes.count(), 2);
  });
});
