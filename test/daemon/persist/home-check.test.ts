import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  CHECK_FILE,
  type CheckInit,
  type OpenCheck,
  openHomeCheck,
} from '../../../daemon/persist/home-check.ts';
import { listSealedFiles } from '../../../daemon/persist/key.ts';
import { shortId } from '../../../trust-store/device-id.ts';
import { createIdentity } from '../../../trust-store/identity.ts';
import { savePreviousIdentity } from '../../../trust-store/previous-identity.ts';
import { readSealed, type SealKey, seal, writeSealedAtomic } from '../../../trust-store/sealed-file.ts';
import { keyfile, tempHomes } from './helpers.ts';

// <home>/storage.check on real files: made on a first start, proving the key at every start
// after it whatever else the home holds, saying which device IDs and which pre-binding files are
// this home's, and refusing another laptop's check, a wrong key, and a home whose check is gone.

let A: string;
let B: string;
before(async () => {
  [A, B] = await Promise.all([createIdentity(), createIdentity()]).then((ids) => ids.map((i) => i.deviceId));
});
const home = tempHomes('hana-check-');

const pass = (passphrase: string): SealKey => ({ kind: 'passphrase', passphrase });

function open(h: string, key: SealKey, device: string, keyOrigin = '$HANA_PASSPHRASE'): Promise<OpenCheck> {
  const init: CheckInit = {
    home: h,
    key,
    keyOrigin,
    device: () => device,
    sealedFiles: () => listSealedFiles(join(h, CHECK_FILE), join(h, 'state.sealed'), join(h, 'scenes')),
    auditDir: join(h, 'audit'),
  };
  return openHomeCheck(init);
}

function ok(r: OpenCheck) {
  if (!r.ok) assert.fail(`${r.code}: ${r.error}`);
  return r.check;
}

function refused(r: OpenCheck, code: string, pattern: RegExp) {
  assert.equal(r.ok, false, `expected ${code}`);
  if (r.ok) return;
  assert.equal(r.code, code, r.error);
  assert.match(r.error, pattern);
  assert.equal(r.error.split('\n').length, 1, 'one sentence');
}

describe('storage.check: a new home', () => {
  it('is made on the first start (0600, naming the device) and opened with the same audit key after', async () => {
    const h = await home();
    const key = keyfile();
    const first = ok(await open(h, key, A));
    assert.equal(first.opened, 'created');
    assert.equal(first.auditKey.length, 32);
    const path = join(h, CHECK_FILE);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const sealed = await readSealed(path, key);
    assert.ok(sealed.ok && sealed.device === A);
    const again = ok(await open(h, key, A));
    assert.equal(again.opened, 'existing');
    assert.deepEqual(again.auditKey, first.auditKey);
    assert.equal(again.binding.knows(A), true);
    assert.equal(again.binding.knows(B), false);
  });

  it('refuses a wrong passphrase at start though the home holds nothing else, saying what to do', async () => {
    const h = await home();
    ok(await open(h, pass('correct horse'), A));
    refused(
      await open(h, pass('wrong horse'), A),
      'wrong-key',
      /^the passphrase from \$HANA_PASSPHRASE is not the one this home was set up with \(it does not open .*storage\.check\): start again with the right passphrase/,
    );
    const k = await home();
    ok(await open(k, keyfile(), A, '/k/storage.key'));
    refused(
      await open(k, keyfile(), A, '/k/storage.key'),
      'wrong-key',
      /^the key file \/k\/storage\.key is not the one this home was set up with .*put back the key file from your backup/,
    );
  });
});

describe('storage.check: another laptop, and rotations', () => {
  it("refuses another laptop's check sealed with the same passphrase, naming both devices", async () => {
    const theirs = await home();
    const mine = await home();
    const key = pass('shared by the whole crew');
    ok(await open(theirs, key, B));
    ok(await open(mine, key, A));
    await writeFile(join(mine, CHECK_FILE), await readFile(join(theirs, CHECK_FILE)));
    refused(
      await open(mine, key, A),
      'other-device',
      new RegExp(
        `storage\\.check was written by device ${shortId(B)}, not this one \\(${shortId(A)}\\): this home's sealed files come from another laptop`,
      ),
    );
  });

  it('knows every device the home has been: a rotation adds the new one before identity.json changes', async () => {
    const h = await home();
    const key = keyfile();
    const check = ok(await open(h, key, A));
    await check.addDevice(B);
    assert.equal(check.binding.knows(B), true);
    const after = ok(await open(h, key, B));
    assert.equal(after.binding.knows(A), true, 'files written before the rotation still load');
    assert.equal(after.binding.knows(B), true);
  });

  it("accepts a rotation that reached identity.json but not the check (a crash), by the old identity's record", async () => {
    const h = await home();
    const key = keyfile();
    const [old, next] = await Promise.all([createIdentity(), createIdentity()]);
    ok(await open(h, key, old.deviceId));
    refused(await open(h, key, next.deviceId), 'other-device', /not this one/);
    await savePreviousIdentity(h, {
      identity: old,
      next: next.deviceId,
      rotatedAt: new Date().toISOString(),
      pending: [],
    });
    const check = ok(await open(h, key, next.deviceId));
    assert.equal(check.binding.knows(next.deviceId), true);
    await rm(join(h, 'identity.previous.json'));
    ok(await open(h, key, next.deviceId));
  });
});

describe('storage.check: a home sealed before it existed', () => {
  it('a home with scenes but no state.sealed refuses a wrong passphrase at start, and upgrades with the right one', async () => {
    const h = await home();
    const key = pass('the real one');
    const scene = seal(new TextEncoder().encode('{"scene":1}'), key); // format 1, as older hana wrote
    await writeFile(join(h, 'scenes', 'intro.scene'), scene);
    refused(
      await open(h, pass('any other'), A),
      'wrong-key',
      /is not the one this home was set up with \(it does not open any of this home's 1 sealed file\(s\), such as .*intro\.scene\)/,
    );
    await assert.rejects(stat(join(h, CHECK_FILE)), 'no check written under a wrong key');
    const check = ok(await open(h, key, A));
    assert.equal(check.opened, 'upgraded');
    assert.equal(check.legacy, 1);
    assert.equal(check.binding.knowsLegacy(scene), true, 'the scene it held keeps loading');
    const later = seal(new TextEncoder().encode('{"scene":2}'), key);
    assert.equal(check.binding.knowsLegacy(later), false, 'a format-1 file copied in afterwards does not');
    assert.equal(ok(await open(h, key, A)).binding.knowsLegacy(scene), true, 'and after a restart');
  });

  it('refuses a home whose check was removed while files sealed alongside it remain', async () => {
    const h = await home();
    const key = keyfile();
    ok(await open(h, key, A));
    await writeSealedAtomic(join(h, 'state.sealed'), new TextEncoder().encode('{}'), key, A);
    await rm(join(h, CHECK_FILE));
    refused(
      await open(h, key, A),
      'check-missing',
      /storage\.check is missing but .*state\.sealed was sealed alongside it: restore/,
    );
    await rm(join(h, 'state.sealed'));
    await mkdir(join(h, 'audit'));
    await writeFile(join(h, 'audit', 'audit-2026-01-01T00-00-00.000Z.sealed'), 'H.x.y\n');
    refused(await open(h, key, A), 'check-missing', /the audit log in .*audit was sealed with it/);
  });
});
