import { initialValue, type Value } from './coerce.ts';
import { type Hlc, type Stamp, ZERO_STAMP } from './hlc.ts';
import { isHumanSource } from './human-source.ts';
import type { Registry } from './registry.ts';
import { type ChangeListener, createSubscribers, type SubscribeOptions } from './subscribers.ts';
import { compareWrites } from './write-order.ts';

// The parameter store: one last-writer-wins register per declared path, ordered by HLC stamp.
// Local writes and (later) replicated ones meet here, so the merge rule lives in one place.
// Values reaching this module are already validated and coerced by the caller.

/** `human`: a person made it (here, by its source; from a peer, by its origin's signed mark). */
export type Entry = {
  readonly value: Value;
  readonly stamp: Stamp;
  readonly source: string;
  readonly human?: boolean;
};

export type Change = {
  readonly path: string;
  readonly value: Value;
  readonly previous: Value;
  readonly stamp: Stamp;
  /** Who wrote it: "osc:udp:127.0.0.1:5000", "cli", "peer:<id>", … */
  readonly source: string;
  /** A person made it (Entry.human); absent for automation. */
  readonly human?: boolean;
  /** False when the value is the same as before (a re-send); triggers always fire. */
  readonly changed: boolean;
};

export type Write = { readonly path: string; readonly value: Value };

export type Store = {
  get(path: string): Entry | undefined;
  entries(): IterableIterator<[string, Entry]>;
  /**
   * Applies local writes as one batch: one stamp each, one notification for all. A person's write
   * always wins here; automation (a plugin, a correction answering one) that would rank below a
   * person's write made moments ago (write-order.ts) is left out, and is not in the changes.
   * `human` overrides what the source says (isHumanSource).
   */
  apply(writes: readonly Write[], source: string, opts?: { human?: boolean }): readonly Change[];
  /** Merges a replicated entry; applied only if it ranks above the current one (write-order.ts). Returns the change or undefined. */
  merge(path: string, entry: Entry): Change | undefined;
  /** Every batch, or with `paths` only batches that change one of them (subscribers.ts). */
  subscribe(fn: ChangeListener, opts?: SubscribeOptions): () => void;
};

export type StoreInit = {
  registry: Registry;
  hlc: Hlc;
  /** A subscriber threw: reported, never allowed to break the write path. */
  onSubscriberError?: (err: unknown) => void;
};

/**
 * One per declared path: the entry in place, and whether the path is a trigger, worked out once.
 * A write then costs one map lookup, not four (has, get, set and the registry's spec for its
 * type: issue 18, the store's map lookups were the largest native cost in its `apply`).
 */
type Cell = { entry: Entry; readonly trigger: boolean };

export function createStore(init: StoreInit): Store {
  const { registry, hlc } = init;
  const cells = new Map<string, Cell>();
  for (const path of registry.paths) {
    const spec = registry.get(path)!;
    cells.set(path, {
      entry: { value: initialValue(spec), stamp: ZERO_STAMP, source: 'default' },
      trigger: spec.type === 'trigger',
    });
  }
  const subscribers = createSubscribers(init.onSubscriberError);

  function notify(changes: readonly Change[]): void {
    if (changes.length > 0) subscribers.notify(changes);
  }

  function put(path: string, cell: Cell, entry: Entry): Change {
    const previous = cell.entry;
    cell.entry = entry;
    const changed = cell.trigger || entry.value !== previous.value;
    // Two literals rather than a spread: this runs for every write on the ingest path.
    return entry.human
      ? {
          path,
          value: entry.value,
          previous: previous.value,
          stamp: entry.stamp,
          source: entry.source,
          human: true,
          changed,
        }
      : {
          path,
          value: entry.value,
          previous: previous.value,
          stamp: entry.stamp,
          source: entry.source,
          changed,
        };
  }

  function* entries(): IterableIterator<[string, Entry]> {
    for (const [path, cell] of cells) yield [path, cell.entry];
  }

  return {
    get: (path) => cells.get(path)?.entry,
    entries,
    apply(writes, source, opts) {
      const n = writes.length;
      // Check the whole batch first: throwing halfway would leave writes applied but never
      // notified. The first write's cell is kept, so a lone fader move looks its path up once.
      const first = n > 0 ? cells.get(writes[0]!.path) : undefined;
      if (n > 0 && !first) throw new Error(`store.apply: undeclared path ${writes[0]!.path}`);
      for (let i = 1; i < n; i++) {
        if (!cells.has(writes[i]!.path)) throw new Error(`store.apply: undeclared path ${writes[i]!.path}`);
      }
      const human = opts?.human ?? isHumanSource(source);
      // Sized to the batch, not grown by push: the first push gives an empty array room for 16,
      // about 160 bytes of garbage per OSC write (issue 18: the store's batch was the largest
      // allocation on the ingest path). Cut to what was kept.
      const changes: Change[] = new Array(n);
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const w = writes[i]!;
        const cell = i === 0 ? first! : cells.get(w.path)!;
        const previous = cell.entry;
        const entry: Entry = human
          ? { value: w.value, stamp: hlc.tick(), source, human: true }
          : { value: w.value, stamp: hlc.tick(), source };
        // Every other daemon would keep the person's write: keeping this one would split them.
        if (!human && previous.human && compareWrites(entry, previous) <= 0) continue;
        changes[kept++] = put(w.path, cell, entry);
      }
      if (kept < changes.length) changes.length = kept;
      notify(changes);
      return changes;
    },
    merge(path, entry) {
      const cell = cells.get(path);
      if (!cell || compareWrites(entry, cell.entry) <= 0) return undefined;
      // A stamp the clock refuses (too far ahead, not a number) would outrank every local write to come.
      if (!hlc.observe(entry.stamp)) return undefined;
      const change = put(path, cell, entry);
      notify([change]);
      return change;
    },
    subscribe: (fn, opts) => subscribers.add(fn, opts),
  };
}
