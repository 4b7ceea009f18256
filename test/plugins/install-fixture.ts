import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GeneratedPublisherKey, PublisherSecretKey } from '../../plugins/publisher-key.ts';
import { generatePublisherKey, signPlugin, unlockSecretKey } from '../../plugins/signing.ts';
import { trustPublisher } from '../../trust-store/publishers.ts';

// Shared by the install, archive, audit and bootstrap tests: a temp root holding a daemon home
// and hand-written plugin folders (plugin.json + dist/plugin.js exporting frame), signed by one
// of two publisher keys. cleanup() removes everything.

export const PASS_A = 'publisher a passphrase';
export const PASS_B = 'publisher b passphrase';
export const ENTRY =
  'export function frame(f) {\n  return [{ op: "circle", x: 50, y: 50, r: 10 + f.phase * 20 }];\n}\n';

export type Publisher = { gen: GeneratedPublisherKey; key: PublisherSecretKey };

export type PluginSpec = {
  id?: string;
  version?: string;
  by?: Publisher;
  entry?: string;
  files?: Record<string, string | Buffer>;
  manifest?: Record<string, unknown>;
  sign?: boolean;
};

export type InstallFixture = {
  readonly root: string;
  readonly home: string;
  readonly a: Publisher;
  readonly b: Publisher;
  /** A fresh plugin folder, signed unless sign: false. */
  plugin(spec?: PluginSpec): Promise<string>;
  trust(p: Publisher, name?: string): Promise<void>;
  /** Every path under root that is not in the given top-level names (to prove nothing leaked). */
  entriesOutside(allowed: readonly string[]): Promise<string[]>;
  cleanup(): Promise<void>;
};

async function publisher(pass: string): Promise<Publisher> {
  const gen = await generatePublisherKey(pass);
  const r = await unlockSecretKey(gen.secretKeyFile, pass);
  if (!r.ok) assert.fail(r.error);
  return { gen, key: r.key };
}

export async function createInstallFixture(name: string): Promise<InstallFixture> {
  const root = await mkdtemp(join(tmpdir(), `hana-${name}-test-`));
  const home = join(root, 'home');
  await mkdir(home, { mode: 0o700 });
  const [a, b] = await Promise.all([publisher(PASS_A), publisher(PASS_B)]);
  let n = 0;
  return {
    root,
    home,
    a,
    b,
    async plugin(spec = {}) {
      const by = spec.by ?? a;
      const dir = join(root, 'src', `plugin-${++n}`);
      await mkdir(join(dir, 'dist'), { recursive: true });
      const manifest = {
        id: spec.id ?? 'com.example.dots',
        name: 'Dots',
        version: spec.version ?? '1.0.0',
        publisher: by.gen.keyId,
        entry: 'dist/plugin.js',
        reads: ['/tempo'],
        writes: ['/layer/1/opacity'],
        ...spec.manifest,
      };
      await writeFile(join(dir, 'plugin.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      await writeFile(join(dir, 'dist', 'plugin.js'), spec.entry ?? ENTRY);
      for (const [path, body] of Object.entries(spec.files ?? {})) {
        await mkdir(join(dir, path, '..'), { recursive: true });
        await writeFile(join(dir, path), body);
      }
      if (spec.sign !== false) {
        const r = await signPlugin(dir, by.key);
        if (!r.ok) assert.fail(r.error);
      }
      return dir;
    },
    async trust(p, pname) {
      const r = await trustPublisher(home, { publicKey: p.gen.publicKey, ...(pname && { name: pname }) });
      if (!r.ok) assert.fail(r.error);
    },
    async entriesOutside(allowed) {
      return (await readdir(root)).filter((e) => !allowed.includes(e));
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
