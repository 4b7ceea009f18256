import type { Endpoint } from './v1/discovery.ts';
import type { Pong } from './v1/measurement.ts';
import { encodePing } from './v1/measurement.ts';

// Measuring a Link peer: how far its session's ghost time is from our host time. We ping with
// our host time; the peer pongs with its ghost time and our host time echoed; we ping again at
// once with the new host time and the ghost time just received. Each pong gives one estimate
// of the offset (ghost minus the midpoint of the two host times around it), and from the
// second on another (the midpoint of two ghost times minus the host time between them). More
// than MAX_POINTS estimates end it; a peer that stops answering for PING_INTERVAL_MS,
// MAX_TRIES times in a row, or answers for another session, fails it. Numbers as Link's
// Measurement.hpp has them.
//
// Link takes the median of all estimates. We take the median of the quarter with the shortest
// round trips: a pong read late because our event loop was busy shifts its estimate by half the
// delay, and on a loaded laptop most pongs are read late by a varying amount (a CI run here saw
// hana's beat 4.6 ms off a real Link peer's for a whole minute). The fastest round trips are
// the ones with the least of that delay in them, as NTP reasons.

export const PING_INTERVAL_MS = 50;
export const MAX_TRIES = 5;
export const MAX_POINTS = 100;
/** The share of estimates, fastest round trips first, whose median is the offset. */
export const FASTEST_SHARE = 0.25;

export type LinkTimers = { set(delayMs: number, fn: () => void): unknown; clear(handle: unknown): void };

export type MeasureInit = {
  target: Endpoint;
  /** The session the peer must answer for. */
  sessionId: string;
  /** Host time, µs. */
  now(): number;
  timers: LinkTimers;
  send(bytes: Uint8Array, to: Endpoint): void;
  /** The offset (ghost = host + intercept), or null when the measurement failed. */
  done(intercept: number | null): void;
};

export type Measurement = {
  /** A pong from the target's endpoint. */
  onPong(pong: Pong): void;
  cancel(): void;
};

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Each estimate with the round trip it was read over (µs). */
type Point = { offset: number; rtt: number };

/** The median offset of the estimates with the fastest FASTEST_SHARE of round trips. */
export function fastestMedian(points: readonly Point[]): number {
  const fastest = [...points].sort((a, b) => a.rtt - b.rtt);
  const keep = Math.max(1, Math.min(fastest.length, Math.ceil(fastest.length * FASTEST_SHARE)));
  return median(fastest.slice(0, keep).map((p) => p.offset));
}

export function startMeasurement(init: MeasureInit): Measurement {
  const points: Point[] = [];
  let tries = 0;
  let timer: unknown;
  let finished = false;

  const finish = (result: number | null) => {
    if (finished) return;
    finished = true;
    init.timers.clear(timer);
    init.done(result);
  };

  const ping = (prevGhost?: number) => init.send(encodePing(init.now(), prevGhost), init.target);

  const arm = () => {
    init.timers.clear(timer);
    timer = init.timers.set(PING_INTERVAL_MS, () => {
      if (finished) return;
      if (tries >= MAX_TRIES) return finish(null);
      tries++;
      ping();
      arm();
    });
  };

  ping();
  arm();

  return {
    onPong(pong) {
      if (finished) return;
      if (pong.sessionId !== init.sessionId) return finish(null);
      const host = init.now();
      ping(pong.ghostTime);
      if (pong.hostTime !== null) {
        points.push({ offset: pong.ghostTime - (host + pong.hostTime) / 2, rtt: host - pong.hostTime });
        // Its round trip as the peer saw it, our side's delay before this ping included.
        if (pong.prevGhostTime !== null)
          points.push({
            offset: (pong.ghostTime + pong.prevGhostTime) / 2 - pong.hostTime,
            rtt: pong.ghostTime - pong.prevGhostTime,
          });
      }
      tries = 0;
      if (points.length > MAX_POINTS) return finish(Math.round(fastestMedian(points)));
      arm();
    },
    cancel() {
      finished = true;
      init.timers.clear(timer);
    },
  };
}
