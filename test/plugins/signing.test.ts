import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, verify } from 'node:crypto';
import { mkdir, readFile, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { digestPlugin } from '../../plugins/digest.ts';
import { publicKeyFromBase64 } from '../../plugins/publisher-key.ts';
import { signFiles, signPlugin, type VerifyResult, verifyPlugin } from '../../plugins/signing.ts';
import {
  createFixture,
  type Fixture,
  flipByte,
  manifestFor,
  readSig,
  refused,
  sha256,
  TIME,
  writeSig,
} from './helpers.ts';

// A signed plugin must verify, and every way of changing the folder after signing must be
// refused with its own code, naming the file, so an operator knows what was touched.

let f: Fixture;

before(async () => {
  f = await createFixture('plugin-signing');
});

after(async () => {
  await f.cleanup();
});

describe('signPlugin + verifyPlugin', () => {
  it('verifies a freshly signed plugin', async () => {
    const dir = await f.signedPlugin();
    const r = await verifyPlugin(dir, f.trustA);
    if (!r.ok) assert.fail(r.error);
    assert.equal(r.keyId, f.genA.keyId);
    assert.equal(r.manifest.id, 'com.example.strobe');
    assert.deepEqual(r.manifest.limits, { memoryMb: 32, cpuMsPerFrame: 8, fps: 60 });
    assert.deepEqual(r.trustedComment, {
      id: 'com.example.strobe',
      version: '1.2.3',
      time: TIME.toISOString(),
    });
    assert.deepEqual(
      r.files.map((e) => e.path),
      ['assets/x.txt', 'index.js', 'plugin.json'],
    );
  });

  it('writes the documented plugin.sig format (checked independently)', async () => {
    const dir = await f.signedPlugin();
    const sig = await readSig(dir);
    assert.equal(sig.version, 1);
    assert.equal(sig.algorithm, 'Ed25519');
    assert.equal(sig.keyId, f.genA.keyId);
    const expected = [];
    for (const path of ['assets/x.txt', 'index.js', 'plugin.json']) {
      const body = await readFile(join(dir, path));
      expected.push({ path, size: body.length, sha256: sha256(body) });
    }
    assert.deepEqual(sig.files, expected);
    const listing = expected.map((e) => `${e.path}\0${e.size}\0${e.sha256}\n`).join('');
    const digest = createHash('sha512').update(listing).digest();
    const message = Buffer.concat([
      Buffer.from('hana plugin signature v1\0'),
      digest,
      Buffer.from(sig.trustedComment),
    ]);
    const pub = publicKeyFromBase64(f.genA.publicKey)!;
    assert.ok(verify(null, message, pub, Buffer.from(sig.signature, 'base64')));
  });

  it('sorts paths by UTF-8 bytes with "/" separators', async () => {
    const dir = join(f.root, 'order');
    for (const p of ['a/b.txt', 'a-b.txt', 'B.txt', 'a/a/z.txt', 'é.txt', 'z.txt']) {
      await mkdir(dirname(join(dir, p)), { recursive: true });
      await writeFile(join(dir, p), p);
    }
    await writeFile(join(dir, 'plugin.sig'), 'ignored');
    const d = await digestPlugin(dir);
    if (!d.ok) assert.fail(d.error);
    assert.deepEqual(
      d.files.map((e) => e.path),
      ['B.txt', 'a-b.txt', 'a/a/z.txt', 'a/b.txt', 'z.txt', 'é.txt'],
    );
  });

  for (const path of ['index.js', 'assets/x.txt', 'plugin.json']) {
    it(`one changed byte in ${path} is file-changed naming it`, async () => {
      const dir = await f.signedPlugin();
      await flipByte(join(dir, path), 3);
      refused(await verifyPlugin(dir, f.trustA), 'file-changed', path);
    });
  }

  it('an edited manifest (same JSON, new version) is file-changed naming plugin.json', async () => {
    const dir = await f.signedPlugin();
    await writeFile(
      join(dir, 'plugin.json'),
      JSON.stringify(manifestFor(f.genA.keyId, { version: '1.2.4' })),
    );
    refused(await verifyPlugin(dir, f.trustA), 'file-changed', 'plugin.json');
  });

  it('a changed byte anywhere in any file is file-changed naming that file (property)', async () => {
    const dir = await f.signedPlugin();
    const files = ['index.js', 'assets/x.txt', 'plugin.json'];
    const originals = await Promise.all(files.map((e) => readFile(join(dir, e))));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (i, at, x) => {
        const body = Buffer.from(originals[i]!);
        body[at % body.length]! ^= x;
        await writeFile(join(dir, files[i]!), body);
        try {
          refused(await verifyPlugin(dir, f.trustA), 'file-changed', files[i]);
        } finally {
          await writeFile(join(dir, files[i]!), originals[i]!);
        }
      }),
      { numRuns: 30 },
    );
    assert.equal((await verifyPlugin(dir, f.trustA)).ok, true);
  });

  it('an added file is file-added naming it, hidden files included', async () => {
    const dir = await f.signedPlugin();
    await writeFile(join(dir, 'assets', 'y.txt'), 'new');
    refused(await verifyPlugin(dir, f.trustA), 'file-added', 'assets/y.txt');
    await unlink(join(dir, 'assets', 'y.txt'));
    await writeFile(join(dir, '.hidden'), '');
    refused(await verifyPlugin(dir, f.trustA), 'file-added', '.hidden');
  });

  it('a deleted file is file-missing naming it', async () => {
    const dir = await f.signedPlugin();
    await unlink(join(dir, 'assets', 'x.txt'));
    refused(await verifyPlugin(dir, f.trustA), 'file-missing', 'assets/x.txt');
  });

  it('a file replaced by a symlink is unsafe-file naming it', async () => {
    const dir = await f.signedPlugin();
    await writeFile(join(f.root, 'outside.js'), 'export function frame() {}');
    await unlink(join(dir, 'index.js'));
    await symlink(join(f.root, 'outside.js'), join(dir, 'index.js'));
    refused(await verifyPlugin(dir, f.trustA), 'unsafe-file', 'index.js');
  });

  it('a symlinked folder, a FIFO and a symlinked plugin.sig are unsafe-file', async () => {
    const dir = await f.signedPlugin();
    await symlink(f.root, join(dir, 'assets', 'up'));
    assert.match(refused(await verifyPlugin(dir, f.trustA), 'unsafe-file', 'assets/up'), /symbolic link/);
    await unlink(join(dir, 'assets', 'up'));

    execFileSync('mkfifo', [join(dir, 'pipe')]);
    assert.match(refused(await verifyPlugin(dir, f.trustA), 'unsafe-file', 'pipe'), /named pipe/);
    await unlink(join(dir, 'pipe'));

    await writeFile(join(f.root, 'elsewhere.sig'), await readFile(join(dir, 'plugin.sig')));
    await unlink(join(dir, 'plugin.sig'));
    await symlink(join(f.root, 'elsewhere.sig'), join(dir, 'plugin.sig'));
    refused(await verifyPlugin(dir, f.trustA), 'unsafe-file', 'plugin.sig');
  });

  it('a name with a control character is unsafe-file', async () => {
    const dir = await f.signedPlugin();
    await writeFile(join(dir, 'evil\x1b[2J.txt'), '');
    const r = await verifyPlugin(dir, f.trustA);
    assert.match(refused(r, 'unsafe-file'), /control character/);
    assert.ok(!(r.ok ? '' : r.error).includes('\x1b'), 'the raw escape is not echoed');
  });

  it('no plugin.sig is unsigned', async () => {
    const dir = await f.makePlugin();
    refused(await verifyPlugin(dir, f.trustA), 'unsigned');
  });
});

