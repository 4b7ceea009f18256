// Finding the plugin behind a crash that names none. A V8 fatal error (measured: a plugin
// running `'ab'.repeat(2**28 - 100).split('')` ends the plugin host with SIGTRAP, 600 MB of RSS
// and no word of which isolate), a segfault, the kernel's OOM killer, the host's own RSS ceiling
// or a hang take the whole plugin host down, and nothing says which plugin did it: restarting
// with every plugin again crashed 6 times in 16 s.
//
// The suspects are the plugins that were running at every crash of this bisection (one culprit
// is the assumption: a plugin that was not running at some crash did not cause it). Each step
// restarts the host without half of the suspects (they are held out) and with everything else,
// so the show keeps as much as it can. A crash keeps as suspects only those that ran; when one
// is left, it is the culprit and is quarantined. A step that stays up for the probation period
// says the culprit is probably among the held half, so that half is tried next; but a plugin is
// never cleared for having survived a while, because a slow culprit (one that grows the host's
// memory for a minute) would then get an innocent blamed. Two quiet steps in a row end the
// bisection blaming nobody (an operator's kill, say): every plugin runs again, and if the
// crashes come back, a new bisection starts. One plugin alone is blamed only after a second crash.
// Pure: the host (host.ts) runs the steps.

export type BisectStep =
  /** Restart the host (or reload the running one) with `run`; `held` stay out for now. */
  | { kind: 'step'; step: number; run: string[]; held: string[]; suspects: string[] }
  | { kind: 'found'; step: number; culprit: string; run: string[] }
  /** The crash did not come back: nobody is blamed, everything runs. */
  | { kind: 'cleared'; step: number; run: string[] };

export type Bisector = {
  readonly active: boolean;
  /** Plugins kept out of the host by the bisection now. */
  held(): ReadonlySet<string>;
  /** The step under way and its suspects (meaningful while active). */
  current(): { step: number; suspects: string[] };
  /**
   * A crash that named no plugin. `all`: every plugin that may run (not quarantined); `ran`:
   * those the crashed host was running. Undefined when nothing ran.
   */
  crashed(all: readonly string[], ran: readonly string[]): BisectStep | undefined;
  /** The host ran the current step for the probation period without crashing. */
  survived(): BisectStep;
  /** The plugin list changed under the bisection: it ends, nobody blamed. */
  abandon(): void;
};

export function createBisector(): Bisector {
  let active = false;
  let step = 0;
  let all: string[] = [];
  let suspects: string[] = [];
  let held = new Set<string>();
  let quietInARow = 0;

  function run(): string[] {
    return all.filter((id) => !held.has(id));
  }

  /** Holds out the half of the suspects not in `trying`. */
  function next(trying: readonly string[]): BisectStep {
    step++;
    held = new Set(suspects.filter((id) => !trying.includes(id)));
    return { kind: 'step', step, run: run(), held: [...held], suspects: [...suspects] };
  }

  function end(): void {
    active = false;
    held = new Set();
    suspects = [];
    quietInARow = 0;
  }

  return {
    get active() {
      return active;
    },
    held: () => held,
    current: () => ({ step, suspects: [...suspects] }),
    crashed(everyone, ran) {
      all = [...everyone];
      if (!active) {
        if (ran.length === 0) return undefined;
        active = true;
        step = 0;
        suspects = [...ran];
        quietInARow = 0;
        return next(suspects.slice(0, Math.ceil(suspects.length / 2)));
      }
      quietInARow = 0;
      suspects = suspects.filter((id) => ran.includes(id));
      if (suspects.length === 1) {
        const culprit = suspects[0]!;
        step++;
        end();
        return { kind: 'found', step, culprit, run: all.filter((id) => id !== culprit) };
      }
      if (suspects.length === 0) {
        // The crashes do not share a plugin: not one culprit (or a kill from outside).
        step++;
        end();
        return { kind: 'cleared', step, run: all };
      }
      return next(suspects.slice(0, Math.ceil(suspects.length / 2)));
    },
    survived() {
      quietInARow++;
      if (held.size === 0 || quietInARow >= 2) {
        step++;
        end();
        return { kind: 'cleared', step, run: all };
      }
      // Quiet without the held half: try that half instead.
      return next([...held]);
    },
    abandon: end,
  };
}

/** The log line and event code of a step; `how`: what ended the step (a crash, a quiet period). */
export function describeStep(
  s: BisectStep,
  how: string,
  total: number,
): { code: 'bisect-step' | 'bisect-found' | 'bisect-clear'; reason: string; plugin?: string } {
  if (s.kind === 'step') {
    return {
      code: 'bisect-step',
      reason: `bisection step ${s.step} after ${how}: running ${s.run.length} of ${total} plugins, ${s.suspects.length} suspect(s) (${s.suspects.join(', ')}); held out: ${s.held.join(', ') || 'none'}`,
    };
  }
  if (s.kind === 'found') {
    return {
      code: 'bisect-found',
      plugin: s.culprit,
      reason: `bisection found ${s.culprit} in ${s.step} step(s): the only plugin running at every crash (the last: ${how})`,
    };
  }
  return {
    code: 'bisect-clear',
    reason: `bisection ended after ${s.step} step(s) (${how}): the crash did not come back, or the crashes share no plugin; nobody is blamed`,
  };
}
