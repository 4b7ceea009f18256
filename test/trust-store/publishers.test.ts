import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { publisherKeyFromPrivate } from '../../plugins/publisher-key.ts';
import {
  loadPublishers,
  publisherStatus,
  publishersPath,
  revokePublisher,
  trustedKeys,
  trustPublisher,
} from '../../trust-store/publishers.ts';
import { fakeClock } from './helpers.ts';

// <home>/publishers.json: which publishers' plugins run here. Trust, rename, revoke (permanent
// without --force), and a damaged file is an error naming it, never an empty store.

const key = () => publisherKeyFromPrivate(generateKeyPairSync('ed25519').privateKey);

let root: string;
let n = 0;
const freshHome = async () => {
  const home = join(root, `home-${++n}`);
  await mkdir(home, { mode: 0o700 });
  return home;
};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hana-publishers-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('publisher store', () => {
  it('starts empty, trusts a key under a name, and writes the file 0600', async () => {
    const home = await freshHome();
    const clock = fakeClock();
    const empty = await loadPublishers(home);
    assert.deepEqual(empty.ok && empty.file.publishers, []);
    const k = key();
    const r = await trustPublisher(home, { publicKey: k.publicKey, name: 'Example Co' }, clock.now);
    if (!r.ok) assert.fail(r.error);
    assert.equal(r.change, 'added');
    assert.deepEqual(r.publisher, {
      keyId: k.keyId,
      publicKey: k.publicKey,
      name: 'Example Co',
      trustedAt: clock.iso(),
    });
    assert.equal((await stat(publishersPath(home))).mode & 0o777, 0o600);
    const loaded = await loadPublishers(home);
    if (!loaded.ok) assert.fail(loaded.error);
    assert.deepEqual([...trustedKeys(loaded.file)], [[k.keyId, k.publicKey]]);
    assert.equal(publisherStatus(loaded.file, k.keyId).state, 'trusted');
    assert.equal(publisherStatus(loaded.file, '0123456789abcdef').state, 'unknown');
  });

  it('trusting again is unchanged, or a rename with --name; without a name it gets a default', async () => {
    const home = await freshHome();
    const k = key();
    const first = await trustPublisher(home, { publicKey: ` ${k.publicKey}\n` });
    assert.ok(first.ok && first.publisher.name === `publisher ${k.keyId}`);
    const same = await trustPublisher(home, { publicKey: k.publicKey });
    assert.ok(same.ok && same.change === 'unchanged');
    const renamed = await trustPublisher(home, { publicKey: k.publicKey, name: 'Renamed' });
    assert.ok(renamed.ok && renamed.change === 'renamed' && renamed.publisher.name === 'Renamed');
    const loaded = await loadPublishers(home);
    assert.ok(
      loaded.ok && loaded.file.publishers.length === 1 && loaded.file.publishers[0]!.name === 'Renamed',
    );
  });

  it('refuses a key that is not a raw Ed25519 public key, and a name with control characters', async () => {
    const home = await freshHome();
    for (const bad of [
      '',
      'not base64!',
      Buffer.alloc(31).toString('base64'),
      Buffer.alloc(33).toString('base64'),
    ]) {
      const r = await trustPublisher(home, { publicKey: bad });
      assert.ok(!r.ok && r.code === 'invalid-key', bad);
    }
    const r = await trustPublisher(home, { publicKey: key().publicKey, name: 'evil\x1b[2J' });
    assert.ok(!r.ok && r.code === 'invalid-name');
    const loaded = await loadPublishers(home);
    assert.ok(loaded.ok && loaded.file.publishers.length === 0, 'nothing was written');
  });

  it('revokes by key ID or public key; revoked keys drop out of trustedKeys', async () => {
    const home = await freshHome();
    const clock = fakeClock();
    const [k1, k2] = [key(), key()];
    await trustPublisher(home, { publicKey: k1.publicKey, name: 'One' });
    await trustPublisher(home, { publicKey: k2.publicKey, name: 'Two' });
    const r1 = await revokePublisher(home, { key: k1.keyId.toUpperCase(), reason: 'key leaked' }, clock.now);
    if (!r1.ok) assert.fail(r1.error);
    assert.deepEqual(r1.publisher.revoked, { at: clock.iso(), reason: 'key leaked' });
    const r2 = await revokePublisher(home, { key: k2.publicKey });
    assert.ok(r2.ok && !r2.already);
    const again = await revokePublisher(home, { key: k2.keyId });
    assert.ok(again.ok && again.already);
    const loaded = await loadPublishers(home);
    if (!loaded.ok) assert.fail(loaded.error);
    assert.equal(trustedKeys(loaded.file).size, 0);
    assert.equal(publisherStatus(loaded.file, k1.keyId).state, 'revoked');
  });

  it('a revoked key is not trusted again without force; force lifts it', async () => {
    const home = await freshHome();
    const k = key();
    await trustPublisher(home, { publicKey: k.publicKey, name: 'Once' });
    await revokePublisher(home, { key: k.keyId, reason: 'stolen laptop' });
    const r = await trustPublisher(home, { publicKey: k.publicKey, name: 'Once' });
    assert.ok(!r.ok && r.code === 'revoked');
    assert.match(r.ok ? '' : r.error, /revoked at .* \(stolen laptop\).*new key.*--force/);
    const forced = await trustPublisher(home, { publicKey: k.publicKey, force: true });
    assert.ok(forced.ok && forced.change === 're-trusted' && forced.publisher.revoked === undefined);
    const loaded = await loadPublishers(home);
    assert.ok(loaded.ok && trustedKeys(loaded.file).has(k.keyId));
  });

  it('revoking an unknown public key records it, so it can never be trusted by accident; an unknown key ID is an error', async () => {
    const home = await freshHome();
    const k = key();
    const byId = await revokePublisher(home, { key: k.keyId });
    assert.ok(!byId.ok && byId.code === 'unknown-publisher');
    const byKey = await revokePublisher(home, { key: k.publicKey, reason: 'known bad' });
    assert.ok(byKey.ok && byKey.publisher.revoked?.reason === 'known bad');
    const t = await trustPublisher(home, { publicKey: k.publicKey });
    assert.ok(!t.ok && t.code === 'revoked');
    const bad = await revokePublisher(home, { key: 'xyz' });
    assert.ok(!bad.ok && bad.code === 'invalid-key');
  });

  it('concurrent changes from many callers all land (the lock serialises them)', async () => {
    const home = await freshHome();
    const keys = Array.from({ length: 12 }, key);
    const results = await Promise.all(
      keys.map((k, i) => trustPublisher(home, { publicKey: k.publicKey, name: `P${i}` })),
    );
    assert.ok(results.every((r) => r.ok));
    const loaded = await loadPublishers(home);
    assert.ok(loaded.ok);
    assert.deepEqual(new Set(loaded.file.publishers.map((p) => p.keyId)), new Set(keys.map((k) => k.keyId)));
  });
});

