import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type HomeBinding,
  readSealed,
  type SealKey,
  writeSealedAtomic,
} from '../../trust-store/sealed-file.ts';
import { checkStoredValue, type StoredCode } from '../persist/stored-value.ts';
import type { Value } from '../state/coerce.ts';
import { compilePattern } from '../state/pattern.ts';
import type { Registry } from '../state/registry.ts';
import type { Change, Store, Write } from '../state/store.ts';
import { decodeScene, encodeScene, type SceneFile, type SceneValue, sceneName } from './scene-file.ts';

// Scenes: named snapshots of parameter values, sealed at rest. Loading one validates every
// value against the current declarations, then applies all that pass as one batch under the
// source "scene:<name>", so it replicates, triggers feedback and is audited like any write.

export type SceneCode =
  | 'bad-name'
  | 'bad-pattern'
  | 'no-match'
  | 'exists'
  | 'not-found'
  | 'too-large'
  | 'too-many'
  | 'unreadable'
  | 'not-sealed'
  | 'unsupported-version'
  | 'wrong-key-or-tampered'
  | 'truncated'
  | 'other-device'
  | 'unknown-legacy'
  | 'bad-scene'
  | 'io';

export type SceneFailure = { ok: false; code: SceneCode; error: string };
export type SceneInfo = {
  name: string;
  savedAt: string | null;
  params: number | null;
  bytes: number;
  error?: string;
};
export type Skipped = { path: string; code: StoredCode; reason: string };
export type Clamped = { path: string; saved: Value; applied: Value };
export type SaveResult =
  | { ok: true; name: string; params: number; bytes: number; replaced: boolean }
  | SceneFailure;
export type LoadResult =
  | {
      ok: true;
      name: string;
      savedAt: string;
      applied: number;
      changed: number;
      skipped: Skipped[];
      clamped: Clamped[];
    }
  | SceneFailure;

/** A scene read and checked against the current declarations, not yet applied. */
export type Prepared =
  | { ok: true; name: string; savedAt: string; writes: Write[]; skipped: Skipped[]; clamped: Clamped[] }
  | SceneFailure;

/** The report of a load, from what was prepared and the store's changes. */
export function loaded(p: Extract<Prepared, { ok: true }>, changes: readonly Change[]): LoadResult {
  return {
    ok: true,
    name: p.name,
    savedAt: p.savedAt,
    applied: changes.length,
    changed: changes.filter((ch) => ch.changed).length,
    skipped: p.skipped,
    clamped: p.clamped,
  };
}

export type Scenes = {
  readonly dir: string;
  prepare(name: string): Promise<Prepared>;
  save(name: string, opts?: { only?: string; force?: boolean }): Promise<SaveResult>;
  load(name: string): Promise<LoadResult>;
  list(): Promise<SceneInfo[]>;
  delete(name: string): Promise<{ ok: true; name: string } | SceneFailure>;
  count(): number;
  /** Resolves when the background reading of every scene's details (for list) is done. */
  readonly warmed: Promise<void>;
  /** Stops the background reading of scene details; resolves when it has. */
  close(): Promise<void>;
};

export type ScenesInit = {
  dir: string;
  key: SealKey;
  registry: Registry;
  store: Store;
  /** Which scene files are this home's, and the device a save names (read at each save). */
  binding: HomeBinding;
  now?: () => number;
  maxScenes?: number;
};

const SUFFIX = '.scene';
/** A scene of every parameter at the longest strings is far below this; bigger is not ours. */
export const MAX_SCENE_BYTES = 64 * 1024 * 1024;

const fail = (code: SceneCode, error: string): SceneFailure => ({ ok: false, code, error });

