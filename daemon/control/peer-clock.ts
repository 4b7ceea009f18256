// How a linked peer's clock sits against the drift bound (sync.maxDriftMs), for `hana peers`.
// A peer ahead by more than the bound has its writes refused here as too far in the future; a
// peer behind by as much refuses ours. Past 75 % an operator should act before the show: a
// restarted daemon's stamps run up to a quarter of the bound ahead (daemon/state/clock-mark.ts),
// so beyond that the next restart alone can push writes over.

export const NEAR_BOUND = 0.75;

export type PeerClock = {
  /** Peer clock minus ours, ms; null until measured. */
  offsetMs: number | null;
  offsetErrorMs: number | null;
  boundMs: number;
  state: 'unmeasured' | 'ok' | 'near-bound' | 'beyond-bound';
  /** One sentence for the operator when state is near-bound or beyond-bound. */
  warning: string | null;
};

/** "750 ms", "1.6 s", "2 s". */
export function formatSpan(ms: number): string {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)} ms`;
  return `${(a / 1000).toFixed(1).replace(/\.0$/, '')} s`;
}

export function assessPeerClock(
  name: string,
  offsetMs: number | null,
  offsetErrorMs: number | null,
  boundMs: number,
): PeerClock {
  const base = { offsetMs, offsetErrorMs, boundMs };
  if (offsetMs === null) return { ...base, state: 'unmeasured', warning: null };
  const size = Math.abs(offsetMs);
  if (size <= boundMs * NEAR_BOUND) return { ...base, state: 'ok', warning: null };
  const beyond = size > boundMs;
  const ahead = offsetMs > 0;
  const where = `clock ${formatSpan(offsetMs)} ${ahead ? 'ahead of' : 'behind'} this laptop`;
  const bound = `${beyond ? 'beyond' : 'near'} the ${formatSpan(boundMs)} bound`;
  // Ahead: its stamps look like the future here. Behind: ours look like the future there.
  const effect = beyond
    ? ahead
      ? 'its writes are refused here'
      : 'writes from this laptop are refused there'
    : ahead
      ? 'its writes will be refused here if it drifts further'
      : 'writes from this laptop will be refused there if it drifts further';
  const fix = ahead ? `check NTP on ${name}` : `check NTP on ${name} and on this laptop`;
  return {
    ...base,
    state: beyond ? 'beyond-bound' : 'near-bound',
    warning: `${name}: ${where}, ${bound} (${effect}): ${fix}`,
  };
}
