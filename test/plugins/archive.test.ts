import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ARCHIVE_LIMITS,
  decodeArchive,
  encodeArchive,
  packPlugin,
  readArchive,
  unpackArchive,
} from '../../plugins/archive.ts';
import { verifyPlugin } from '../../plugins/signing.ts';
import { createInstallFixture, type InstallFixture } from './install-fixture.ts';

// The .hana-plugin archive: deterministic, round-trips a signed folder, and a hostile archive
// (traversal, absolute paths, duplicates, oversize, truncation) is refused before anything is
// written, never escaping the folder it unpacks into.

let f: InstallFixture;
before(async () => {
  f = await createInstallFixture('archive');
});
after(async () => {
  await f.cleanup();
});

/** Archive bytes from a hand-made index, with a correct checksum unless told otherwise. */
function raw(
  index: unknown,
  bodies: (string | Buffer)[],
  opts: { version?: number; indexText?: string } = {},
): Buffer {
  const text = Buffer.from(opts.indexText ?? JSON.stringify(index), 'utf8');
  const head = Buffer.alloc(17);
  head.write('HANA-PLUGIN\n', 0, 'utf8');
  head[12] = opts.version ?? 1;
  head.writeUInt32BE(text.length, 13);
  const body = Buffer.concat([head, text, ...bodies.map((b) => Buffer.from(b))]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

const files = (...paths: string[]) => ({ files: paths.map((path) => ({ path, size: 1 })) });

let n = 0;
async function tryUnpack(bytes: Buffer) {
  const box = join(f.root, `box-${++n}`);
  await mkdir(box);
  const archive = join(box, 'x.hana-plugin');
  await writeFile(archive, bytes);
  const target = join(box, 'out');
  const r = await unpackArchive(archive, target);
  return { r, box, target };
}

async function refusedWith(bytes: Buffer, code: string, message?: RegExp) {
  const { r, box, target } = await tryUnpack(bytes);
  assert.equal(r.ok, false, 'refused');
  if (!r.ok) {
    assert.equal(r.code, code, r.error);
    if (message) assert.match(r.error, message);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: checking that none get through
    assert.doesNotMatch(r.error, /[\x00-\x08\x0b-\x1f]/, 'no raw control characters in the message');
  }
  // Nothing was written: not the target, not anything beside it or above it.
  await assert.rejects(stat(target), { code: 'ENOENT' });
  assert.deepEqual(await readdir(box), ['x.hana-plugin']);
}

describe('pack and unpack', () => {
  it('packing the same folder twice gives identical bytes, and the unpacked copy verifies', async () => {
    const dir = await f.plugin({
      files: { 'assets/b.txt': 'b', 'assets/a/z.bin': Buffer.from([0, 1, 2, 255]) },
    });
    const one = await packPlugin(dir, join(f.root, 'one.hana-plugin'));
    const two = await packPlugin(dir, join(f.root, 'two.hana-plugin'));
    assert.ok(one.ok && two.ok);
    const [b1, b2] = [
      await readFile(join(f.root, 'one.hana-plugin')),
      await readFile(join(f.root, 'two.hana-plugin')),
    ];
    assert.ok(b1.equals(b2));
    assert.equal(one.ok && one.files, 5); // plugin.json, plugin.sig, dist/plugin.js, 2 assets
    assert.equal((await stat(join(f.root, 'one.hana-plugin'))).mode & 0o777, 0o644);
    const out = join(f.root, 'unpacked-1');
    const r = await unpackArchive(join(f.root, 'one.hana-plugin'), out);
    assert.ok(r.ok);
    for (const p of ['plugin.json', 'plugin.sig', 'dist/plugin.js', 'assets/b.txt', 'assets/a/z.bin']) {
      assert.ok((await readFile(join(out, p))).equals(await readFile(join(dir, p))), p);
    }
    const v = await verifyPlugin(out, new Map([[f.a.gen.keyId, f.a.gen.publicKey]]));
    assert.ok(v.ok, v.ok ? '' : v.error);
  });

  it('the format is the documented one', async () => {
    const bytes = encodeArchive([
      { path: 'b.txt', bytes: Buffer.from('BB') },
      { path: 'a.txt', bytes: Buffer.from('A') },
    ]);
    const index = '{"files":[{"path":"a.txt","size":1},{"path":"b.txt","size":2}]}';
    assert.equal(bytes.subarray(0, 12).toString(), 'HANA-PLUGIN\n');
    assert.equal(bytes[12], 1);
    assert.equal(bytes.readUInt32BE(13), index.length);
    assert.equal(bytes.subarray(17, 17 + index.length).toString(), index);
    assert.equal(bytes.subarray(17 + index.length, -32).toString(), 'ABB');
    assert.ok(bytes.subarray(-32).equals(createHash('sha256').update(bytes.subarray(0, -32)).digest()));
  });

  it('refuses to pack a folder holding a symlink, naming it', async () => {
    const dir = await f.plugin();
    await symlink('/etc/passwd', join(dir, 'dist', 'passwd'));
    const r = await packPlugin(dir, join(f.root, 'never.hana-plugin'));
    assert.ok(!r.ok && r.code === 'unsafe-file' && r.path === 'dist/passwd');
    await assert.rejects(stat(join(f.root, 'never.hana-plugin')), { code: 'ENOENT' });
  });

  it('never unpacks into an existing folder (a planted symlink or folder is not reused)', async () => {
    const dir = await f.plugin();
    const archive = join(f.root, 'exists.hana-plugin');
    assert.ok((await packPlugin(dir, archive)).ok);
    const target = join(f.root, 'planted');
    await symlink('/tmp', target);
    const r = await unpackArchive(archive, target);
    assert.ok(!r.ok && /EEXIST/.test(r.error));
  });
});

describe('hostile archives are refused without writing anything', () => {
  it('path traversal', () => refusedWith(raw(files('../evil.js'), ['x']), 'unsafe-path', /"\.\." segment/));
  it('traversal in the middle', () => refusedWith(raw(files('a/../../evil.js'), ['x']), 'unsafe-path'));
  it('absolute path', () => refusedWith(raw(files('/etc/cron.d/evil'), ['x']), 'unsafe-path', /absolute/));
  it('backslash path', () => refusedWith(raw(files('..\\evil.js'), ['x']), 'unsafe-path', /backslash/));
  it('empty segment', () => refusedWith(raw(files('a//b'), ['x']), 'unsafe-path'));
  it('control characters', () =>
    refusedWith(raw(files('evil\x1b[2J.js'), ['x']), 'unsafe-path', /control character/));
  it('duplicate path', () => refusedWith(raw(files('a.js', 'a.js'), ['x', 'y']), 'unsafe-path', /twice/));
  it('paths out of canonical order', () =>
    refusedWith(raw(files('b.js', 'a.js'), ['x', 'y']), 'unsafe-path', /order/));
  it('a file that is also a folder', () =>
    refusedWith(raw(files('a', 'a/b'), ['x', 'y']), 'unsafe-path', /both a file and the folder/));
  it('too deep', () => {
    const deep = Array.from({ length: ARCHIVE_LIMITS.maxDepth + 1 }, () => 'd').join('/');
    return refusedWith(raw(files(deep), ['x']), 'unsafe-path', /nested/);
  });

  it('a file size far past the limit (no allocation, no read)', () =>
    refusedWith(raw({ files: [{ path: 'a.js', size: 2 ** 40 }] }, ['x']), 'too-large'));
  it('sizes that sum past the limit', () =>
    refusedWith(
      raw(
        {
          files: [
            { path: 'a', size: ARCHIVE_LIMITS.maxBytes },
            { path: 'b', size: ARCHIVE_LIMITS.maxBytes },
          ],
        },
        [],
      ),
      'too-large',
    ));
  it('an index length past 1 MiB', async () => {
    const b = raw(files('a'), ['x']);
    b.writeUInt32BE(ARCHIVE_LIMITS.maxIndexBytes + 1, 13);
    await refusedWith(b, 'too-large');
  });
  it('an archive file over the size limit is refused before it is read', async () => {
    const box = join(f.root, 'big');
    await mkdir(box);
    const path = join(box, 'big.hana-plugin');
    const fh = await open(path, 'w');
    await fh.truncate(ARCHIVE_LIMITS.maxBytes + 1); // sparse: costs no disk
    await fh.close();
    const r = await unpackArchive(path, join(box, 'out'));
    assert.ok(!r.ok && r.code === 'too-large');
    assert.deepEqual(await readdir(box), ['big.hana-plugin']);
  });
  it('more files than allowed', () =>
    refusedWith(
      raw(
        {
          files: Array.from({ length: ARCHIVE_LIMITS.maxFiles + 1 }, (_, i) => ({
            path: `f${String(i).padStart(5, '0')}`,
            size: 0,
          })),
        },
        [],
      ),
      'bad-index',
    ));

  it('truncated at every length', async () => {
    const dir = await f.plugin();
    const path = join(f.root, 'whole.hana-plugin');
    assert.ok((await packPlugin(dir, path)).ok);
    const whole = await readFile(path);
    for (let len = 0; len < whole.length; len++) {
      const r = decodeArchive(whole.subarray(0, len));
      assert.equal(r.ok, false, `prefix of ${len} bytes`);
      if (!r.ok)
        assert.ok(['truncated', 'not-archive', 'corrupt', 'bad-index'].includes(r.code), `${len}: ${r.code}`);
    }
    await refusedWith(whole.subarray(0, whole.length - 40), 'truncated', /cut short/);
  });
  it('bytes after the end', () =>
    refusedWith(Buffer.concat([raw(files('a'), ['x']), Buffer.from('more')]), 'corrupt'));
  it('a damaged byte (checksum)', async () => {
    const b = raw(files('a'), ['x']);
    b[b.length - 33]! ^= 1;
    await refusedWith(b, 'corrupt', /download it again/);
  });
  it('not an archive', () => refusedWith(Buffer.from('PK\x03\x04 a zip file'), 'not-archive'));
  it('an empty file', () => refusedWith(Buffer.alloc(0), 'not-archive'));
  it('a later format version', () =>
    refusedWith(raw(files('a'), ['x'], { version: 2 }), 'unsupported-version'));
  it('an index that is not JSON', () => refusedWith(raw(null, [], { indexText: '{"files":[' }), 'bad-index'));
  it('an index with unknown fields', () =>
    refusedWith(raw({ files: [{ path: 'a', size: 1, mode: 0o4755 }] }, ['x']), 'bad-index'));

  it('random corruption of a valid archive never throws and never unpacks a different file set', async () => {
    const good = raw(files('a.js', 'b/c.js'), ['x', 'y']);
    fc.assert(
      fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const b = Buffer.from(good);
        b[at]! ^= x;
        const r = decodeArchive(b);
        // Any change is caught: by the checksum if nothing earlier objects.
        assert.equal(r.ok, false);
      }),
      { numRuns: 300 },
    );
  });

  it('readArchive refuses a folder and a missing file as unreadable', async () => {
    const a = await readArchive(f.root);
    assert.ok(!a.ok && a.code === 'unreadable');
    const b = await readArchive(join(f.root, 'missing.hana-plugin'));
    assert.ok(!b.ok && b.code === 'unreadable');
  });
});
