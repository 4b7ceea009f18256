import { type Composed, composeFrame, type FrameHead } from './compose.ts';
import { cpuShares } from './cpu-share.ts';
import type { PluginStats } from './types.ts';

// The frame engine's two shared budgets, applied to its running plugins each tick: the CPU all
// plugins may use together (cpu-share.ts: each plugin's frame rate within its fair share) and
// the composed frame's bytes (compose.ts: which layers are in this frame). A plugin held back by
// either is told once, when it starts (`cpu-share`, `over-share`), and counted every frame.

/** What the shares read and keep of one running plugin. */
export type SharedPlugin = {
  readonly id: string;
  /** The rate it asks for: its manifest fps, capped by the runtime's frame rate. */
  readonly fps: number;
  /** Running average of its CPU per frame, ms. */
  readonly cpuAvgMs: number;
  /** Its latest display list, as JSON. */
  readonly layer: string | undefined;
  /** Held below its fps by its CPU share at the last tick. */
  throttled: boolean;
  /** Left out of the last composed frame. */
  leftOut: boolean;
  readonly stats: PluginStats;
};

export type SharesInit = {
  cpuMsPerSecond: number;
  say(id: string, kind: 'cpu-share' | 'over-share', reason: string): void;
};

export type Shares = {
  /** Each plugin's frame rate now (fps), in the order given. */
  rates(running: readonly SharedPlugin[]): number[];
  /** The composed frame of the drawn plugins' layers, in layer order. */
  compose(head: FrameHead, drawn: readonly SharedPlugin[]): Composed;
};

export function createShares(init: SharesInit): Shares {
  return {
    rates(running) {
      const rates = cpuShares(
        running.map((p) => ({ fps: p.fps, cpuMsPerFrame: p.cpuAvgMs })),
        init.cpuMsPerSecond,
      );
      for (let i = 0; i < running.length; i++) {
        const p = running[i]!;
        const throttled = rates[i]! < 0.95 * p.fps;
        if (throttled && !p.throttled) {
          init.say(
            p.id,
            'cpu-share',
            `uses ${p.cpuAvgMs.toFixed(1)} ms of CPU a frame; within its fair share of the plugins' ${init.cpuMsPerSecond} ms a second it runs at ${rates[i]!.toFixed(1)} fps instead of ${p.fps}`,
          );
        }
        p.throttled = throttled;
      }
      return rates;
    },
    compose(head, drawn) {
      const layers = drawn.map((p) => ({ id: p.id, json: p.layer ?? '[]' }));
      const frame = composeFrame(head, layers);
      for (let i = 0; i < drawn.length; i++) {
        const p = drawn[i]!;
        const out = frame.trimmed && frame.leftOut.includes(p.id);
        if (out) p.stats.leftOut++;
        if (out && !p.leftOut) {
          init.say(
            p.id,
            'over-share',
            `its layer (${Math.round(layers[i]!.json.length / 1024)} KiB) is over its fair share of the composed frame (${Math.round(frame.shareBytes / 1024)} KiB) and did not fit beside the others: it is left out of some frames`,
          );
        }
        p.leftOut = out;
      }
      return frame;
    },
  };
}
