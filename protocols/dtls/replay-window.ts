// The anti-replay window of RFC 6347 §4.1.2.6, 64 records wide, for one epoch. It is updated
// only once a record has decrypted and authenticated, so forged sequence numbers cannot slide
// it forward and make a live peer's records look stale.

export const REPLAY_WINDOW = 64;

export type ReplayWindow = {
  /** The record is new and not too old to judge: worth decrypting. */
  fresh(seq: number): boolean;
  /** The record authenticated: remember it. */
  accept(seq: number): void;
};

export function createReplayWindow(): ReplayWindow {
  let top = -1; // highest sequence number accepted
  let bits = 0n; // bit i set: record top - i was accepted
  const mask = (1n << BigInt(REPLAY_WINDOW)) - 1n;
  return {
    fresh(seq) {
      if (seq > top) return true;
      const back = top - seq;
      if (back >= REPLAY_WINDOW) return false;
      return ((bits >> BigInt(back)) & 1n) === 0n;
    },
    accept(seq) {
      if (seq > top) {
        const shift = top < 0 ? REPLAY_WINDOW : Math.min(seq - top, REPLAY_WINDOW);
        bits = ((bits << BigInt(shift)) | 1n) & mask;
        top = seq;
        return;
      }
      const back = top - seq;
      if (back < REPLAY_WINDOW) bits |= 1n << BigInt(back);
    },
  };
}
