import { MAX_SACK_RANGES, type SackRange } from './v2/messages.ts';

// Which update numbers arrived, for acknowledgements. The sender never resends a number (it
// resends the path's current value under a new one), so a gap left by a lost datagram never
// fills: the floor therefore slides over any gap further than SPAN behind the newest number. The
// sender cannot still be waiting for such a number: at most `window` datagrams of at most a
// few hundred entries are in flight, far fewer than SPAN, so everything that old has been
// acknowledged or abandoned. That also bounds memory whatever numbers a peer sends.

export const SPAN = 8192;

export type Inbox = {
  /** Records a number; false when it was already seen (a duplicate or replay). */
  receive(seq: number): boolean;
  /** The acknowledgement to send: everything ≤ upTo, plus the newest ranges above it. */
  ack(): { upTo: number; sack: SackRange[] };
};

export function createInbox(): Inbox {
  let floor = 0;
  let newest = 0;
  const above = new Set<number>();

  function advance(): void {
    while (above.has(floor + 1)) above.delete(++floor);
    if (newest - floor > SPAN) {
      floor = newest - SPAN;
      for (const q of above) if (q <= floor) above.delete(q);
      while (above.has(floor + 1)) above.delete(++floor);
    }
  }

  return {
    receive(seq) {
      if (seq <= floor || above.has(seq)) return false;
      above.add(seq);
      if (seq > newest) newest = seq;
      advance();
      return true;
    },
    ack() {
      const sorted = [...above].sort((a, b) => b - a);
      const ranges: SackRange[] = [];
      for (const q of sorted) {
        const last = ranges.at(-1);
        if (last && last.from === q + 1) ranges[ranges.length - 1] = { from: q, to: last.to };
        else if (ranges.length < MAX_SACK_RANGES) ranges.push({ from: q, to: q });
        else break;
      }
      // The codec wants ranges ascending.
      return { upTo: floor, sack: ranges.reverse() };
    },
  };
}