describe('publishers', () => {
  it('signed by key A but only key B trusted is unknown-publisher', async () => {
    const dir = await f.signedPlugin();
    const r = await verifyPlugin(dir, new Map([[f.genB.keyId, f.genB.publicKey]]));
    assert.match(refused(r, 'unknown-publisher'), new RegExp(f.genA.keyId));
    refused(await verifyPlugin(dir, new Map()), 'unknown-publisher');
  });

  it('a trust entry whose public key is not that key ID is unknown-publisher', async () => {
    const dir = await f.signedPlugin();
    refused(await verifyPlugin(dir, new Map([[f.genA.keyId, f.genB.publicKey]])), 'unknown-publisher');
    refused(await verifyPlugin(dir, new Map([[f.genA.keyId, 'not base64!']])), 'unknown-publisher');
  });

  it('signPlugin refuses a key other than the manifest publisher', async () => {
    const dir = await f.makePlugin();
    const r = await signPlugin(dir, f.keyB);
    refused(r as VerifyResult, 'publisher-mismatch');
  });

  it('a valid signature by a key other than the manifest publisher is publisher-mismatch', async () => {
    const dir = await f.makePlugin(); // manifest says publisher A
    const d = await digestPlugin(dir);
    if (!d.ok) assert.fail(d.error);
    await writeSig(
      dir,
      signFiles(d.files, f.keyB, { id: 'com.example.strobe', version: '1.2.3', time: TIME.toISOString() }),
    );
    const both = new Map([...f.trustA, [f.genB.keyId, f.genB.publicKey]]);
    refused(await verifyPlugin(dir, both), 'publisher-mismatch');
  });
});

