import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CliResult, runCliInProcess, startDaemon } from '../helpers/daemon.ts';

// The real `hana` CLI, end to end: an author makes a key, signs, verifies, packs and audits a
// plugin; an operator trusts the publisher and installs, lists, disables, enables and removes
// it. Every tampered file, a wrong key, an unknown or revoked publisher, a rollback and hostile
// archives are refused with the reason and the file named, and nothing is written outside.

let root: string;
let home: string;
let keys: string;
let keyId: string;
let publicKey: string;
const PASS = 'a long enough passphrase';

// In-process (the CLI's own main): 50 commands spawned a Node each, 348 s of the loaded suite.
const hana = (...args: string[]) => runCliInProcess([...args, '--home', home]);
const passFile = () => join(root, 'pass.txt');

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}`);
  return r;
}
function failed(r: CliResult, code: number, stderr: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line on stderr: ${r.stderr}`);
}

let n = 0;
async function pluginDir(
  opts: { version?: string; publisher?: string; entry?: string } = {},
): Promise<string> {
  const dir = join(root, `plugin-${++n}`);
  await mkdir(join(dir, 'dist'), { recursive: true });
  await writeFile(
    join(dir, 'plugin.json'),
    JSON.stringify({
      id: 'com.example.dots',
      name: 'Dots',
      version: opts.version ?? '1.0.0',
      publisher: opts.publisher ?? keyId,
      entry: 'dist/plugin.js',
      reads: ['/tempo'],
      writes: ['/layer/1/opacity'],
    }),
  );
  await writeFile(
    join(dir, 'dist', 'plugin.js'),
    opts.entry ??
      'export function frame(f) {\n  return [{ op: "circle", x: 50, y: 50, r: 10 + 20 * f.phase }];\n}\n',
  );
  return dir;
}

