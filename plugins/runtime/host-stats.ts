import { type PluginSpec, type PluginStats, zeroCounters as zero } from './types.ts';

// The daemon side's book of what the plugin host reports: per-plugin stats as the current child
// last sent them, plus what earlier children counted, so counters survive a crash; and the
// host's frame totals the same way. Kept apart from host.ts, which runs the process.

const COUNTERS = [
  'frames',
  'overruns',
  'restarts',
  'refusedWrites',
  'starved',
  'leftOut',
  'throttled',
  'late',
] as const;
type Counters = Pick<PluginStats, (typeof COUNTERS)[number]>;

export type FrameTotals = { frames: number; droppedFrames: number; trimmedFrames: number };

/** A successor's last report before it took over: what it counted while nobody saw its frames. */
export type WarmupCounters = {
  plugins: readonly PluginStats[];
  droppedFrames: number;
  trimmedFrames: number;
};

export type HostStatsBook = {
  /** The child's periodic report. */
  report(plugins: PluginStats[], droppedFrames: number, trimmedFrames: number): void;
  frame(): void;
  /** A state change between reports (started, restart, quarantine). */
  follow(e: { kind: string; plugin?: string; reason: string }): void;
  /**
   * The child ended: what it counted becomes the base of the next one. `handedOver`: a planned
   * renewal, whose successor is already drawing, so fps and CPU a frame are kept until it reports;
   * `warmup`: the successor's last report before it took over, which counts frames nobody saw and
   * is taken off the base so its next reports do not count them again.
   */
  childEnded(handedOver?: boolean, warmup?: WarmupCounters): void;
  /** The operator re-enabled a plugin: show it starting until the child says more. */
  enabling(id: string): void;
  isQuarantinedNow(id: string): boolean;
  totals(): FrameTotals;
  plugins(
    specs: readonly PluginSpec[],
    quarantined: ReadonlySet<string>,
    held: ReadonlySet<string>,
  ): PluginStats[];
};

export function createHostStatsBook(): HostStatsBook {
  let current: PluginStats[] = [];
  const base = new Map<string, Counters>();
  let totals: FrameTotals = { frames: 0, droppedFrames: 0, trimmedFrames: 0 };
  let totalsBase: FrameTotals = { frames: 0, droppedFrames: 0, trimmedFrames: 0 };

  return {
    report(plugins, droppedFrames, trimmedFrames) {
      current = plugins;
      totals = { frames: totals.frames, droppedFrames, trimmedFrames };
    },
    frame() {
      totals.frames++;
    },
    follow(e) {
      const s = current.find((c) => c.id === e.plugin);
      if (!s) return;
      if (e.kind === 'started') s.state = 'running';
      else if (e.kind === 'restart') s.state = 'backoff';
      else if (e.kind === 'quarantine') {
        s.state = 'quarantined';
        s.lastError = `quarantined: ${e.reason}`;
      }
    },
    childEnded(handedOver = false, warmup) {
      for (const s of current) {
        const b = base.get(s.id) ?? zero();
        for (const k of COUNTERS) b[k] += s[k];
        base.set(s.id, b);
      }
      for (const w of warmup?.plugins ?? []) {
        const b = base.get(w.id) ?? zero();
        for (const k of COUNTERS) b[k] -= w[k];
        base.set(w.id, b);
      }
      current = current.map((s) => ({ ...s, ...zero(), ...(handedOver && { fps: s.fps, cpuMs: s.cpuMs }) }));
      totalsBase = {
        frames: 0,
        droppedFrames: totalsBase.droppedFrames + totals.droppedFrames - (warmup?.droppedFrames ?? 0),
        trimmedFrames: totalsBase.trimmedFrames + totals.trimmedFrames - (warmup?.trimmedFrames ?? 0),
      };
      totals = { frames: totals.frames, droppedFrames: 0, trimmedFrames: 0 };
    },
    enabling(id) {
      const known = current.find((s) => s.id === id);
      if (known) {
        known.state = 'starting';
        known.lastError = null;
      }
    },
    isQuarantinedNow: (id) => current.find((s) => s.id === id)?.state === 'quarantined',
    totals: () => ({
      frames: totals.frames,
      droppedFrames: totalsBase.droppedFrames + totals.droppedFrames,
      trimmedFrames: totalsBase.trimmedFrames + totals.trimmedFrames,
    }),
    plugins(specs, quarantined, held) {
      return specs.map((p) => {
        const id = p.manifest.id;
        const reported = current.find((c) => c.id === id);
        const s: PluginStats = reported
          ? { ...reported }
          : {
              id,
              version: p.manifest.version,
              state: quarantined.has(id) ? 'quarantined' : 'starting',
              ...zero(),
              lastError: null,
            };
        if (held.has(id) && !quarantined.has(id)) {
          s.state = 'held';
          s.lastError = 'held out of the plugin host while a crash that named no plugin is bisected';
        }
        const b = base.get(id);
        if (b) for (const k of COUNTERS) s[k] += b[k];
        return s;
      });
    },
  };
}