describe('manifest checks after the signature', () => {
  async function signedAs(manifest: unknown, comment = { id: 'com.example.strobe', version: '1.2.3' }) {
    const dir = await f.makePlugin(manifest);
    const d = await digestPlugin(dir);
    if (!d.ok) assert.fail(d.error);
    await writeSig(dir, signFiles(d.files, f.keyA, { ...comment, time: TIME.toISOString() }));
    return dir;
  }

  it('a trusted comment for another id or version is manifest-invalid', async () => {
    const m = manifestFor(f.genA.keyId);
    refused(
      await verifyPlugin(await signedAs(m, { id: 'com.example.other', version: '1.2.3' }), f.trustA),
      'manifest-invalid',
    );
    refused(
      await verifyPlugin(await signedAs(m, { id: 'com.example.strobe', version: '1.0.0' }), f.trustA),
      'manifest-invalid',
    );
  });

  it('a signed but invalid manifest is manifest-invalid, and signPlugin refuses it', async () => {
    for (const m of [
      manifestFor(f.genA.keyId, { entry: '../index.js' }),
      manifestFor(f.genA.keyId, { entry: 'dist/missing.js' }),
      manifestFor(f.genA.keyId, { writes: ['no-slash'] }),
      { ...manifestFor(f.genA.keyId), unknown: 1 },
    ]) {
      refused(await verifyPlugin(await signedAs(m), f.trustA), 'manifest-invalid');
      refused((await signPlugin(await f.makePlugin(m), f.keyA)) as VerifyResult, 'manifest-invalid');
    }
  });

  it('signPlugin refuses a folder with a symlink, naming it', async () => {
    const dir = await f.makePlugin();
    await symlink('/etc/passwd', join(dir, 'assets', 'passwd'));
    refused((await signPlugin(dir, f.keyA)) as VerifyResult, 'unsafe-file', 'assets/passwd');
  });

  it('re-signing after a change verifies again', async () => {
    const dir = await f.signedPlugin();
    await writeFile(join(dir, 'index.js'), 'export function frame() { return 1; }\n');
    refused(await verifyPlugin(dir, f.trustA), 'file-changed', 'index.js');
    assert.equal((await signPlugin(dir, f.keyA)).ok, true);
    assert.equal((await verifyPlugin(dir, f.trustA)).ok, true);
  });
});
