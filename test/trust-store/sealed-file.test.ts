import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatDeviceId, shortId } from '../../trust-store/device-id.ts';
import {
  type HomeBinding,
  loadKeyFile,
  type ReadSealed,
  readSealed,
  type SealKey,
  seal,
  type Unsealed,
  unseal,
  writeSealedAtomic,
} from '../../trust-store/sealed-file.ts';

// Encryption at rest: whatever happens to a sealed file, unsealing gives the plaintext that was
// sealed or a typed refusal, never other bytes and never an exception.

const CODES = new Set([
  'not-sealed',
  'unsupported-version',
  'wrong-key-or-tampered',
  'truncated',
  'other-device',
  'unknown-legacy',
]);
const HEADER = 42;
const text = (s: string) => new TextEncoder().encode(s);
const pass = (passphrase: string): SealKey => ({ kind: 'passphrase', passphrase });
const keyfile = (key: Uint8Array = randomBytes(32)): SealKey => ({
  kind: 'keyfile',
  key: new Uint8Array(key),
});

function plaintextOf(r: Unsealed | ReadSealed): Uint8Array {
  if (!r.ok) assert.fail(`${r.code}: ${r.error}`);
  return r.plaintext;
}

function assertRefused(r: Unsealed | ReadSealed, what: string, code?: string): void {
  assert.equal(r.ok, false, `${what} unsealed`);
  if (r.ok) return;
  assert.ok(CODES.has(r.code), `${what}: unexpected code ${r.code}`);
  if (code) assert.equal(r.code, code, `${what}: ${r.error}`);
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-sealed-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('seal / unseal', () => {
  const small = text('{"scene":1}');
  const key = keyfile();
  const pw = pass('correct horse');
  const sealedByKey = seal(small, key);
  const sealedByPass = seal(small, pw);

  it('round-trips with a passphrase and with a key file, empty and large plaintexts too', () => {
    assert.deepStrictEqual(plaintextOf(unseal(sealedByPass, pw)), small);
    assert.deepStrictEqual(plaintextOf(unseal(sealedByKey, key)), small);
    for (const p of [new Uint8Array(0), new Uint8Array(randomBytes(200_000))]) {
      assert.deepStrictEqual(plaintextOf(unseal(seal(p, key), key)), p);
    }
    assert.equal(sealedByKey.length, HEADER + small.length + 16);
    assert.deepEqual([...sealedByKey.subarray(0, 14)], [...text('HANA-SEALED\n'), 1, 2]);
    assert.equal(sealedByPass[13], 1, 'KDF id 1 = scrypt');
  });

  it('treats a passphrase the same whether its accents arrive composed or decomposed', () => {
    const composed = pass('caf\u00e9');
    const decomposed = pass('cafe\u0301');
    assert.deepStrictEqual(plaintextOf(unseal(seal(small, composed), decomposed)), small);
  });

  it('refuses a wrong passphrase, a wrong key, and the other kind of key with the same code', () => {
    assertRefused(unseal(sealedByPass, pass('correct horse ')), 'wrong passphrase', 'wrong-key-or-tampered');
    assertRefused(unseal(sealedByKey, keyfile()), 'wrong key file', 'wrong-key-or-tampered');
    assertRefused(unseal(sealedByPass, key), 'key file for a passphrase file', 'wrong-key-or-tampered');
    assertRefused(unseal(sealedByKey, pw), 'passphrase for a key-file file', 'wrong-key-or-tampered');
    const r = unseal(sealedByPass, pass('nope'));
    assert.ok(!r.ok && /cannot tell these apart/.test(r.error), 'says a wrong key and tampering look alike');
  });

  it('refuses every single-bit flip at every position of a key-file-sealed file', () => {
    for (let i = 0; i < sealedByKey.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = new Uint8Array(sealedByKey);
        b[i]! ^= 1 << bit;
        assertRefused(unseal(b, key), `bit ${bit} of byte ${i}`);
      }
    }
  });

  it('refuses a flipped byte at every position of a passphrase-sealed file (salt included)', async () => {
    const path = join(dir, 'flip.sealed');
    const results = [];
    for (let i = 0; i < sealedByPass.length; i++) {
      const b = new Uint8Array(sealedByPass);
      b[i]! ^= 0xff;
      // Through readSealed, so the ~0.1 s scrypt derivations run side by side on the thread pool.
      const p = join(dir, `flip-${i}`);
      results.push(writeFile(p, b).then(() => readSealed(p, pw)));
    }
    for (const [i, r] of (await Promise.all(results)).entries()) assertRefused(r, `byte ${i}`);
    await writeFile(path, sealedByPass);
    assert.deepStrictEqual(plaintextOf(await readSealed(path, pw)), small);
  });

  it('refuses a truncation at every length, naming the short header cases', () => {
    for (let n = 0; n < sealedByKey.length; n++) {
      assertRefused(unseal(sealedByKey.subarray(0, n), key), `cut to ${n}`);
    }
    for (const n of [0, 5, 12, 13, 30, HEADER, HEADER + 15]) {
      assertRefused(unseal(sealedByKey.subarray(0, n), key), `cut to ${n}`, 'truncated');
    }
    assertRefused(
      unseal(sealedByKey.subarray(0, HEADER + 16), key),
      'cut into the ciphertext',
      'wrong-key-or-tampered',
    );
    for (const n of [HEADER + 16, sealedByPass.length - 1]) {
      assertRefused(unseal(sealedByPass.subarray(0, n), pw), `passphrase file cut to ${n}`);
    }
  });

  it('says not-sealed for other data and unsupported-version for a newer format or KDF', () => {
    for (const data of [text('{"scene":1}'), new Uint8Array(randomBytes(100)), text('HANA-SEALEDX1')]) {
      assertRefused(unseal(data, key), 'plain data', 'not-sealed');
    }
    const v3 = new Uint8Array(sealedByKey);
    v3[12] = 3;
    assertRefused(unseal(v3, key), 'version 3', 'unsupported-version');
    const kdf9 = new Uint8Array(sealedByKey);
    kdf9[13] = 9;
    assertRefused(unseal(kdf9, key), 'KDF 9', 'unsupported-version');
  });

  it('never seals the same plaintext to the same bytes (fresh salt and nonce)', () => {
    const again = seal(small, key);
    assert.notDeepStrictEqual(again, sealedByKey);
    assert.notDeepStrictEqual(again.subarray(14, 30), sealedByKey.subarray(14, 30), 'salt');
    assert.notDeepStrictEqual(again.subarray(30, 42), sealedByKey.subarray(30, 42), 'nonce');
  });

  it('throws RangeError for a malformed key (a programmer error, not bad data)', () => {
    assert.throws(() => seal(small, keyfile(randomBytes(31))), RangeError);
    assert.throws(() => seal(small, pass('')), RangeError);
  });
});

