import { DRIFT_PPM, type Exchange, exchangeOf, overlapOf } from '../clock/overlap.ts';
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
// Link takes the median of all estimates. Each estimate is an interval, though: the peer's
// ghost time lies within half the round trip of it however lopsided the path was, so we take
// the middle of where the intervals overlap (protocols/clock/overlap.ts), and the overlap's
// half width is how far off the intercept can be. A pong read late because our event loop was
// busy widens its own interval, not the answer: on a loaded laptop most pongs are read late by
// a varying amount, and the plain median once left hana's beat 4.6 ms off a real Link peer's
// for a whole minute. (Before the overlap, the median of the fastest quarter; on 16
// measurements from loaded interop runs the two were within 62 µs, and the overlap's half
// width was at most 191 µs.)

export const PING_INTERVAL_MS = 50;
export const MAX_TRIES = 5;
export const MAX_POINTS = 100;
/** Link's clocks count whole µs: each stamp may be up to 1 µs short of the instant it names. */
const ROUNDING_US = 2;

export type LinkTimers = { set(delayMs: number, fn: () => void): unknown; clear(handle: unknown): void };

export type MeasureInit = {
  target: Endpoint;
  /** The session the peer must answer for. */
  sessionId: string;
  /** Host time, µs. */
  now(): number;
  timers: LinkTimers;
  send(bytes: Uint8Array, to: Endpoint): void;
  /**
   * The offset (ghost = host + intercept, µs) and how far off it can be (µs), or null when the
   * measurement failed.
   */
  done(result: Measured | null): void;
};

export type Measured = { intercept: number; errorUs: number };

export type Measurement = {
  /** A pong from the target's endpoint. */
  onPong(pong: Pong): void;
  cancel(): void;
};

/** The intercept the estimates agree on, or null when none was taken. */
function interceptOf(points: readonly Exchange[]): Measured | null {
  const o = overlapOf(points, DRIFT_PPM / 1e6, ROUNDING_US);
  return o ? { intercept: Math.round(o.offset), errorUs: o.error } : null;
}

export function startMeasurement(init: MeasureInit): Measurement {
  const points: Exchange[] = [];
  // Estimates counted whether kept or not, so a peer answering nonsense still ends the measurement.
  let taken = 0;
  const take = (offset: number, delay: number, at: number) => {
    taken++;
    // A host time echoed from the future or a ghost time that went back measures nothing: only
    // a broken or lying peer sends one.
    const x = exchangeOf(offset, delay, at);
    if (x) points.push(x);
  };
  let tries = 0;
  let timer: unknown;
  let finished = false;

  const finish = (result: Measured | null) => {
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
        take(pong.ghostTime - (host + pong.hostTime) / 2, host - pong.hostTime, host);
        // Its round trip as the peer saw it, our side's delay before this ping included.
        if (pong.prevGhostTime !== null)
          take(
            (pong.ghostTime + pong.prevGhostTime) / 2 - pong.hostTime,
            pong.ghostTime - pong.prevGhostTime,
            host,
          );
      }
      tries = 0;
      if (taken > MAX_POINTS) return finish(interceptOf(points));
      arm();
    },
    cancel() {
      finished = true;
      init.timers.clear(timer);
    },
  };
}