async function signed(opts: Parameters<typeof pluginDir>[0] & { key?: string } = {}): Promise<string> {
  const dir = await pluginDir(opts);
  ok(
    await hana(
      'plugin',
      'sign',
      dir,
      '--key',
      opts.key ?? join(keys, 'publisher.key'),
      '--passphrase-file',
      passFile(),
    ),
    'sign',
  );
  return dir;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hana-plugin-cli-test-'));
  home = join(root, 'home');
  keys = join(root, 'keys');
  await writeFile(passFile(), `${PASS}\n`);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('hana plugin / hana publisher', () => {
  it('keygen writes an encrypted key (0600) and a public key, and refuses to overwrite it', async () => {
    const r = ok(
      await hana('plugin', 'keygen', '--out', keys, '--passphrase-file', passFile(), '--json'),
      'keygen',
    );
    const made = JSON.parse(r.stdout);
    keyId = made.keyId;
    publicKey = made.publicKey;
    assert.match(keyId, /^[0-9a-f]{16}$/);
    assert.equal((await stat(join(keys, 'publisher.key'))).mode & 0o777, 0o600);
    assert.equal((await readFile(join(keys, 'publisher.pub'), 'utf8')).trim(), publicKey);
    assert.ok(!(await readFile(join(keys, 'publisher.key'), 'utf8')).includes('PRIVATE'));
    failed(
      await hana('plugin', 'keygen', '--out', keys, '--passphrase-file', passFile()),
      1,
      /already exists/,
    );
    await writeFile(join(root, 'short.txt'), 'short');
    failed(
      await hana('plugin', 'keygen', '--out', join(root, 'k2'), '--passphrase-file', join(root, 'short.txt')),
      1,
      /at least 8 characters/,
    );
  });

  it('sign, verify (--pubkey, then trusted), pack (deterministic) and audit', async () => {
    const dir = await pluginDir();
    await writeFile(join(root, 'wrong.txt'), 'not the passphrase');
    failed(
      await hana(
        'plugin',
        'sign',
        dir,
        '--key',
        join(keys, 'publisher.key'),
        '--passphrase-file',
        join(root, 'wrong.txt'),
      ),
      1,
      /wrong passphrase/,
    );
    const s = ok(
      await hana(
        'plugin',
        'sign',
        dir,
        '--key',
        join(keys, 'publisher.key'),
        '--passphrase-file',
        passFile(),
      ),
      'sign',
    );
    assert.match(s.stdout, new RegExp(`signed com\\.example\\.dots 1\\.0\\.0 with key ${keyId}`));

    failed(await hana('plugin', 'verify', dir), 1, /unknown-publisher.*not trusted/);
    const v = ok(await hana('plugin', 'verify', dir, '--pubkey', join(keys, 'publisher.pub')), 'verify');
    assert.match(
      v.stdout,
      /verified: com\.example\.dots 1\.0\.0, 2 signed files.*not a trusted publisher here/,
    );

    const a1 = join(root, 'dots-1.hana-plugin');
    const a2 = join(root, 'dots-2.hana-plugin');
    const p = ok(await hana('plugin', 'pack', dir, '--out', a1), 'pack');
    ok(await hana('plugin', 'pack', dir, '--out', a2), 'pack again');
    const bytes = await readFile(a1);
    assert.ok(bytes.equals(await readFile(a2)), 'packing twice gives identical bytes');
    assert.match(p.stdout, new RegExp(`sha256 ${createHash('sha256').update(bytes).digest('hex')}`));
    ok(await hana('plugin', 'verify', a1, '--pubkey', publicKey), 'verify archive');

    const audit = JSON.parse(ok(await hana('plugin', 'audit', a1, '--json'), 'audit').stdout);
    assert.equal(audit.manifest.id, 'com.example.dots');
    assert.deepEqual(audit.manifest.reads, ['/tempo']);
    assert.deepEqual(audit.publisher, { keyId, state: 'unknown' });
    assert.deepEqual(audit.flags, []);
    const text = ok(await hana('plugin', 'audit', dir), 'audit text').stdout;
    assert.match(text, /reads +\/tempo/);
    assert.match(text, /writes +\/layer\/1\/opacity/);
    assert.match(text, /limits +32 MiB memory, 8 ms CPU per frame, 60 fps/);
    assert.match(text, /not trusted here/);
  });

  it('an unsigned or stale folder is not packed', async () => {
    const dir = await pluginDir();
    failed(
      await hana('plugin', 'pack', dir, '--out', join(root, 'x.hana-plugin')),
      1,
      /not signed.*hana plugin sign/,
    );
    const s = await signed();
    await writeFile(join(s, 'dist', 'plugin.js'), 'export function frame() { return []; }\n');
    failed(
      await hana('plugin', 'pack', s, '--out', join(root, 'x.hana-plugin')),
      1,
      /dist\/plugin\.js changed.*sign the plugin again/,
    );
  });

  it('audit flags code that cannot run in the sandbox, with file and line', async () => {
    const dir = await pluginDir({
      entry:
        '// fetch() in a comment is fine\nconst fs = require("fs");\nexport function frame() { return []; }\n',
    });
    const r = JSON.parse(ok(await hana('plugin', 'audit', dir, '--json'), 'audit').stdout);
    assert.deepEqual(
      r.flags.map((f: { rule: string; file: string; line: number; severity: string }) => [
        f.severity,
        f.rule,
        f.file,
        f.line,
      ]),
      [['error', 'require', 'dist/plugin.js', 2]],
    );
    assert.equal(r.signature.code, 'unsigned');
  });

  it('an unknown publisher is refused; after `publisher trust` it installs, lists, disables, enables', async () => {
    const archive = join(root, 'dots-1.hana-plugin');
    failed(
      await hana('plugin', 'install', archive),
      1,
      /not installed \(unknown-publisher\).*hana publisher trust/,
    );
    const t = ok(
      await hana('publisher', 'trust', join(keys, 'publisher.pub'), '--name', 'Example Co'),
      'trust',
    );
    assert.match(t.stdout, new RegExp(`now trusting Example Co \\(${keyId}\\)`));
    const list = JSON.parse(ok(await hana('publisher', 'list', '--json'), 'publisher list').stdout);
    assert.deepEqual(
      list.map((p: { keyId: string; name: string }) => [p.keyId, p.name]),
      [[keyId, 'Example Co']],
    );

    const i = ok(await hana('plugin', 'install', archive), 'install');
    assert.match(
      i.stdout,
      new RegExp(`installed com\\.example\\.dots 1\\.0\\.0 from Example Co \\(${keyId}\\), enabled`),
    );
    assert.match(i.stdout, /no daemon is running: this takes effect when the daemon starts/);

    const rows = JSON.parse(ok(await hana('plugin', 'list', '--json'), 'list').stdout);
    assert.deepEqual(
      rows.map(
        (r: {
          id: string;
          version: string;
          enabled: boolean;
          publisherName: string;
          check: { ok: boolean };
        }) => [r.id, r.version, r.enabled, r.publisherName, r.check.ok],
      ),
      [['com.example.dots', '1.0.0', true, 'Example Co', true]],
    );
    ok(await hana('plugin', 'disable', 'com.example.dots'), 'disable');
    assert.match(
      ok(await hana('plugin', 'list'), 'list').stdout,
      /com\.example\.dots +1\.0\.0 +Example Co .* disabled +verified/,
    );
    ok(await hana('plugin', 'enable', 'com.example.dots'), 'enable');
    assert.match(ok(await hana('plugin', 'list'), 'list').stdout, /enabled +verified/);
    failed(
      await hana('plugin', 'disable', 'com.example.none'),
      1,
      /no plugin com\.example\.none is installed/,
    );
  });

  for (const [file, expect] of [
    ['plugin.json', /file-changed.*plugin\.json changed after it was signed/],
    ['dist/plugin.js', /file-changed.*dist\/plugin\.js changed after it was signed/],
    ['plugin.sig', /bad-signature.*plugin\.sig/],
  ] as const) {
    it(`a changed byte in ${file} is refused, naming it`, async () => {
      const dir = await signed({ version: '1.5.0' });
      const path = join(dir, file);
      const body = await readFile(path);
      if (file === 'plugin.sig') {
        const sig = JSON.parse(body.toString());
        const b = Buffer.from(sig.signature, 'base64');
        b[7]! ^= 1;
        await writeFile(path, JSON.stringify({ ...sig, signature: b.toString('base64') }));
      } else {
        // A digit in the version / a coordinate: still valid, just not what was signed.
        await writeFile(
          path,
          body
            .toString()
            .replace(file === 'plugin.json' ? '1.5.0' : '50', file === 'plugin.json' ? '1.5.1' : '51'),
        );
      }
      failed(await hana('plugin', 'verify', dir), 1, expect);
      failed(await hana('plugin', 'install', dir), 1, expect);
    });
  }

  it('a plugin signed with another key is refused (wrong key / unknown publisher)', async () => {
    const other = join(root, 'other-keys');
    const k = JSON.parse(
      ok(await hana('plugin', 'keygen', '--out', other, '--passphrase-file', passFile(), '--json'), 'keygen')
        .stdout,
    );
    // Manifest says our trusted key; signing with the other key is refused up front.
    const mismatched = await pluginDir({ version: '3.0.0' });
    failed(
      await hana(
        'plugin',
        'sign',
        mismatched,
        '--key',
        join(other, 'publisher.key'),
        '--passphrase-file',
        passFile(),
      ),
      1,
      /publisher-mismatch/,
    );
    const dir = await signed({ version: '3.0.0', publisher: k.keyId, key: join(other, 'publisher.key') });
    failed(
      await hana('plugin', 'install', dir),
      1,
      new RegExp(`unknown-publisher.*${k.keyId} is not trusted`),
    );
  });

  it('upgrades, refuses a rollback, and refuses a same-version change without --force', async () => {
    ok(await hana('plugin', 'install', await signed({ version: '1.2.0' })), 'upgrade');
    failed(
      await hana('plugin', 'install', await signed({ version: '1.1.0' })),
      1,
      /rollback.*1\.1\.0 is older than the installed 1\.2\.0/,
    );
    failed(await hana('plugin', 'install', await signed({ version: '1.1.0' }), '--force'), 1, /rollback/);
    const changed = await signed({
      version: '1.2.0',
      entry: 'export function frame() { return [{ op: "clear" }]; }\n',
    });
    failed(await hana('plugin', 'install', changed), 1, /same-version-differs.*--force/);
    assert.match(
      ok(await hana('plugin', 'install', changed, '--force'), 'force').stdout,
      /reinstalled com\.example\.dots 1\.2\.0/,
    );
  });

  it('hostile archives are refused and nothing lands outside the home', async () => {
    const evil = (path: string) => {
      const index = Buffer.from(JSON.stringify({ files: [{ path, size: 4 }] }));
      const head = Buffer.alloc(17);
      head.write('HANA-PLUGIN\n');
      head[12] = 1;
      head.writeUInt32BE(index.length, 13);
      const body = Buffer.concat([head, index, Buffer.from('evil')]);
      return Buffer.concat([body, createHash('sha256').update(body).digest()]);
    };
    const before = (await readdir(root)).sort();
    for (const [name, bytes, why] of [
      ['traversal', evil('../../escaped.txt'), /unsafe-path.*"\.\." segment/],
      ['absolute', evil(join(root, 'escaped.txt')), /unsafe-path.*absolute/],
      ['truncated', evil('a.txt').subarray(0, 40), /truncated/],
    ] as const) {
      const archive = join(root, `${name}.hana-plugin`);
      await writeFile(archive, bytes);
      failed(await hana('plugin', 'install', archive), 1, why);
      failed(await hana('plugin', 'verify', archive), 1, why);
      await rm(archive);
    }
    assert.deepEqual((await readdir(root)).sort(), before);
    assert.deepEqual(await readdir(join(home, 'plugins')), ['com.example.dots']);
  });

  it('revoking the publisher refuses installs and makes the installed plugin refuse to load', async () => {
    const r = ok(await hana('publisher', 'revoke', keyId, '--reason', 'key leaked'), 'revoke');
    assert.match(r.stdout, /revoked Example Co/);
    const rows = JSON.parse(ok(await hana('plugin', 'list', '--json'), 'list').stdout);
    assert.equal(rows[0].check.code, 'publisher-revoked');
    assert.match(ok(await hana('plugin', 'list'), 'list').stdout, /REFUSED publisher-revoked/);
    failed(
      await hana('plugin', 'install', await signed({ version: '5.0.0' })),
      1,
      /publisher-revoked.*key leaked/,
    );
    failed(await hana('publisher', 'trust', publicKey), 1, /revoked.*--force/);
    assert.match(ok(await hana('publisher', 'list'), 'list').stdout, /revoked: key leaked/);
  });

  it('remove deletes the plugin', async () => {
    const r = ok(await hana('plugin', 'remove', 'com.example.dots'), 'remove');
    assert.match(r.stdout, /removed com\.example\.dots 1\.2\.0/);
    assert.match(ok(await hana('plugin', 'list'), 'list').stdout, /No plugins installed/);
    assert.deepEqual(await readdir(join(home, 'plugins')), []);
  });

  it('usage errors exit 2', async () => {
    for (const args of [
      ['plugin'],
      ['plugin', 'bogus'],
      ['plugin', 'sign'],
      ['plugin', 'list', 'extra'],
      ['plugin', 'install', 'x', '--pubkey', 'y'],
      ['publisher'],
      ['publisher', 'trust'],
      ['publisher', 'trust', 'not-a-key'],
      ['publisher', 'revoke', 'xyz'],
    ]) {
      const r = await hana(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});

describe('with a running daemon', () => {
  it('install still succeeds and the daemon is asked to reload (best effort)', async () => {
    const d = await startDaemon();
    try {
      const keyDir = join(d.home, 'k');
      const cli = (...a: string[]) => runCliInProcess([...a, '--home', d.home]);
      const k = JSON.parse(
        ok(
          await cli('plugin', 'keygen', '--out', keyDir, '--passphrase-file', passFile(), '--json'),
          'keygen',
        ).stdout,
      );
      ok(await cli('publisher', 'trust', k.publicKey), 'trust');
      const dir = join(root, 'daemon-plugin');
      await cp(await pluginDir({ publisher: k.keyId }), dir, { recursive: true });
      ok(
        await cli(
          'plugin',
          'sign',
          dir,
          '--key',
          join(keyDir, 'publisher.key'),
          '--passphrase-file',
          passFile(),
        ),
        'sign',
      );
      const r = ok(await cli('plugin', 'install', dir), 'install');
      assert.match(
        r.stdout + r.stderr,
        /the running daemon reloaded its plugins|did not reload its plugins .* restart it/,
      );
      assert.doesNotMatch(r.stdout, /no daemon is running/);
    } finally {
      await d.stop();
    }
  });
});