describe('device-bound files (format 2)', () => {
  const key = keyfile();
  const small = text('{"state":1}');
  const here = formatDeviceId(randomBytes(32));
  const there = formatDeviceId(randomBytes(32));
  const bound = seal(small, key, here);
  const sha = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const binding = (o: { known?: string[]; legacy?: Uint8Array[] } = {}): HomeBinding => ({
    device: here,
    knows: (d) => (o.known ?? [here]).includes(d),
    knowsLegacy: (data) => (o.legacy ?? []).some((l) => sha(l) === sha(data)),
  });

  it('names the writing device in the header and hands it back, authenticated', () => {
    const id = text(here);
    assert.deepEqual([...bound.subarray(12, 15)], [2, 2, id.length]);
    assert.deepEqual(bound.subarray(15, 15 + id.length), id);
    assert.equal(bound.length, HEADER + 1 + id.length + small.length + 16);
    const r = unseal(bound, key, binding());
    assert.ok(r.ok && r.device === here);
    assert.deepStrictEqual(plaintextOf(r), small);
    const unbound = unseal(seal(small, key), key);
    assert.ok(unbound.ok && unbound.device === null, 'format 1 names no device (a publisher key travels)');
  });

  it('refuses every single-bit flip and every truncation, the device bytes included', () => {
    for (let i = 0; i < bound.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = new Uint8Array(bound);
        b[i]! ^= 1 << bit;
        const r = unseal(b, key, binding({ known: [here, there] }));
        assertRefused(r, `bit ${bit} of byte ${i}`);
        // An edited device name is tampering, never "another laptop's file".
        assert.ok(!r.ok && r.code !== 'other-device', `bit ${bit} of byte ${i}: ${!r.ok && r.code}`);
      }
    }
    for (let n = 0; n < bound.length; n++) assertRefused(unseal(bound.subarray(0, n), key), `cut to ${n}`);
  });

  it("refuses another laptop's file sealed with the same key, naming both devices", async () => {
    const path = join(dir, 'state-from-elsewhere.sealed');
    await writeSealedAtomic(path, small, key, there);
    const r = await readSealed(path, key, binding());
    assert.ok(!r.ok && r.code === 'other-device');
    assert.equal(
      r.error,
      `${path} was written by device ${shortId(there)}, not this one (${shortId(here)}): it was copied from another laptop`,
    );
    assert.ok(
      (await readSealed(path, key, binding({ known: [here, there] }))).ok,
      'a device this home had before a rotation',
    );
    assert.ok((await readSealed(path, key)).ok, 'without a binding only the key decides');
  });

  it('reads a format-1 file only if this home held it when it was upgraded', async () => {
    const legacy = seal(small, key);
    const copied = seal(text('{"state":2}'), key);
    assert.deepStrictEqual(plaintextOf(unseal(legacy, key, binding({ legacy: [legacy] }))), small);
    const r = unseal(copied, key, binding({ legacy: [legacy] }));
    assert.ok(
      !r.ok && r.code === 'unknown-legacy' && /was not in this home when it was upgraded/.test(r.error),
    );
  });

  it('throws RangeError for an empty or over-long device ID', () => {
    assert.throws(() => seal(small, key, ''), RangeError);
    assert.throws(() => seal(small, key, 'x'.repeat(256)), RangeError);
  });
});