export async function openScenes(init: ScenesInit): Promise<Scenes> {
  const { dir, registry, store } = init;
  const now = init.now ?? Date.now;
  const maxScenes = init.maxScenes ?? 1000;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const isOurs = (file: string) => {
    if (!file.endsWith(SUFFIX)) return false;
    const c = sceneName(file.slice(0, -SUFFIX.length));
    return c.ok && c.name + SUFFIX === file;
  };
  const names = new Set((await readdir(dir)).filter(isOurs).map((f) => f.slice(0, -SUFFIX.length)));
  // Temp files of saves a SIGKILL interrupted (writeFileAtomic names them `.<name>.<pid>.<rand>.tmp`).
  for (const f of await readdir(dir)) {
    if (/^\.[a-z0-9][a-z0-9._-]*\.scene\.\d+\.[0-9a-f]+\.tmp$/.test(f))
      await unlink(join(dir, f)).catch(() => {});
  }
  // Listing decrypts every scene (≈0.1 s each under a passphrase); remember what it found.
  const meta = new Map<string, { stamp: string; savedAt: string; params: number }>();
  // One mutation at a time: "save unless it exists" must not race another save of the same name.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const r = queue.then(fn, fn);
    queue = r.catch(() => {});
    return r;
  };

  const fileOf = (name: string) => join(dir, name + SUFFIX);
  const statStamp = (s: { mtimeMs: number; size: number; ino: number }) =>
    `${Math.floor(s.mtimeMs)}:${s.size}:${s.ino}`;

  async function read(name: string): Promise<{ ok: true; scene: SceneFile; stamp: string } | SceneFailure> {
    const path = fileOf(name);
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return fail('not-found', `no scene "${name}" (see \`hana scene list\`)`);
      return fail('unreadable', `cannot read scene "${name}" at ${path}: ${e.message}`);
    }
    let st: Awaited<ReturnType<typeof fh.stat>>;
    try {
      st = await fh.stat();
    } finally {
      await fh.close();
    }
    if (!st.isFile()) return fail('unreadable', `scene "${name}" at ${path} is not a regular file`);
    if (st.size > MAX_SCENE_BYTES) {
      return fail(
        'too-large',
        `scene "${name}" at ${path} is ${st.size} bytes, over ${MAX_SCENE_BYTES}: not a hana scene`,
      );
    }
    const r = await readSealed(path, init.key, init.binding);
    if (!r.ok) {
      if (r.code === 'unreadable') {
        return r.missing
          ? fail('not-found', `no scene "${name}" (see \`hana scene list\`)`)
          : fail('unreadable', r.error);
      }
      const hint =
        r.code === 'wrong-key-or-tampered'
          ? `check storage.key is the one the scene was saved with; if it is, the file was modified or damaged: restore it from a backup or remove it with \`hana scene delete ${name}\``
          : r.code === 'other-device' || r.code === 'unknown-legacy'
            ? `save the scene on this laptop instead, or remove the copy with \`hana scene delete ${name}\``
            : `restore it from a backup or remove it with \`hana scene delete ${name}\``;
      return fail(r.code, `scene "${name}" cannot be read: ${r.error}; ${hint}`);
    }
    const d = decodeScene(r.plaintext);
    if (!d.ok) return fail('bad-scene', `scene "${name}" at ${path} ${d.error}`);
    return { ok: true, scene: d.scene, stamp: statStamp(st) };
  }

  async function prepare(input: string): Promise<Prepared> {
    const n = sceneName(input);
    if (!n.ok) return fail('bad-name', n.error);
    const r = await read(n.name);
    if (!r.ok) return r;
    const { scene } = r;
    const writes: Write[] = [];
    const skipped: Skipped[] = [];
    const clamped: Clamped[] = [];
    const seen = new Set<string>();
    for (const v of scene.values) {
      if (seen.has(v.path)) continue;
      seen.add(v.path);
      const c = checkStoredValue(registry, v.path, v.value);
      if (!c.ok) {
        const was = c.code === 'wrong-type' ? ` (saved as ${v.type})` : '';
        skipped.push({ path: v.path, code: c.code, reason: c.reason + was });
        continue;
      }
      if (c.clamped) clamped.push({ path: v.path, saved: v.value, applied: c.value });
      writes.push({ path: v.path, value: c.value });
    }
    return { ok: true, name: n.name, savedAt: scene.savedAt, writes, skipped, clamped };
  }

  // A list during the background reading waits for the same decryption instead of repeating it.
  const inflight = new Map<string, Promise<SceneInfo>>();
  function remember(name: string): Promise<SceneInfo> {
    let p = inflight.get(name);
    if (!p) {
      p = details(name).finally(() => inflight.delete(name));
      inflight.set(name, p);
    }
    return p;
  }

  async function details(name: string): Promise<SceneInfo> {
    const info: SceneInfo = { name, savedAt: null, params: null, bytes: 0 };
    const st = await stat(fileOf(name)).catch(() => undefined);
    if (!st) {
      info.error = 'disappeared while listing';
      return info;
    }
    info.bytes = st.size;
    const cached = meta.get(name);
    if (cached && cached.stamp === statStamp(st)) {
      info.savedAt = cached.savedAt;
      info.params = cached.params;
      return info;
    }
    const r = await read(name);
    if (!r.ok) {
      info.error = `${r.code}: ${r.error}`;
      return info;
    }
    meta.set(name, { stamp: r.stamp, savedAt: r.scene.savedAt, params: r.scene.values.length });
    info.savedAt = r.scene.savedAt;
    info.params = r.scene.values.length;
    return info;
  }

  // Read every scene's details once in the background, one at a time, so the first
  // `hana scene list` does not wait for a round of scrypt per scene.
  let closed = false;
  const warming = (async () => {
    for (const name of [...names]) {
      if (closed) return;
      await remember(name).catch(() => {});
    }
  })();

  return {
    dir,
    count: () => names.size,
    warmed: warming,
    async close() {
      closed = true;
      await warming;
    },

    save(input, opts = {}) {
      return serial(async (): Promise<SaveResult> => {
        const n = sceneName(input);
        if (!n.ok) return fail('bad-name', n.error);
        const name = n.name;
        let match: (p: string) => boolean = () => true;
        if (opts.only !== undefined) {
          const c = compilePattern(opts.only);
          if (!c.ok)
            return fail('bad-pattern', `${opts.only} is not a valid OSC address pattern: ${c.reason}`);
          match = c.pattern.match;
        }
        const path = fileOf(name);
        const exists = await stat(path).then(
          () => true,
          () => false,
        );
        if (exists && !opts.force) {
          return fail('exists', `scene "${name}" already exists: add --force to replace it`);
        }
        if (!exists && names.size >= maxScenes) {
          return fail(
            'too-many',
            `there are already ${names.size} scenes: delete some with \`hana scene delete\``,
          );
        }
        const values: SceneValue[] = [];
        for (const p of registry.paths) {
          const spec = registry.get(p)!;
          if (spec.type === 'trigger' || !match(p)) continue;
          values.push({ path: p, type: spec.type, value: store.get(p)!.value });
        }
        if (values.length === 0) {
          return fail('no-match', `no declared parameter (other than triggers) matches ${opts.only}`);
        }
        const savedAt = new Date(now()).toISOString();
        const bytes = encodeScene({
          format: 'hana-scene',
          version: 1,
          name,
          savedAt,
          node: init.binding.device,
          ...(opts.only !== undefined && { only: opts.only }),
          values,
        });
        try {
          await writeSealedAtomic(path, bytes, init.key, init.binding.device);
        } catch (err) {
          return fail('io', `cannot write scene "${name}" to ${path}: ${(err as Error).message}`);
        }
        names.add(name);
        const st = await stat(path);
        meta.set(name, { stamp: statStamp(st), savedAt, params: values.length });
        return { ok: true, name, params: values.length, bytes: st.size, replaced: exists };
      });
    },

    prepare,

    async load(input) {
      const p = await prepare(input);
      if (!p.ok) return p;
      const changes = p.writes.length ? store.apply(p.writes, `scene:${p.name}`) : [];
      return loaded(p, changes);
    },

    async list() {
      const found = (await readdir(dir)).filter(isOurs).sort();
      // Files copied in or removed by hand since start count from now on.
      names.clear();
      return Promise.all(
        found.map((file) => {
          const name = file.slice(0, -SUFFIX.length);
          names.add(name);
          return remember(name);
        }),
      );
    },

    delete(input) {
      return serial(async () => {
        const n = sceneName(input);
        if (!n.ok) return fail('bad-name', n.error);
        try {
          await unlink(fileOf(n.name));
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          if (e.code === 'ENOENT') return fail('not-found', `no scene "${n.name}" (see \`hana scene list\`)`);
          return fail('unreadable', `cannot delete scene "${n.name}": ${e.message}`);
        }
        names.delete(n.name);
        meta.delete(n.name);
        return { ok: true as const, name: n.name };
      });
    },
  };
}
