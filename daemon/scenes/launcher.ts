import type { ClockReading } from '../clock/session-clock.ts';
import { nextBoundary, timeAt } from '../clock/timeline.ts';
import type { Stamp } from '../state/hlc.ts';
import type { Store } from '../state/store.ts';
import { encodeLaunch, LAUNCH_PATH } from './launch-record.ts';
import { type FadeLength, formatFade, type LaunchAt } from './launch-spec.ts';
import { type LoadResult, loaded, type SceneFailure, type Scenes } from './scenes.ts';

// `hana scene load NAME --fade … --at …` on the laptop that launches: the start is chosen here,
// once, as a beat of the shared timeline, and written with the scene's targets in one batch
// (launch-record.ts says why one batch). Without --fade and --at (or with `--at now` and no
// fade) it is the plain load it always was: one batch, applied at once, no record.

/**
 * The least time between deciding a launch and its start: the launch must reach every laptop
 * first (a LAN takes about a ms; a loaded laptop's event loop far longer). Closer than this,
 * the launch takes the bar or beat after.
 */
export const MIN_LEAD_MS = 50;

export type LaunchInit = {
  scenes: Scenes;
  /** The store itself, not the fade view: the batch replicates like any write. */
  store: Store;
  /** The stamp clock, to say which of this laptop's writes come after it. */
  hlc: { peek(): Stamp };
  clock(): ClockReading;
  /** Beats in a bar (abletonLink.quantum). */
  quantum(): number;
};

export type LaunchPlan = { at: LaunchAt; startBeat: number | null; startMs: number; fade: string };
export type LaunchResult =
  | (Extract<LoadResult, { ok: true }> & { launch: LaunchPlan | null })
  | SceneFailure
  | { ok: false; code: 'no-beat'; error: string };

export type Launcher = {
  launch(name: string, opts: { fade: FadeLength; at: LaunchAt }): Promise<LaunchResult>;
};

export function createLauncher(init: LaunchInit): Launcher {
  return {
    async launch(name, { fade, at }) {
      const p = await init.scenes.prepare(name);
      if (!p.ok) return p;
      const source = `scene:${p.name}`;
      if (at === 'now' && fade.length === 0) {
        const changes = p.writes.length ? init.store.apply(p.writes, source) : [];
        return { ...loaded(p, changes), launch: null };
      }
      const r = init.clock();
      const needsBeat = at !== 'now' || fade.unit === 'beats';
      if (needsBeat && r.beat === null) {
        return {
          ok: false,
          code: 'no-beat',
          error: `there is no shared beat yet, so --at ${at}${fade.unit === 'beats' ? ` and a fade in beats` : ''} cannot be placed: set a tempo first (\`hana set /tempo 120\`), or use --at now with a fade in seconds`,
        };
      }
      let startBeat: number | null = r.beat;
      let startMs = r.timeMs;
      if (r.beat !== null && r.timeline && at !== 'now') {
        const q = at === 'bar' ? init.quantum() : 1;
        // beat + (q − phase) lands a rounding error off the boundary (13.000000000000002):
        // the start is a whole bar or beat, as every laptop and `hana scene status` show it.
        startBeat = Math.round(nextBoundary(r.beat, q) / q) * q;
        startMs = timeAt(r.timeline, startBeat);
        // A boundary a few ms away would start before the other laptops hear of the launch.
        if (startMs - r.timeMs < MIN_LEAD_MS) {
          startBeat += q;
          startMs = timeAt(r.timeline, startBeat);
        }
      }
      const after = init.hlc.peek();
      const record = encodeLaunch({
        scene: p.name,
        startBeat,
        startMs,
        fade,
        after: { t: after.t, c: after.c },
      });
      // The record last: its stamp closes the range of writes it governs.
      const changes = init.store.apply([...p.writes, { path: LAUNCH_PATH, value: record }], source);
      return {
        ...loaded(p, changes.slice(0, -1)),
        launch: { at, startBeat, startMs, fade: formatFade(fade) },
      };
    },
  };
}

/** What the audit log records of a load, whoever asked for it (CLI or OSC). */
export function loadRecord(r: Extract<LaunchResult, { ok: true }>): Record<string, unknown> {
  return {
    name: r.name,
    applied: r.applied,
    changed: r.changed,
    skipped: r.skipped.length,
    clamped: r.clamped.length,
    ...(r.launch && { at: r.launch.at, fade: r.launch.fade, startBeat: r.launch.startBeat }),
    ...(r.skipped.length > 0 && { skippedPaths: r.skipped.slice(0, 20).map((s) => s.path) }),
  };
}