describe('sealed files on disk', () => {
  const key = keyfile();

  it('writes 0600 atomically, leaves no temp file, and reads back', async () => {
    const sub = join(dir, 'atomic');
    await mkdir(sub);
    const path = join(sub, 'state.sealed');
    await writeFile(path, 'old', { mode: 0o644 });
    await chmod(path, 0o644);
    await writeSealedAtomic(path, text('new state'), key);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(sub), ['state.sealed']);
    assert.deepStrictEqual(plaintextOf(await readSealed(path, key)), text('new state'));
    await writeSealedAtomic(path, text('newer'), pass('pw'));
    assert.deepEqual(await readdir(sub), ['state.sealed']);
    assert.deepStrictEqual(plaintextOf(await readSealed(path, pass('pw'))), text('newer'));
  });

  it('reports a missing file as missing, and other failures naming the file', async () => {
    const missing = join(dir, 'nope.sealed');
    const r = await readSealed(missing, key);
    assert.ok(!r.ok && r.missing === true && r.code === 'unreadable' && r.error.includes(missing));
    const notFile = await readSealed(dir, key);
    assert.ok(!notFile.ok && notFile.code === 'unreadable' && !notFile.missing);

    const path = join(dir, 'tampered.sealed');
    await writeSealedAtomic(path, text('x'), key);
    const bytes = new Uint8Array(await readFile(path));
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(path, bytes);
    const t = await readSealed(path, key);
    assert.ok(!t.ok && t.code === 'wrong-key-or-tampered' && !t.missing);
    assert.ok(t.error.startsWith(path) && /cannot tell these apart/.test(t.error), t.error);
  });
});

describe('loadKeyFile', () => {
  const raw = new Uint8Array(randomBytes(32));
  const hexText = Buffer.from(raw).toString('hex');

  async function keyAt(name: string, content: string | Uint8Array, mode = 0o600): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, content);
    await chmod(path, mode);
    return path;
  }

  it('loads 32 raw bytes or 64 hex characters (with a trailing newline), and the key unseals', async () => {
    for (const [name, content] of [
      ['raw.key', raw],
      ['hex.key', `${hexText}\n`],
      ['HEX.key', hexText.toUpperCase()],
    ] as const) {
      const r = await loadKeyFile(await keyAt(name, content));
      assert.ok(r.ok, r.ok ? '' : r.error);
      assert.deepStrictEqual(r.key, raw, name);
    }
    const loaded = await loadKeyFile(join(dir, 'raw.key'));
    assert.ok(loaded.ok);
    assert.deepStrictEqual(
      plaintextOf(unseal(seal(text('s'), keyfile(raw)), keyfile(loaded.key))),
      text('s'),
    );
  });

  it('refuses a key file group or others can access, saying how to fix it', async () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o601]) {
      const path = await keyAt(`open-${mode.toString(8)}.key`, raw, mode);
      const r = await loadKeyFile(path);
      assert.ok(!r.ok, `mode ${mode.toString(8)} accepted`);
      assert.match(r.error, /group or others/);
      assert.ok(r.error.includes(`chmod 600 ${path}`), r.error);
    }
  });

  it('refuses wrong sizes, non-hex text, a directory and a missing file, naming the file', async () => {
    const cases = [
      await keyAt('short.key', raw.subarray(0, 31)),
      await keyAt('long.key', new Uint8Array(33)),
      await keyAt('hex63.key', hexText.slice(1)),
      await keyAt('nothex.key', 'z'.repeat(64)),
      await keyAt('big.key', new Uint8Array(5000)),
      join(dir, 'absent.key'),
    ];
    for (const path of cases) {
      const r = await loadKeyFile(path);
      assert.ok(!r.ok, `${path} accepted`);
      assert.ok(r.error.includes(path), r.error);
    }
    const sub = join(dir, 'keydir');
    await mkdir(sub, { mode: 0o700 });
    const r = await loadKeyFile(sub);
    assert.ok(!r.ok && /not a regular file/.test(r.error), r.ok ? '' : r.error);
  });
});
