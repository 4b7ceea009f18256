import { availableParallelism } from 'node:os';
import type { TriggerEvent } from '../api/hana-plugin.d.ts';
import {
  createSandbox,
  type FrameOutcome,
  type LoadResult,
  type ParamValue,
  type PluginWrite,
  type SandboxInit,
} from '../sandbox/sandbox.ts';
import { type CpuWatchdog, createCpuWatchdog } from '../sandbox/watchdog.ts';
import type { SessionClock } from './clock.ts';
import { createFaultTracker, DEFAULT_POLICY, type FaultPolicy, type FaultTracker } from './policy.ts';
import { createShares } from './shares.ts';
import { createSlot, keyOf, type Slot } from './slot.ts';
import {
  type EncodedFrame,
  type EventKind,
  type PluginSpec,
  type PluginStats,
  type RuntimeEvent,
  realTimers,
  type Timers,
} from './types.ts';

// The frame loop: at the runtime's frame rate, calls every running plugin that is due (each at
// its own fps, never above the runtime's), collects their display lists as layers, and emits one
// composed frame per tick. A frame is emitted when all of its calls have settled or when the next
// tick comes, whichever is first, so a slow or stuck plugin is simply not in that frame. Faults go
// through the policy (policy.ts). Time and timers are injected so tests drive the loop
// deterministically.
//
// A tick's calls run at most `lanes` at a time, not all at once: with six isolates called side by
// side on isolated-vm's threads, the host's native heap grew by 80-88 MiB an hour in the 30-minute
// soak, and 17-29 MiB an hour two at a time (docs/soak.md, "Frames two at a time"; the cause
// inside isolated-vm is not gone, only slowed). A call still running when the next
// tick comes holds no lane of that tick, so a stuck plugin cannot hold the others back for more
// than one frame; the calls a tick had no lane for are `late`, due again at once and first in
// line, and the order turns every tick so no plugin is always last.

export type {
  EncodedFrame,
  EventKind,
  PluginSpec,
  PluginState,
  PluginStats,
  RuntimeEvent,
  Timers,
} from './types.ts';
export { realTimers } from './types.ts';

export type EngineInit = {
  frameRate: number;
  width: number;
  height: number;
  clock: SessionClock;
  policy?: Partial<FaultPolicy>;
  /** Monotonic ms. */
  now?: () => number;
  timers?: Timers;
  /** Loads one plugin; default: a real isolate (createSandbox). */
  load?: (init: SandboxInit) => Promise<LoadResult>;
  watchdog?: CpuWatchdog;
  /**
   * CPU all plugins together may use per second, ms, shared fairly (cpu-share.ts). Default: every
   * core but one (at least one), so the daemon and the frame loop keep a core of their own.
   */
  cpuMsPerSecond?: number;
  /** Frame calls of one tick that run at once (default DEFAULT_LANES). */
  lanes?: number;
  /** Whether some output page watches at start (default true: every plugin draws). */
  watched?: boolean;
  /**
   * Ticks per second while no page watches, for the plugins that declare writes (default 10,
   * never above frameRate); 0 pauses them too.
   */
  idleFps?: number;
  /**
   * Whether anything outside the picture takes what plugins write (a linked peer, an OSC or MIDI
   * feedback target, an OSCQuery listener, a console; the daemon decides). Default true. While
   * no page watches and this is false, the writers are paused too and the loop stops.
   */
  writesNeeded?: boolean;
  onFrame(frame: EncodedFrame): void;
  onWrites(plugin: string, writes: PluginWrite[]): void;
  onEvent(event: RuntimeEvent): void;
  onCatastrophicError?(plugin: string, message: string): void;
};

export type Engine = {
  /** Replaces the plugin list (order = layer order). Unchanged plugins keep running. */
  setPlugins(specs: readonly PluginSpec[], quarantined?: Iterable<string>): void;
  updateParams(values: Readonly<Record<string, ParamValue>>): void;
  /** Queues fired triggers for the plugins that read them: each reaches that plugin's next frame. */
  pushEvents(events: readonly TriggerEvent[]): void;
  /** Re-enables a quarantined plugin; false if there is no such plugin or it is not quarantined. */
  enable(id: string): boolean;
  /**
   * Whether an output page watches. Without one nothing is composed, plugins that only draw are
   * paused (their isolates stay loaded), and plugins that declare writes run at idleFps: their
   * writes still reach the show, which peers and controllers see without a page here.
   */
  setWatched(watched: boolean): void;
  /** Whether the writers' writes have an audience while no page watches (EngineInit.writesNeeded). */
  setWritesNeeded(needed: boolean): void;
  stats(): PluginStats[];
  /** Frames emitted, and frames whose layers had to be trimmed to MAX_COMPOSED_BYTES. */
  totals(): { frames: number; trimmed: number };
  close(): void;
};