describe('a damaged publishers.json is an error naming it, never an empty store', () => {
  const cases: [string, (k: ReturnType<typeof key>) => string][] = [
    ['not JSON', () => '{ nope'],
    [
      'unknown field',
      (k) =>
        JSON.stringify({
          version: 1,
          publishers: [
            {
              keyId: k.keyId,
              publicKey: k.publicKey,
              name: 'x',
              trustedAt: '2026-11-22T10:00:00.000Z',
              extra: 1,
            },
          ],
        }),
    ],
    [
      'key ID of another key',
      (k) =>
        JSON.stringify({
          version: 1,
          publishers: [
            { keyId: key().keyId, publicKey: k.publicKey, name: 'x', trustedAt: '2026-11-22T10:00:00.000Z' },
          ],
        }),
    ],
    [
      'listed twice',
      (k) => {
        const p = {
          keyId: k.keyId,
          publicKey: k.publicKey,
          name: 'x',
          trustedAt: '2026-11-22T10:00:00.000Z',
        };
        return JSON.stringify({ version: 1, publishers: [p, p] });
      },
    ],
    ['wrong version', () => JSON.stringify({ version: 2, publishers: [] })],
  ];
  for (const [what, text] of cases) {
    it(what, async () => {
      const home = await freshHome();
      const k = key();
      await writeFile(publishersPath(home), text(k), { mode: 0o600 });
      const before = await readFile(publishersPath(home), 'utf8');
      const r = await loadPublishers(home);
      assert.ok(!r.ok);
      assert.match(r.ok ? '' : r.error, new RegExp(`${publishersPath(home).replaceAll('/', '\\/')}.*`));
      assert.match(r.ok ? '' : r.error, /trust was not reset/);
      // Changes refuse too, and leave the file as it was.
      const t = await trustPublisher(home, { publicKey: key().publicKey });
      assert.ok(!t.ok && t.code === 'unreadable');
      assert.equal(await readFile(publishersPath(home), 'utf8'), before);
    });
  }

  it('a dangling symlink is an error, not a fresh store', async () => {
    const home = await freshHome();
    await symlink(join(root, 'nowhere.json'), publishersPath(home));
    const r = await loadPublishers(home);
    assert.ok(!r.ok && /link to a file that does not exist/.test(r.error));
  });
});
