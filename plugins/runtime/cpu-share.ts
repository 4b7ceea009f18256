// One CPU budget for all plugins, shared max-min fairly. Each plugin's own limit
// (`cpuMsPerFrame` at its `fps`) says nothing of the others: eight plugins at 8 ms a frame and
// 60 fps ask for almost four cores. So the runtime has a CPU capacity per second for all
// plugins together; a plugin whose demand (its measured CPU per frame × its fps) fits within an
// equal share runs at its full rate, and what such plugins leave over is split equally among
// the heavier ones, which run at a lower frame rate (their last layer stays on screen). A light
// plugin is never slowed down by heavy neighbours, however many there are.

export type CpuDemand = {
  /** The rate the plugin asks for (its fps, capped by the runtime's frame rate). */
  readonly fps: number;
  /** Its CPU per frame, ms (a running average of what its isolate measured). */
  readonly cpuMsPerFrame: number;
};

/** Frames per second each plugin may run at so that together they fit `capacityMsPerSecond`. */
export function cpuShares(demands: readonly CpuDemand[], capacityMsPerSecond: number): number[] {
  const n = demands.length;
  const rates = demands.map((d) => d.fps);
  const need = demands.map((d) => d.fps * Math.max(0, d.cpuMsPerFrame));
  let total = 0;
  for (const x of need) total += x;
  if (total <= capacityMsPerSecond) return rates; // the common case: everyone fits
  const order = [...need.keys()].sort((a, b) => need[a]! - need[b]!);
  let left = capacityMsPerSecond;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    const share = left / (n - k);
    const given = Math.min(need[i]!, share);
    left -= given;
    if (given < need[i]!) rates[i] = demands[i]!.fps * (given / need[i]!);
  }
  return rates;
}
