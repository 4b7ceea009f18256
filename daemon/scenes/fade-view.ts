import type { ClockReading } from '../clock/session-clock.ts';
import { timeAt } from '../clock/timeline.ts';
import type { Value } from '../state/coerce.ts';
import type { Stamp } from '../state/hlc.ts';
import type { Registry } from '../state/registry.ts';
import type { Change, Entry, Store } from '../state/store.ts';
import { createSubscribers } from '../state/subscribers.ts';
import { sameValue } from '../state/write-order.ts';
import { glides, interpolate } from './interpolate.ts';
import { decodeLaunch, governs, LAUNCH_PATH, type LaunchRecord } from './launch-record.ts';
import { formatFade } from './launch-spec.ts';

// What the performer sees during a quantized launch, on every laptop alike. The store keeps the
// truth that replicates: the scene's targets, written once by the launching laptop with the
// launch record (launch-record.ts). This view sits in front of the store for everything that
// renders or echoes values (plugins, OSC and MIDI feedback, `hana get`) and shows, per
// parameter, the value before the launch until the start, then the glide (floats, colours) or
// the step (everything else), then the store's value. Each laptop renders its own frames from
// the shared timeline, so the fade starts on the same beat everywhere and not one frame crosses
// the network; a late joiner, or a laptop that lost packets, simply ends on the store's values.
//
// A write to a fading parameter that is not one of the launch's targets (a fader, `hana set`, a
// peer's write, a later plain scene load) ends that parameter's fade at once: the hand wins.

/** How often gliding values are pushed to subscribers (plugins read `get` at their own rate). */
export const FRAME_MS = 20;
/**
 * Wake this early before a start and poll (setImmediate) until it: a timer alone fired 4–8 ms
 * late in the three-laptop test, as Node's timers yield to whatever the loop is doing.
 */
const SPIN_MS = 15;
/** The last ms before a start are waited out synchronously (at most this long, once per start). */
const HOLD_MS = 2;
/** Launches remembered for late targets and for `hana scene status`. */
const KEEP_LAUNCHES = 8;

export type LaunchState = 'pending' | 'active' | 'done' | 'ignored';

export type LaunchStatus = {
  scene: string;
  origin: string;
  state: LaunchState;
  startBeat: number | null;
  /** Session ms of the start as this laptop computes it from its timeline now. */
  startMs: number;
  fade: string;
  /** Parameters still fading (or waiting for the start). */
  fading: number;
  /**
   * When this laptop started the fade. What it renders (plugins read values at frame time)
   * switches at `fromSessionMs`, where its session clock reaches the start beat; its loop, which
   * pushes the first frame to OSC/MIDI feedback, got there `lateMs` later, at `sessionMs`.
   */
  startedAt: {
    /** The start in session time, from this laptop's own copy of the timeline. */
    fromSessionMs: number;
    /** The same instant on this laptop's own wall clock (session time minus its offset). */
    fromOwnMs: number;
    /** Session time when this laptop's loop reached the start. */
    sessionMs: number;
    /** The shared beat then. */
    beat: number | null;
    lateMs: number;
    /** The session clock's own error bound then (null: never measured). */
    errorMs: number | null;
  } | null;
  /** How long before the start this laptop heard of the launch (negative: after it). */
  leadMs: number | null;
  /** Why a record was not rendered (already over when it arrived, no clock yet). */
  note?: string;
};

export type FadeViewStatus = {
  launches: LaunchStatus[];
  /** Launch records that did not decode (a writer of another release, or garbage). */
  badRecords: number;
  /** Fades ended early by a write that was not the launch's (the performer's hand). */
  cancelled: number;
};

export type FadeView = Store & {
  status(): FadeViewStatus;
  /** Advances the fades to the clock's now; returns ms until it needs to run again, if ever. */
  tick(): number | undefined;
  close(): void;
};

