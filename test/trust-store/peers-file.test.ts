import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openPeerStore } from '../../trust-store/peers.ts';
import { PeersFile } from '../../trust-store/peers-schema.ts';
import { fakeClock, idOf, mustOpen } from './helpers.ts';

// peers.json on disk: what survives a restart, and that a damaged file stops the daemon with
// the file's name instead of quietly starting with no pins.

let dir: string;
let n = 0;
const fresh = () => join(dir, `peers-${++n}.json`);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-peers-file-test-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const A = idOf('a');
const B = idOf('b');
const C = idOf('c');

async function refused(path: string): Promise<string> {
  const r = await openPeerStore(path);
  if (r.ok) assert.fail(`expected ${path} to be refused, got ${r.store.list().length} peers`);
  assert.ok(r.error.includes(path), `the error names the file: ${r.error}`);
  assert.match(r.error, /trust was not reset/);
  return r.error;
}

describe('persistence', () => {
  it('round-trips every field across a reopen', async () => {
    const clock = fakeClock();
    const path = fresh();
    const store = await mustOpen(path, clock.now);
    await store.pin({
      id: A,
      name: 'stage left',
      state: 'trusted',
      role: 'performer',
      address: '10.0.0.2:9000',
    });
    clock.advance(1000);
    await store.pin({
      id: B,
      name: 'projector',
      state: 'pending',
      code: '093211',
      address: '[fd00::2]:9001',
    });
    await store.block(C);
    await store.hold({ name: 'stage left', presentedId: idOf('d'), pinnedId: A, address: '10.0.0.66:9000' });
    const reopened = await mustOpen(path);
    assert.deepEqual(reopened.list(), store.list());
    assert.deepEqual(reopened.held(), store.held());
    assert.equal(reopened.list().length, 3);
  });

  it('writes the file with mode 0600 and leaves no temp files', async () => {
    const path = fresh();
    const store = await mustOpen(path);
    await store.pin({ id: A, name: 'a', state: 'trusted' });
    await store.forget(A);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  it('normalises a hand-edited ID when loading', async () => {
    const path = fresh();
    const at = fakeClock().iso();
    const peer = {
      id: A.toLowerCase(),
      name: 'a',
      state: 'trusted',
      role: 'observer',
      firstSeen: at,
      lastSeen: at,
    };
    await writeFile(path, JSON.stringify({ version: 1, peers: [peer], held: [] }));
    const store = await mustOpen(path);
    assert.equal(store.get(A)?.id, A);
  });

  it('serializes concurrent changes: the file is valid at every moment and nothing is lost', async () => {
    const path = fresh();
    const store = await mustOpen(path);
    const ids = Array.from({ length: 60 }, (_, i) => idOf(`crowd ${i}`));
    let reads = 0;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        });
        if (text !== undefined) {
          assert.equal(PeersFile.safeParse(JSON.parse(text)).success, true);
          reads++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const changes = ids.flatMap((id, i) => [
      store.pin({ id, name: `peer ${i}`, state: i % 2 ? 'trusted' : 'pending' }),
      store.upsertSeen({ id, name: `peer ${i} seen`, address: `10.0.0.${i + 1}:9000` }),
      i % 3 === 0 ? store.block(id) : store.allow(id, 'performer'),
      i % 5 === 0 ? store.forget(id) : Promise.resolve(),
    ]);
    await Promise.all(changes);
    writing = false;
    await reader;
    assert.ok(reads > 0, 'the reader saw the file while it was being written');
    const reopened = await mustOpen(path);
    assert.deepEqual(reopened.list(), store.list());
    assert.equal(store.list().length, ids.filter((_, i) => i % 5 !== 0).length);
    for (const [i, id] of ids.entries()) {
      const p = store.get(id);
      if (i % 5 === 0) {
        assert.equal(p, undefined);
        continue;
      }
      assert.equal(p?.name, `peer ${i} seen`);
      assert.equal(p?.lastAddress, `10.0.0.${i + 1}:9000`);
      assert.equal(p?.state, i % 3 === 0 ? 'blocked' : 'trusted');
    }
  });
});

describe('a damaged or unreadable file', () => {
  const at = '2026-11-22T10:00:00.000Z';
  const good = { id: A, name: 'a', state: 'trusted', role: 'observer', firstSeen: at, lastSeen: at };
  const cases: [string, string | Uint8Array, RegExp][] = [
    ['garbage bytes', Uint8Array.from([0xff, 0x00, 0x13, 0x37, 0x80]), /not valid JSON/],
    ['an empty file', '', /not valid JSON/],
    [
      'truncated JSON',
      JSON.stringify({ version: 1, peers: [good], held: [] }).slice(0, 60),
      /not valid JSON/,
    ],
    ['a JSON array', '[]', /not a valid peers file/],
    ['another version', JSON.stringify({ version: 2, peers: [], held: [] }), /not a valid peers file/],
    [
      'an unknown state',
      JSON.stringify({ version: 1, peers: [{ ...good, state: 'friend' }], held: [] }),
      /peers\[0\]\.state/,
    ],
    [
      'a missing field',
      JSON.stringify({ version: 1, peers: [{ ...good, role: undefined }], held: [] }),
      /role/,
    ],
    [
      'an unknown key',
      JSON.stringify({ version: 1, peers: [{ ...good, trusted: true }], held: [] }),
      /trusted/,
    ],
    [
      'an ID with a typo',
      JSON.stringify({ version: 1, peers: [{ ...good, id: `B${A.slice(1)}` }], held: [] }),
      /check character 1 does not match/,
    ],
    ['a duplicate ID', JSON.stringify({ version: 1, peers: [good, good], held: [] }), /listed twice/],
    [
      'a held change without a pinned ID',
      JSON.stringify({ version: 1, peers: [], held: [{ name: 'a', presentedId: B, at }] }),
      /pinnedId/,
    ],
  ];

  for (const [what, content, why] of cases) {
    it(`is refused with the file's name: ${what}`, async () => {
      const path = fresh();
      await writeFile(path, content);
      const error = await refused(path);
      assert.match(error, why);
      const still = await readFile(path);
      assert.deepEqual(
        new Uint8Array(still),
        typeof content === 'string' ? new TextEncoder().encode(content) : content,
      );
    });
  }

  it('is refused when the path is a directory', async () => {
    const path = fresh();
    await mkdir(path);
    assert.match(await refused(path), /EISDIR/);
  });

  it('is refused when the path is a link to nothing', async () => {
    const path = fresh();
    await symlink(join(dir, 'not-there.json'), path);
    assert.match(await refused(path), /link to a file that does not exist/);
  });

  it('is refused when the file cannot be read', async () => {
    const path = fresh();
    await writeFile(path, JSON.stringify({ version: 1, peers: [], held: [] }), { mode: 0o600 });
    if (process.getuid?.() !== 0) {
      await chmod(path, 0o000);
      assert.match(await refused(path), /EACCES/);
      return;
    }
    // Root reads any file, so open it from a child running as nobody.
    const url = new URL('../../trust-store/peers.ts', import.meta.url).href;
    const code = `const { openPeerStore } = await import(${JSON.stringify(url)});
      process.stdout.write(JSON.stringify(await openPeerStore(${JSON.stringify(path)})));`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', code],
        { uid: 65534, gid: 65534 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
    const r = JSON.parse(out) as { ok: boolean; error?: string };
    assert.equal(r.ok, false);
    assert.ok(r.error?.includes(path), r.error);
    assert.match(r.error ?? '', /EACCES.*trust was not reset/s);
  });
});
