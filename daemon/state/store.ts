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

export function createStore(init: StoreInit): Store {
  const { registry, hlc } = init;
  const entries = new Map<string, Entry>();
  for (const path of registry.paths) {
    entries.set(path, { value: initialValue(registry.get(path)!), stamp: ZERO_STAMP, source: 'default' });
  }
  const subscribers = createSubscribers(init.onSubscriberError);

  function notify(changes: readonly Change[]): void {
    if (changes.length > 0) subscribers.notify(changes);
  }

  function put(path: string, entry: Entry, previous: Entry): Change {
    entries.set(path, entry);
    const changed = registry.get(path)?.type === 'trigger' || entry.value !== previous.value;
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

  return {
    get: (path) => entries.get(path),
    entries: () => entries.entries(),
    apply(writes, source, opts) {
      // Check the whole batch first: throwing halfway would leave writes applied but never notified.
      for (const w of writes) {
        if (!entries.has(w.path)) throw new Error(`store.apply: undeclared path ${w.path}`);
      }
      const human = opts?.human ?? isHumanSource(source);
      // Sized to the batch, not grown by push: the first push gives an empty array room for 16,
      // about 160 bytes of garbage per OSC write (issue 18: the store's batch was the largest
      // allocation on the ingest path). Cut to what was kept.
      const changes: Change[] = new Array(writes.length);
      let kept = 0;
      for (const w of writes) {
        const previous = entries.get(w.path)!;
        const entry: Entry = human
          ? { value: w.value, stamp: hlc.tick(), source, human: true }
          : { value: w.value, stamp: hlc.tick(), source };
        // Every other daemon would keep the person's write: keeping this one would split them.
        if (!human && previous.human && compareWrites(entry, previous) <= 0) continue;
        changes[kept++] = put(w.path, entry, previous);
      }
      if (kept < changes.length) changes.length = kept;
      notify(changes);
      return changes;
    },
    merge(path, entry) {
      const previous = entries.get(path);
      if (!previous || compareWrites(entry, previous) <= 0) return undefined;
      // A stamp the clock refuses (too far ahead, not a number) would outrank every local write to come.
      if (!hlc.observe(entry.stamp)) return undefined;
      const change = put(path, entry, previous);
      notify([change]);
      return change;
    },
    subscribe: (fn, opts) => subscribers.add(fn, opts),
  };
}
