import { withGetters } from '../fast-object.ts';
import type { Change } from '../state/store.ts';
import type { ChangeRecord } from './record.ts';

// Writes at frame rate, audited one record each, filled the log: two linked laptops whose LFOs
// wrote one parameter 20 times a second made 40,000 records (7 MB) each in 28 minutes. For the
// writers that write at frame rate (plugins, and peers, whose writes may be their plugins'), per
// writer and path, the first change opens a window of `windowMs` and is recorded at once, as
// always; the changes after it within the window become one record at the window's end: the last
// value, the value before the first of them, and how many there were. A lone write is recorded as
// before; a steady stream costs two records per window instead of one per write. A person's
// writes (the CLI, scenes, OSC or MIDI when selected) are recorded one each, in order: a held
// record is written at its window's end, after records that came later, with its own time.

export type Coalescer = {
  /** The records to write for this change now (none while it is held for its window's end). */
  offer(change: Change, t: number): ChangeRecord[];
  /** Records of the windows ended by `t`, oldest first; `Infinity` ends them all. */
  due(t: number): ChangeRecord[];
  /** Windows open now: while none is, nothing is due and the caller's timer can stop. */
  readonly open: number;
};

type Held = { old: Change['previous']; last: Change; t: number; count: number };
type Window = { until: number; held: Held | undefined };

/** Windows open at once, at most: past it they all end (bounded memory, whatever the writers). */
const MAX_WINDOWS = 10_000;

function record(ch: Change, t: number, held?: Held): ChangeRecord {
  return {
    kind: 'change',
    time: new Date(t).toISOString(),
    path: ch.path,
    old: held ? held.old : ch.previous,
    new: ch.value,
    writer: ch.source,
    node: ch.stamp.node,
    stamp: ch.stamp,
    ...(held && { coalesced: held.count }),
  };
}

/** Writers whose changes are coalesced: automation, or what may be automation. */
const automated = (source: string) => source.startsWith('plugin:') || source.startsWith('peer:');

export function createCoalescer(windowMs: number): Coalescer {
  const windows = new Map<string, Window>();

  function end(key: string, w: Window, out: ChangeRecord[]): void {
    windows.delete(key);
    if (w.held) out.push(record(w.held.last, w.held.t, w.held));
  }

  return withGetters(
    {
      offer(ch, t) {
        if (windowMs <= 0 || !automated(ch.source)) return [record(ch, t)];
        const key = `${ch.source}\0${ch.path}`;
        const out: ChangeRecord[] = [];
        const w = windows.get(key);
        if (w && t < w.until) {
          w.held = { old: w.held?.old ?? ch.previous, last: ch, t, count: (w.held?.count ?? 0) + 1 };
          return out;
        }
        if (w) end(key, w, out);
        if (windows.size >= MAX_WINDOWS) for (const [k, x] of windows) end(k, x, out);
        out.push(record(ch, t));
        windows.set(key, { until: t + windowMs, held: undefined });
        return out;
      },
      due(t) {
        const out: ChangeRecord[] = [];
        for (const [key, w] of windows) if (w.until <= t) end(key, w, out);
        return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
      },
    } satisfies Omit<Coalescer, 'open'>,
    { open: () => windows.size },
  );
}
