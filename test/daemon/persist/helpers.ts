import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import { createHlc, type Hlc } from '../../../daemon/state/hlc.ts';
import { createRegistry, type Registry } from '../../../daemon/state/registry.ts';
import { type Change, createStore, type Store } from '../../../daemon/state/store.ts';
import type { SealKey } from '../../../trust-store/sealed-file.ts';

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