type Batch = { index: number; time: number; beat: number; tempo: number; waiting: number; emitted: boolean };

/** Weight of the newest frame in a plugin's CPU average: about the last 10 frames count. */
const CPU_AVG_WEIGHT = 0.2;
/** Triggers kept for one plugin's next frame (docs/plugins.md: "at most 64 per frame"). */
export const MAX_EVENTS_PER_FRAME = 64;

/** The slot's queued triggers, handed to exactly one frame call: a hit never fires twice. */
function takeEvents(slot: Slot): TriggerEvent[] {
  const events = slot.events;
  if (events.length > 0) slot.events = [];
  return events;
}
const BASE_LOAD_TIMEOUT_MS = 2000;
/**
 * Two: a plugin that runs to its time limit leaves a lane to the others, and one lane kept the
 * native heap no lower than two did (docs/soak.md, "Frames two at a time").
 */
export const DEFAULT_LANES = 2;
const MAX_LOAD_TIMEOUT_MS = 16_000;

export function createEngine(init: EngineInit): Engine {
  const policy: FaultPolicy = { ...DEFAULT_POLICY, ...init.policy };
  const now = init.now ?? (() => performance.now());
  const timers = init.timers ?? realTimers;
  const load = init.load ?? createSandbox;
  const watchdog = init.watchdog ?? createCpuWatchdog();
  const idleFps = Math.max(0, Math.min(init.frameRate, init.idleFps ?? 10));
  let watched = init.watched ?? true;
  let writesNeeded = init.writesNeeded ?? true;
  const params = new Map<string, ParamValue>();
  let slots: Slot[] = [];
  let batch: Batch | undefined;
  const lanes = Math.max(1, Math.floor(init.lanes ?? DEFAULT_LANES));
  /** The current tick's due plugins that have no lane yet, and the calls of that tick under way. */
  let queue: Slot[] = [];
  let busyLanes = 0;
  let frameIndex = 0;
  let trimmed = 0;
  let closed = false;
  let started = now();
  let ticks = 0;
  let tickTimer: unknown;

  const writes = (s: Slot) => s.spec.manifest.writes.length > 0;
  /** Runs while unwatched: it writes, and something takes its writes. */
  const unwatchedRuns = (s: Slot) => writesNeeded && writes(s);
  /** Ticks per second now; 0 while nothing would run (unwatched, and no needed writer or idleFps 0). */
  const tickRate = () => (watched ? init.frameRate : idleFps > 0 && slots.some(unwatchedRuns) ? idleFps : 0);

  const emitEvent = (slot: Slot, kind: EventKind, reason: string, extra: Partial<RuntimeEvent> = {}) =>
    init.onEvent({ kind, plugin: slot.id, reason, ...extra });
  const shares = createShares({
    cpuMsPerSecond: init.cpuMsPerSecond ?? 1000 * Math.max(1, availableParallelism() - 1),
    say: (id, kind, reason) => init.onEvent({ kind, plugin: id, reason, code: kind }),
  });

  const makeSlot = (spec: PluginSpec, quarantined: boolean): Slot =>
    createSlot(spec, {
      quarantined,
      frameRate: init.frameRate,
      tracker: createFaultTracker(policy, now),
      params,
    });

  function drop(slot: Slot): void {
    slot.generation++;
    if (slot.retry !== undefined) timers.clear(slot.retry);
    slot.retry = undefined;
    slot.sandbox?.dispose();
    slot.sandbox = undefined;
    slot.inFlight = false;
    slot.layer = undefined;
  }

  function start(slot: Slot): void {
    drop(slot);
    slot.state = 'starting';
    const generation = slot.generation;
    const m = slot.spec.manifest;
    void load({
      manifest: m,
      entrySource: slot.spec.entrySource,
      width: init.width,
      height: init.height,
      watchdog,
      ...(slot.loadTimeoutMs ? { loadTimeoutMs: slot.loadTimeoutMs } : {}),
      onCatastrophicError: (message) => init.onCatastrophicError?.(slot.id, message),
    }).then(loaded, (err: unknown) =>
      // createSandbox resolves every failure it knows; a throw (e.g. from isolated-vm itself) is one more.
      loaded({
        ok: false,
        code: 'exception',
        error: `could not create its isolate: ${String(err).slice(0, 300)}`,
      }),
    );

    function loaded(r: LoadResult): void {
      if (closed || slot.generation !== generation || !slots.includes(slot)) {
        if (r.ok) r.sandbox.dispose();
        return;
      }
      if (!r.ok) {
        if (r.code === 'starved') {
          // The machine, not the plugin: load again with more wall time, and count nothing.
          slot.stats.starved++;
          slot.loadTimeoutMs = Math.min(
            MAX_LOAD_TIMEOUT_MS,
            2 * (slot.loadTimeoutMs ?? BASE_LOAD_TIMEOUT_MS),
          );
          emitEvent(slot, 'starved', r.error, { code: 'starved' });
          retry(slot, policy.backoffMs);
          return;
        }
        slot.stats.lastError = `${r.code}: ${r.error}`;
        emitEvent(slot, 'load-failed', r.error, { code: r.code });
        decide(slot, slot.tracker.fault(true), r.error);
        return;
      }
      slot.loadTimeoutMs = undefined;
      slot.sandbox = r.sandbox;
      slot.state = 'running';
      slot.index = 0;
      slot.lastTime = undefined;
      slot.credit = 1;
      emitEvent(slot, 'started', `running ${m.id} ${m.version}`);
      if (r.sandbox.setupLogs.length) emitEvent(slot, 'log', 'setup', { items: [...r.sandbox.setupLogs] });
    }
  }

  function decide(slot: Slot, verdict: ReturnType<FaultTracker['fault']>, reason: string): void {
    if (verdict.action === 'continue') return;
    drop(slot);
    if (verdict.action === 'quarantine') {
      slot.state = 'quarantined';
      const why = `${verdict.restarts} restarts within ${policy.windowMs / 1000} s; last fault: ${reason}`;
      slot.stats.lastError = `quarantined: ${why}`;
      emitEvent(slot, 'quarantine', why);
      return;
    }
    slot.stats.restarts++;
    const why =
      verdict.faults > 1
        ? `${verdict.faults} faulty frames among its last ${policy.faultWindowFrames}; last: ${reason}`
        : reason;
    emitEvent(slot, 'restart', why, { delayMs: verdict.delayMs, attempt: verdict.attempt, code: 'restart' });
    retry(slot, verdict.delayMs);
  }

  function retry(slot: Slot, delayMs: number): void {
    slot.state = 'backoff';
    const generation = slot.generation;
    slot.retry = timers.set(delayMs, () => {
      if (!closed && slot.generation === generation && slots.includes(slot)) start(slot);
    });
  }

  const KIND: Record<string, EventKind> = {
    overrun: 'overrun',
    exception: 'exception',
    'invalid-output': 'invalid-output',
    memory: 'memory',
    escape: 'escape',
    hung: 'hung',
    disposed: 'exception',
  };

  function handle(slot: Slot, outcome: FrameOutcome): void {
    slot.cpuAvgMs += CPU_AVG_WEIGHT * (outcome.cpuMs - slot.cpuAvgMs);
    if (outcome.logs.length) emitEvent(slot, 'log', 'frame', { items: outcome.logs });
    if (outcome.ok) {
      slot.stats.frames++;
      slot.layer = outcome.json;
      slot.tracker.ok();
      if (outcome.writes.length) init.onWrites(slot.id, outcome.writes);
      // Past the per-frame caps the sandbox keeps counting, not collecting: say what was lost.
      if (outcome.droppedWrites || outcome.droppedLogs) {
        emitEvent(
          slot,
          'log',
          `dropped ${outcome.droppedWrites} hana.set call(s) and ${outcome.droppedLogs} log line(s) over this frame's caps`,
          { items: [] },
        );
      }
      if (outcome.refused.length) {
        slot.stats.refusedWrites += outcome.refused.length;
        emitEvent(slot, 'undeclared-write', `wrote ${outcome.refused.join(', ')}, not declared in writes`, {
          items: outcome.refused,
        });
      }
      return;
    }
    if (outcome.code === 'starved') {
      // Lost to a loaded machine: not the plugin's fault, so not in its fault window.
      slot.stats.starved++;
      emitEvent(slot, 'starved', outcome.error, { code: 'starved' });
      return;
    }
    if (outcome.code === 'overrun') slot.stats.overruns++;
    slot.stats.lastError = `${outcome.code}: ${outcome.error}`;
    emitEvent(slot, KIND[outcome.code] ?? 'exception', outcome.error, {
      code: outcome.detail ?? outcome.code,
    });
    decide(slot, slot.tracker.fault(outcome.fatal), `${outcome.code}: ${outcome.error}`);
  }

  function runFrame(slot: Slot, b: Batch): void {
    const sandbox = slot.sandbox!;
    const generation = slot.generation;
    const time = b.time;
    const dt = slot.lastTime === undefined ? 0 : Math.max(0, time - slot.lastTime);
    slot.lastTime = time;
    slot.inFlight = true;
    const beat = b.beat;
    sandbox
      .frame({
        index: slot.index++,
        time,
        dt,
        beat,
        phase: beat - Math.floor(beat),
        tempo: b.tempo,
        width: init.width,
        height: init.height,
        params: slot.params,
        events: takeEvents(slot),
      })
      .then(
        (outcome) => {
          if (closed || slot.generation !== generation) return;
          slot.inFlight = false;
          handle(slot, outcome);
        },
        (err: unknown) => {
          // createSandbox's frame() resolves every failure; a rejection is a bug, reported as one.
          if (closed || slot.generation !== generation) return;
          slot.inFlight = false;
          handle(slot, {
            ok: false,
            code: 'exception',
            fatal: true,
            error: `internal error: ${String(err)}`,
            logs: [],
            cpuMs: 0,
          });
        },
      )
      .finally(() => {
        b.waiting--;
        // A straggler from an earlier tick holds no lane of this one (tick() started over).
        if (b !== batch) return;
        busyLanes--;
        pump();
      });
  }

  /** Starts the current tick's queued calls while lanes are free; emits its frame once all settled. */
  function pump(): void {
    const b = batch;
    if (closed || !b) return;
    while (busyLanes < lanes && queue.length > 0) {
      const slot = queue.shift()!;
      // Stopped, restarted or dropped while it waited: nothing to call this tick.
      if (slot.state !== 'running' || slot.inFlight || !slot.sandbox) {
        b.waiting--;
        continue;
      }
      busyLanes++;
      runFrame(slot, b);
    }
    if (b.waiting === 0 && !b.emitted) emit(b);
  }

  function emit(b: Batch): void {
    b.emitted = true;
    if (!watched) return; // no page: the writers ran for their writes, nobody needs the picture
    const drawn = slots.filter((s) => s.state === 'running' && s.layer !== undefined);
    const frame = shares.compose({ ...b, width: init.width, height: init.height }, drawn);
    if (frame.trimmed) trimmed++;
    init.onFrame({ index: b.index, time: b.time, json: frame.json });
  }

  function tick(): void {
    if (closed) return;
    if (batch && !batch.emitted) emit(batch); // stragglers are simply not in that frame
    // Those the last tick had no lane for: owed their frame again, and first in line now.
    for (const slot of queue) {
      slot.credit = Math.min(1, slot.credit + 1);
      slot.late = true;
      slot.stats.late++;
    }
    queue = [];
    busyLanes = 0;
    const c = init.clock();
    const finite = (n: number, fallback: number) => (Number.isFinite(n) ? n : fallback);
    const b: Batch = {
      index: frameIndex++,
      time: finite(c.timeMs, 0) / 1000,
      beat: finite(c.beat, 0),
      tempo: finite(c.tempo, 120),
      waiting: 0,
      emitted: false,
    };
    batch = b;
    const running = slots.filter((s) => s.state === 'running' && (watched || unwatchedRuns(s)));
    const rates = shares.rates(running);
    const rate = watched ? init.frameRate : idleFps;
    const due: Slot[] = [];
    const turn = running.length > 0 ? b.index % running.length : 0;
    for (let k = 0; k < running.length; k++) {
      const i = (k + turn) % running.length;
      const slot = running[i]!;
      const fps = slot.fps;
      const before = slot.credit;
      slot.credit = Math.min(1, slot.credit + rates[i]! / rate);
      if (slot.inFlight) continue;
      if (slot.credit < 1 - 1e-9) {
        // Would it have run at its own fps? Then its CPU share held it back this tick.
        if (slot.throttled && Math.min(1, before + fps / rate) >= 1 - 1e-9) slot.stats.throttled++;
        continue;
      }
      slot.credit -= 1;
      due.push(slot);
    }
    queue = [...due.filter((s) => s.late), ...due.filter((s) => !s.late)];
    for (const slot of queue) slot.late = false;
    b.waiting = queue.length;
    pump();
    schedule();
  }

  function schedule(): void {
    const rate = tickRate();
    if (rate === 0) {
      // Nothing to run until a page watches or a writer arrives (setWatched, setPlugins).
      tickTimer = undefined;
      watchdog.setIdle(true);
      return;
    }
    watchdog.setIdle(false);
    const period = 1000 / rate;
    ticks++;
    let due = started + ticks * period;
    const t = now();
    if (due < t - period) {
      // Fell behind by more than a frame (a stall): skip ahead rather than burst.
      started = t;
      ticks = 0;
      due = t;
    }
    tickTimer = timers.set(Math.max(0, due - t), tick);
  }

  /** Starts the loop over at the current rate, with a tick now. */
  function restartLoop(): void {
    if (closed) return;
    timers.clear(tickTimer);
    started = now();
    ticks = 0;
    watchdog.setIdle(false);
    tickTimer = timers.set(0, tick);
  }

  tickTimer = timers.set(0, tick);

  return {
    setPlugins(specs, quarantined = []) {
      const q = new Set(quarantined);
      const old = new Map(slots.map((s) => [s.id, s]));
      const next: Slot[] = [];
      const fresh: Slot[] = [];
      for (const spec of specs) {
        const id = spec.manifest.id;
        if (next.some((s) => s.id === id)) continue; // one slot per id; the first one wins
        const prev = old.get(id);
        if (prev && prev.key === keyOf(spec)) {
          old.delete(id);
          next.push(prev);
          continue;
        }
        const slot = makeSlot(spec, q.has(id));
        next.push(slot);
        if (slot.state === 'starting') fresh.push(slot);
      }
      for (const gone of old.values()) {
        drop(gone);
        gone.state = 'stopped';
      }
      slots = next;
      for (const slot of fresh) start(slot);
      if (tickTimer === undefined && tickRate() > 0) restartLoop();
    },
    setWatched(w) {
      if (w === watched) return;
      watched = w;
      // A page that appears gets a fresh frame at once, not after an idle period.
      restartLoop();
    },
    setWritesNeeded(needed) {
      if (needed === writesNeeded) return;
      writesNeeded = needed;
      if (!watched) restartLoop();
    },
    pushEvents(events) {
      for (const e of events)
        for (const slot of slots) {
          if (!slot.permissions.canRead(e.address)) continue;
          // A plugin that gets no frames for a while (starting, quarantined) must not hoard hits.
          if (slot.events.length >= MAX_EVENTS_PER_FRAME) slot.events.shift();
          slot.events.push(e);
        }
    },
    updateParams(values) {
      for (const [path, value] of Object.entries(values)) {
        params.set(path, value);
        for (const slot of slots) if (slot.permissions.canRead(path)) slot.params[path] = value;
      }
    },
    enable(id) {
      const slot = slots.find((s) => s.id === id);
      if (slot?.state !== 'quarantined') return false;
      slot.tracker.reset();
      slot.stats.lastError = null;
      start(slot);
      return true;
    },
    stats: () => {
      const t = now();
      return slots.map((s) => {
        const m = s.fpsMark;
        // Measured over at least a second, so the 250 ms reports do not make it jitter.
        if (t - m.at >= 1000) {
          m.fps = m.at === 0 ? 0 : ((s.stats.frames - m.frames) * 1000) / (t - m.at);
          m.at = t;
          m.frames = s.stats.frames;
        }
        const running = s.state === 'running';
        return {
          ...s.stats,
          state: s.state,
          fps: running ? Math.round(m.fps * 10) / 10 : 0,
          cpuMs: running ? Math.max(0, Math.round(s.cpuAvgMs * 1000) / 1000) : 0,
        };
      });
    },
    totals: () => ({ frames: frameIndex, trimmed }),
    close() {
      closed = true;
      timers.clear(tickTimer);
      for (const slot of slots) {
        drop(slot);
        slot.state = 'stopped';
      }
      if (!init.watchdog) watchdog.close();
    },
  };
}
