import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { z } from 'zod';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import { createHlc, type Hlc } from '../../../daemon/state/hlc.ts';
import { createRegistry, type Registry } from '../../../daemon/state/registry.ts';
import { type Change, createStore, type Store } from '../../../daemon/state/store.ts';
import type { HomeBinding, SealKey } from '../../../trust-store/sealed-file.ts';

export type ParamMapInput = z.input<typeof ParamMap>;

// A real registry, clock and store for storage tests, with a wall clock the test moves.

export const PARAMS: ParamMapInput = {
  '/a': { type: 'float', min: 0, max: 10, default: 1 },
  '/b': { type: 'bool' },
  '/c': { type: 'int', min: 0, max: 100, outOfRange: 'reject' },
  '/s': { type: 'string', maxLength: 16 },
  '/col': { type: 'color' },
  '/t': { type: 'trigger' },
};

export type World = {
  registry: Registry;
  hlc: Hlc;
  store: Store;
  batches: (readonly Change[])[];
  clock: { now: number };
};

export function world(params: ParamMapInput = PARAMS, node = 'node-A', start = 1_700_000_000_000): World {
  const clock = { now: start };
  const registry = createRegistry(ParamMap.parse(params));
  const hlc = createHlc({ node, now: () => clock.now });
  const store = createStore({ registry, hlc });
  const batches: (readonly Change[])[] = [];
  store.subscribe((c) => batches.push(c));
  return { registry, hlc, store, batches, clock };
}

export const keyfile = (): SealKey => ({ kind: 'keyfile', key: new Uint8Array(randomBytes(32)) });

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A home that has been `device` (and `others`) and held the format-1 files `legacy` when upgraded. */
export function bindingFor(
  device: string,
  o: { others?: string[]; legacy?: Uint8Array[] } = {},
): HomeBinding {
  const known = new Set([device, ...(o.others ?? [])]);
  const legacy = new Set((o.legacy ?? []).map(sha));
  return { device, knows: (d) => known.has(d), knowsLegacy: (data) => legacy.has(sha(data)) };
}

/** A temp folder for the file's tests, removed after them; the getter is valid inside tests. */
export function tempRoot(prefix: string): () => string {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  return () => root;
}

/** Homes (each with a scenes/ folder) in one temp folder that is removed after the file's tests. */
export function tempHomes(prefix: string): () => Promise<string> {
  const root = tempRoot(prefix);
  let n = 0;
  return async () => {
    const h = join(root(), `home-${++n}`);
    await mkdir(join(h, 'scenes'), { recursive: true });
    return h;
  };
}
