import assert from 'node:assert/strict';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { verifyPlugin } from '../../plugins/signing.ts';
import { createFixture, type Fixture, readSig, refused, sha256, writeSig } from './helpers.ts';

// plugin.sig travels with the plugin and can be edited like any file: the signature must cover
// the file list and the trusted comment, and a malformed file is its own typed error.

let f: Fixture;

before(async () => {
  f = await createFixture('plugin-sig');
});

after(async () => {
  await f.cleanup();
});

describe('tampering with plugin.sig', () => {
  it('one flipped bit in the signature is bad-signature', async () => {
    const dir = await f.signedPlugin();
    const sig = await readSig(dir);
    const raw = Buffer.from(sig.signature, 'base64');
    raw[10]! ^= 0x01;
    await writeSig(dir, { ...sig, signature: raw.toString('base64') });
    refused(await verifyPlugin(dir, f.trustA), 'bad-signature');
  });

  it('a changed trusted comment is bad-signature', async () => {
    const dir = await f.signedPlugin();
    const sig = await readSig(dir);
    const comment = JSON.parse(sig.trustedComment);
    for (const edit of [
      { version: '9.9.9' },
      { id: 'com.example.other' },
      { time: '2030-01-01T00:00:00.000Z' },
    ]) {
      await writeSig(dir, { ...sig, trustedComment: JSON.stringify({ ...comment, ...edit }) });
      refused(await verifyPlugin(dir, f.trustA), 'bad-signature');
    }
    await writeSig(dir, { ...sig, trustedComment: `${sig.trustedComment} ` });
    refused(await verifyPlugin(dir, f.trustA), 'bad-signature');
  });

  it('an edited file list is bad-signature, even when it matches the edited folder', async () => {
    const dir = await f.signedPlugin();
    const sig = await readSig(dir);
    // Attacker edits index.js and rewrites its hash in plugin.sig to match.
    await writeFile(join(dir, 'index.js'), 'while (true) {}\n');
    const body = await readFile(join(dir, 'index.js'));
    const files = sig.files.map((e) =>
      e.path === 'index.js' ? { ...e, size: body.length, sha256: sha256(body) } : e,
    );
    await writeSig(dir, { ...sig, files });
    refused(await verifyPlugin(dir, f.trustA), 'bad-signature');
    // Or drops a file from both the folder and the list.
    await unlink(join(dir, 'assets', 'x.txt'));
    await writeSig(dir, { ...sig, files: sig.files.filter((e) => e.path !== 'assets/x.txt') });
    refused(await verifyPlugin(dir, f.trustA), 'bad-signature');
  });

  it('a malformed plugin.sig is bad-signature-file', async () => {
    const dir = await f.signedPlugin();
    const sig = await readSig(dir);
    const bad: unknown[] = [
      'not json',
      null,
      [],
      { ...sig, algorithm: 'RSA' },
      { ...sig, version: 2 },
      { ...sig, signature: 'AAAA' },
      { ...sig, extra: true },
      { ...sig, files: [...sig.files].reverse() },
      { ...sig, files: [...sig.files, { path: '../evil.js', size: 1, sha256: 'a'.repeat(64) }] },
      { ...sig, files: [{ path: 'plugin.sig', size: 1, sha256: 'a'.repeat(64) }] },
    ];
    for (const b of bad) {
      await writeFile(join(dir, 'plugin.sig'), typeof b === 'string' ? b : JSON.stringify(b));
      refused(await verifyPlugin(dir, f.trustA), 'bad-signature-file');
    }
  });

  it('any flipped byte of plugin.sig is refused (property)', async () => {
    const dir = await f.signedPlugin();
    const original = await readFile(join(dir, 'plugin.sig'));
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: original.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (at, x) => {
          const body = Buffer.from(original);
          body[at]! ^= x;
          await writeFile(join(dir, 'plugin.sig'), body);
          const r = await verifyPlugin(dir, f.trustA);
          // Whitespace outside strings is not signed: flipping it to other whitespace is harmless.
          if (r.ok) assert.match(String.fromCharCode(original[at]!, body[at]!), /^\s\s$/);
          else
            assert.ok(['bad-signature', 'bad-signature-file', 'unknown-publisher'].includes(r.code), r.code);
        },
      ),
      { numRuns: 60 },
    );
  });
});