export type FadeViewInit = {
  store: Store;
  /** The stored registry (parameter types decide glide or step). */
  registry: Registry;
  /** The session clock; undefined until the sync layer is up (no launch renders before). */
  clock(): ClockReading | undefined;
  /**
   * This daemon's device ID, as its HLC stamps local writes. Without it every write takes the
   * deferred path (see `onRaw`).
   */
  self?: () => string;
  /** False in tests: the caller drives `tick` with a fake clock. */
  autoTick?: boolean;
  onSubscriberError?: (err: unknown) => void;
};

type Launch = {
  rec: LaunchRecord;
  stamp: Stamp;
  state: LaunchState;
  fading: number;
  startedAt: LaunchStatus['startedAt'];
  leadMs: number | null;
  note?: string;
};

type Fade = { launch: Launch; from: Value; to: Value; glide: boolean; last: Value };

export function createFadeView(init: FadeViewInit): FadeView {
  const { store, registry } = init;
  const autoTick = init.autoTick ?? true;
  const subscribers = createSubscribers(init.onSubscriberError);
  const fades = new Map<string, Fade>();
  /** The value shown just before each path's latest store write, for targets met before their record. */
  const before = new Map<string, { value: Value; stamp: Stamp; cut: boolean }>();
  const launches: Launch[] = [];
  const seenRecords: string[] = [];
  let badRecords = 0;
  let cancelled = 0;
  let buffer: Change[] = [];
  /** Frames this view made, as opposed to store changes it passes on. */
  const synthetic = new WeakSet<Change>();
  let flushQueued = false;
  /** Subscribers are being called: a write they make waits its turn behind the batch they hold. */
  let delivering = false;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let lastFrame = -Infinity;
  /** Set by tick: ms until the nearest pending start, if any. */
  let untilStart: number | undefined;
  let closed = false;

  function startOf(l: Launch, r: ClockReading): number {
    // A beat start follows the timeline as it is now: a tempo change while waiting moves it.
    return l.rec.startBeat !== null && r.timeline ? timeAt(r.timeline, l.rec.startBeat) : l.rec.startMs;
  }

  /** Fraction of the fade done at the reading; beat fades follow tempo changes mid-fade. */
  function progress(l: Launch, r: ClockReading): number {
    const start = startOf(l, r);
    if (r.timeMs < start) return -1;
    const { unit, length } = l.rec.fade;
    if (length === 0) return 1;
    if (unit === 'beats' && l.rec.startBeat !== null && r.beat !== null)
      return (r.beat - l.rec.startBeat) / length;
    const ms = unit === 'beats' ? (length * 60_000) / r.tempo : length;
    return (r.timeMs - start) / ms;
  }

  function shown(f: Fade, r: ClockReading | undefined): Value {
    if (!r) return f.to;
    const p = progress(f.launch, r);
    if (p < 0) return f.from;
    return f.glide ? interpolate(f.from, f.to, p) : f.to;
  }

  const get = (path: string): Entry | undefined => {
    const e = store.get(path);
    const f = fades.get(path);
    if (!e || !f) return e;
    return { value: shown(f, init.clock()), stamp: e.stamp, source: e.source };
  };

  function queue(c: Change): void {
    buffer.push(c);
    if (flushQueued) return;
    flushQueued = true;
    // Deferred so a launch's targets and its record, which one datagram (or one local batch)
    // delivers one by one, are sorted out before anyone sees a target early.
    queueMicrotask(flush);
  }

  function flush(): void {
    flushQueued = false;
    if (buffer.length === 0) return;
    const out: Change[] = [];
    for (const c of buffer) {
      const f = fades.get(c.path);
      // A target the view now holds back: subscribers see the fade's frames instead.
      if (f && !synthetic.has(c) && store.get(c.path)?.stamp === c.stamp) continue;
      out.push(c);
    }
    buffer = [];
    if (out.length > 0) deliver(out);
  }

  function deliver(changes: readonly Change[]): void {
    delivering = true;
    try {
      subscribers.notify(changes);
    } finally {
      delivering = false;
    }
  }

  const live = (l: Launch) => l.state === 'pending' || l.state === 'active';

  /**
   * Whether a batch can go to subscribers as it is, now: nothing fades or waits for its start,
   * nothing is buffered ahead of it, and no write in it can become a target. A launch's targets
   * are the writes of its record's origin, and a record of this laptop comes in one batch with
   * its targets (launch-record.ts), so only another laptop's writes can still be claimed by a
   * record arriving after them; those keep the deferred path, which remembers what each showed.
   * This is every fader move outside a launch (issue 18: the deferred path cost a microtask, a
   * `before` entry and a second pass over every write, about a tenth of OSC ingest at 10k/s).
   */
  function plain(changes: readonly Change[]): boolean {
    if (fades.size > 0 || flushQueued || delivering || !init.self) return false;
    const self = init.self();
    for (const c of changes) if (c.path === LAUNCH_PATH || c.stamp.node !== self) return false;
    return !launches.some(live);
  }

  function frame(path: string, f: Fade, value: Value): void {
    const e = store.get(path);
    if (!e || sameValue(value, f.last)) return;
    const c: Change = { path, value, previous: f.last, stamp: e.stamp, source: e.source, changed: true };
    synthetic.add(c);
    queue(c);
    f.last = value;
  }

  function attach(l: Launch, path: string, from: Value, to: Value): void {
    const spec = registry.get(path);
    if (!spec || spec.type === 'trigger') return;
    fades.set(path, { launch: l, from, to, glide: glides(path, spec), last: from });
    l.fading++;
  }

  function owner(stamp: Stamp): Launch | undefined {
    for (let i = launches.length - 1; i >= 0; i--) {
      const l = launches[i]!;
      if ((l.state === 'pending' || l.state === 'active') && governs(l.rec, l.stamp, stamp)) return l;
    }
    return undefined;
  }

  function onRecord(c: Change): void {
    // The same text again is no new launch: a sync correction re-asserts the record with a
    // fresh stamp, which would otherwise make the corrections after it look like its targets.
    if (seenRecords.includes(c.value as string)) return;
    const rec = decodeLaunch(c.value);
    if (!rec) {
      // The declared default "" is no launch; anything else is.
      if (c.value !== '') badRecords++;
      return;
    }
    seenRecords.push(c.value as string);
    if (seenRecords.length > KEEP_LAUNCHES) seenRecords.shift();
    const l: Launch = { rec, stamp: c.stamp, state: 'pending', fading: 0, startedAt: null, leadMs: null };
    launches.push(l);
    if (launches.length > KEEP_LAUNCHES) launches.shift();
    const r = init.clock();
    if (!r) {
      l.state = 'ignored';
      l.note = 'no session clock yet';
      return;
    }
    l.leadMs = startOf(l, r) - r.timeMs;
    if (progress(l, r) >= 1) {
      // Already over (a late joiner, a restored or replayed record): the store's values stand.
      l.state = 'ignored';
      l.note = 'already over when it arrived';
      return;
    }
    for (const [path, b] of before) {
      const e = store.get(path);
      if (!e || e.stamp !== b.stamp || !governs(rec, c.stamp, e.stamp)) continue;
      // Not the hand after all: a later launch's target, met before its record.
      if (b.cut) cancelled--;
      b.cut = false;
      attach(l, path, b.value, e.value);
      const f = fades.get(path)!;
      // Still queued, the target is dropped at the flush; already flushed, subscribers saw it
      // (its record came in a later datagram) and are told the value they should see.
      if (!buffer.some((q) => q.path === path && q.stamp === e.stamp)) f.last = e.value;
      frame(path, f, shown(f, r));
    }
  }

  function onRaw(changes: readonly Change[]): void {
    if (plain(changes)) {
      deliver(changes);
      return;
    }
    const records: Change[] = [];
    for (const c of changes) {
      queue(c);
      if (c.path === LAUNCH_PATH) {
        records.push(c);
        continue;
      }
      const was = fades.get(c.path);
      const from = was ? shown(was, init.clock()) : c.previous;
      if (was) {
        was.launch.fading--;
        fades.delete(c.path);
      }
      const l = owner(c.stamp);
      if (l) attach(l, c.path, from, c.value);
      else if (was) cancelled++;
      before.set(c.path, { value: from, stamp: c.stamp, cut: was !== undefined && !l });
    }
    for (const c of records) onRecord(c);
    arm();
  }

  function tick(): number | undefined {
    const r = init.clock();
    if (!r) return undefined;
    let next: number | undefined;
    untilStart = undefined;
    const soon = (ms: number) => {
      next = next === undefined ? ms : Math.min(next, ms);
    };
    const framed = r.timeMs - lastFrame >= FRAME_MS - 1;
    for (const l of launches) {
      if (l.state !== 'pending' && l.state !== 'active') continue;
      const p = progress(l, r);
      if (p < 0) {
        const wait = startOf(l, r) - r.timeMs;
        untilStart = untilStart === undefined ? wait : Math.min(untilStart, wait);
        soon(wait);
        continue;
      }
      const starting = l.state === 'pending';
      if (starting) {
        l.state = 'active';
        const from = startOf(l, r);
        l.startedAt = {
          fromSessionMs: from,
          fromOwnMs: from - r.offsetMs,
          sessionMs: r.timeMs,
          beat: r.beat,
          lateMs: r.timeMs - from,
          errorMs: r.errorMs,
        };
      }
      const over = p >= 1;
      for (const [path, f] of fades) {
        if (f.launch !== l) continue;
        if (starting || over || (f.glide && framed)) frame(path, f, over ? f.to : shown(f, r));
        if (over) fades.delete(path);
      }
      if (over) {
        l.fading = 0;
        l.state = 'done';
      } else soon(FRAME_MS);
    }
    if (framed) lastFrame = r.timeMs;
    flush();
    return next;
  }

  function arm(): void {
    // Every store change lands here (a fader sends hundreds a second): without a launch waiting
    // or fading there is nothing to wake for.
    if (!autoTick || closed || !launches.some(live)) return;
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
    timer = undefined;
    immediate = undefined;
    const wake = () => {
      timer = undefined;
      immediate = undefined;
      let next = tick();
      if (next === undefined || closed) return;
      if (untilStart !== undefined && untilStart <= HOLD_MS) {
        // The last stretch is waited out here, not in the loop: on a loaded machine whatever
        // the loop runs next can take the start several ms past its beat.
        const due = performance.now() + untilStart;
        while (performance.now() < due) {}
        next = tick();
        if (next === undefined) return;
      }
      if (next > SPIN_MS) timer = setTimeout(wake, next - SPIN_MS);
      else immediate = setImmediate(wake);
    };
    // Not at once: the launch's own batch is still being delivered.
    immediate = setImmediate(wake);
  }

  const unsubscribe = store.subscribe(onRaw);

  return {
    get,
    *entries() {
      for (const [path] of store.entries()) yield [path, get(path)!] as [string, Entry];
    },
    apply: (writes, source, opts) => store.apply(writes, source, opts),
    merge: (path, entry) => store.merge(path, entry),
    subscribe: (fn, opts) => subscribers.add(fn, opts),
    tick,
    status() {
      const r = init.clock();
      return {
        badRecords,
        cancelled,
        launches: launches.map((l) => ({
          scene: l.rec.scene,
          origin: l.stamp.node,
          state: l.state,
          startBeat: l.rec.startBeat,
          startMs: r ? startOf(l, r) : l.rec.startMs,
          fade: formatFade(l.rec.fade),
          fading: l.state === 'pending' || l.state === 'active' ? l.fading : 0,
          leadMs: l.leadMs,
          startedAt: l.startedAt,
          ...(l.note !== undefined && { note: l.note }),
        })),
      };
    },
    close() {
      closed = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
    },
  };
}
