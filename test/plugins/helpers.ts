import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GeneratedPublisherKey, PublisherSecretKey } from '../../plugins/publisher-key.ts';
import {
  generatePublisherKey,
  SignatureFile,
  signPlugin,
  unlockSecretKey,
  type VerifyResult,
} from '../../plugins/signing.ts';

// Shared by the plugin signing tests: two publisher keys (A trusted, B not), and small plugin
// folders (plugin.json + index.js + assets/x.txt) in a temp dir that cleanup() removes.

export const PASSPHRASE = 'correct horse battery staple';
export const PASSPHRASE_B = 'another one';
export const TIME = new Date('2026-11-22T10:00:00.000Z');

export const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

export const manifestFor = (publisher: string, extra: Record<string, unknown> = {}) => ({
  id: 'com.example.strobe',
  name: 'Strobe',
  version: '1.2.3',
  publisher,
  entry: 'index.js',
  reads: ['/tempo'],
  writes: ['/strobe'],
  ...extra,
});

export type Fixture = {
  readonly root: string;
  readonly genA: GeneratedPublisherKey;
  readonly genB: GeneratedPublisherKey;
  readonly keyA: PublisherSecretKey;
  readonly keyB: PublisherSecretKey;
  /** Trusts key A only. */
  readonly trustA: Map<string, string>;
  /** A fresh unsigned plugin folder; the manifest defaults to one published by key A. */
  makePlugin(manifest?: unknown): Promise<string>;
  /** A fresh plugin folder signed by key A at TIME. */
  signedPlugin(): Promise<string>;
  cleanup(): Promise<void>;
};

function unlocked(r: Awaited<ReturnType<typeof unlockSecretKey>>): PublisherSecretKey {
  if (!r.ok) assert.fail(r.error);
  return r.key;
}

export async function createFixture(name: string): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), `hana-${name}-test-`));
  const [genA, genB] = await Promise.all([
    generatePublisherKey(PASSPHRASE),
    generatePublisherKey(PASSPHRASE_B),
  ]);
  const keyA = unlocked(await unlockSecretKey(genA.secretKeyFile, PASSPHRASE));
  const keyB = unlocked(await unlockSecretKey(genB.secretKeyFile, PASSPHRASE_B));
  let n = 0;
  const makePlugin = async (manifest: unknown = manifestFor(genA.keyId)) => {
    const dir = join(root, `plugin-${++n}`);
    await mkdir(join(dir, 'assets'), { recursive: true });
    await writeFile(join(dir, 'plugin.json'), JSON.stringify(manifest, null, 2));
    await writeFile(join(dir, 'index.js'), 'export function frame(t) { return t * 2; }\n');
    await writeFile(join(dir, 'assets', 'x.txt'), 'some asset bytes\n');
    return dir;
  };
  return {
    root,
    genA,
    genB,
    keyA,
    keyB,
    trustA: new Map([[genA.keyId, genA.publicKey]]),
    makePlugin,
    async signedPlugin() {
      const dir = await makePlugin();
      const r = await signPlugin(dir, keyA, { time: TIME });
      if (!r.ok) assert.fail(r.error);
      return dir;
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** Asserts a refusal with `code`; for file codes, that it names `path`. Returns the message. */
export function refused(r: VerifyResult, code: string, path?: string): string {
  if (r.ok) assert.fail(`expected ${code}, got a verified plugin`);
  assert.equal(r.code, code, r.error);
  if (path !== undefined) {
    assert.equal(r.path, path);
    assert.ok(r.error.includes(path), `the error names ${path}: ${r.error}`);
  }
  return r.error;
}

export async function flipByte(path: string, at = 0): Promise<void> {
  const b = await readFile(path);
  b[at % b.length]! ^= 0x01;
  await writeFile(path, b);
}

export async function readSig(dir: string): Promise<SignatureFile> {
  return SignatureFile.parse(JSON.parse(await readFile(join(dir, 'plugin.sig'), 'utf8')));
}

export const writeSig = (dir: string, sig: unknown) =>
  writeFile(join(dir, 'plugin.sig'), JSON.stringify(sig));
