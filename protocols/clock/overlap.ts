// What round trips tell about a remote clock, for hana's sync links (daemon/sync/clock.ts) and
// for measuring a Link peer (protocols/link/measure.ts) alike.
//
// An exchange stamps our clock when a message leaves and when the answer arrives, and the remote
// clock in between. Neither leg can take less than nothing, so the remote clock's offset from
// ours lies within half the round trip of what the exchange measured, however lopsided the path
// was (a pong read late by a busy event loop, a ping queued on Wi-Fi): every exchange is an
// interval that holds the truth. Their overlap holds it too, and its middle is the estimate
// that can be furthest off by the least. Older exchanges are widened by how far the two clocks
// may have drifted apart since.

/**
 * Assumed worst-case rate difference between two hosts' clocks: quartz clocks hold about ±50 ppm
 * each, so 100 ppm apart. Widens older exchanges here, and an estimate no longer renewed in the
 * session clock.
 */
export const DRIFT_PPM = 100;

/** One exchange: the offset it measured, its round trip, and our clock when it ended (one unit). */
export type Exchange = { readonly offset: number; readonly delay: number; readonly at: number };

/**
 * The exchange, or undefined when it measures nothing: a round trip shorter than nothing (a
 * clock stepped mid-exchange, a time echoed from the future) or a time that is not a number.
 */
export function exchangeOf(offset: number, delay: number, at: number): Exchange | undefined {
  return delay >= 0 && Number.isFinite(offset) && Number.isFinite(at) ? { offset, delay, at } : undefined;
}

export type Overlap = {
  /** The middle of the overlap. */
  offset: number;
  /** Half its width: the truth is within this of `offset`. */
  error: number;
  /** Exchanges it rests on: the newest ones, back to the first that no longer overlaps. */
  used: number;
};

/**
 * The overlap of `exchanges` (oldest first), walked from the newest back. An older exchange that
 * cannot hold the same truth as the newer ones (the remote clock moved more than `driftRate`
 * allows, or answered wrongly) ends the walk: the newer ones win at once. `slack` widens every
 * interval by the clocks' rounding (whole µs on Link's wire).
 */
export function overlapOf(exchanges: readonly Exchange[], driftRate: number, slack = 0): Overlap | undefined {
  const newest = exchanges.at(-1);
  if (!newest) return undefined;
  let lo = Number.NEGATIVE_INFINITY;
  let hi = Number.POSITIVE_INFINITY;
  let used = 0;
  for (let i = exchanges.length - 1; i >= 0; i--) {
    const x = exchanges[i]!;
    const half = x.delay / 2 + slack + (newest.at - x.at) * driftRate;
    const nextLo = Math.max(lo, x.offset - half);
    const nextHi = Math.min(hi, x.offset + half);
    if (nextLo > nextHi) break;
    lo = nextLo;
    hi = nextHi;
    used++;
  }
  // Only an exchange exchangeOf refuses overlaps nothing, not even itself.
  if (used === 0) return undefined;
  return { offset: (lo + hi) / 2, error: (hi - lo) / 2, used };
}
