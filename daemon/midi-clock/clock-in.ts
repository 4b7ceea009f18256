import type { MidiRejectCode } from '../../protocols/midi/events.ts';
import { createMidiParser } from '../../protocols/midi/parser.ts';
import { MAX_TEMPO, MIN_TEMPO } from '../clock/timeline.ts';
import { createBucket } from '../ingest/token-bucket.ts';
import type { Timers } from '../timers.ts';
import { PPQN } from './transport.ts';

// MIDI clock in: one device's bytes → a smoothed tempo, and while its song plays, where its
// beat falls on our clock. Pure apart from the injected timers: the caller stamps each chunk
// of bytes with its arrival time, so tests feed jittered clocks deterministically.
//
// Smoothing: the tempo is the slope of a least-squares line through the last `windowTicks`
// (tick count, arrival time) points. Timestamp jitter does not add up along a line: with j ms of
// jitter the slope's error falls as j / window^1.5, where a median or a mean of intervals keeps
// much more of each stamp's jitter. Outliers (an interval under half or over 1.5 times the
// median of recent ones: a tick delayed by the event loop, ticks bunched after it) are left out
// of the line and counted. Six outliers in a row that agree with each other are a new tempo, not
// noise: the window starts again from them.
//
// Phase: after FA (song position 0) or FB (the position SPP set), the next tick is the song's
// first clock; from then on the n-th tick of the song is the song beat position/4 + n/24. The
// song beat at our time comes from the same line, read at the last tick, so jitter is averaged
// away likewise.

export type ClockInEvent =
  | { kind: 'start' | 'continue'; at: number; songBeat: number }
  | { kind: 'stop'; at: number }
  | { kind: 'position'; position: number };

export type ClockInEstimate = {
  tempo: number;
  /** While playing: the song beat (position/4 + ticks/24) at our time `at`, smoothed. */
  song?: { at: number; beat: number };
};

export type ClockInInit = {
  windowTicks: number;
  maxTicksPerSecond: number;
  timeoutBeats: number;
  timers: Timers;
  /** Our clock, ms: only for the token bucket, which refills between chunks. */
  now(): number;
  onEvent(e: ClockInEvent): void;
  /** A tick was accepted into the estimate (at most once per tick). */
  onTick?(estimate: ClockInEstimate | undefined): void;
  onReject(code: MidiRejectCode | 'clock-flood' | 'clock-outlier' | 'clock-tempo', detail: string): void;
  /** No tick for `timeoutBeats`: the clock is gone; the window is cleared. */
  onLost(): void;
};

/** Intervals needed before a tempo is given (a quarter beat). */
export const MIN_INTERVALS = 6;
const OUTLIER_LOW = 0.5;
const OUTLIER_HIGH = 1.5;
const NEW_TEMPO_RUN = 6;
/** Before any tempo is known, a clock silent this long is gone (a 20 bpm tick is 125 ms). */
const FIRST_TIMEOUT_MS = 2000;

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function createClockIn(init: ClockInInit) {
  const { timers } = init;
  const bucket = createBucket({
    ratePerSecond: init.maxTicksPerSecond,
    // A bar of ticks bunched by a busy event loop is still a clock.
    burst: 4 * PPQN,
    now: init.now,
  });
  /** Recent tick intervals, for telling outliers (median). */
  let intervals: number[] = [];
  /** Outliers in a row: a new tempo when they agree. */
  let run: { n: number; at: number; dt: number }[] = [];
  /** (tick count, time) of the ticks the line goes through. */
  let points: { n: number; at: number }[] = [];
  /** Ticks accepted (not flood): the clock's own count, outliers included. */
  let n = 0;
  let lastAt: number | undefined;
  let tempo: number | undefined;
  let playing = false;
  /** Set by FA/FB: the next tick is this song tick. */
  let cued: { kind: 'start' | 'continue'; tick: number } | undefined;
  /** While playing: song tick = songTick0 + (n − songN0). */
  let songN0 = 0;
  let songTick0 = 0;
  let position = 0;
  let lost: unknown;
  let live = false;

  function resetWindow(): void {
    intervals = [];
    run = [];
    points = [];
    lastAt = undefined;
    tempo = undefined;
  }

  function armTimeout(): void {
    if (lost !== undefined) timers.clear(lost);
    const ms = tempo ? (init.timeoutBeats * 60_000) / tempo : FIRST_TIMEOUT_MS;
    lost = timers.set(ms, () => {
      lost = undefined;
      live = false;
      resetWindow();
      init.onLost();
    });
  }

  /** The least-squares line through the points: ms per tick, and its time at tick count `at`. */
  function fit(): { slope: number; timeAt(k: number): number } | undefined {
    if (points.length < MIN_INTERVALS + 1) return undefined;
    let mn = 0;
    let mt = 0;
    for (const p of points) {
      mn += p.n;
      mt += p.at;
    }
    mn /= points.length;
    mt /= points.length;
    let num = 0;
    let den = 0;
    for (const p of points) {
      num += (p.n - mn) * (p.at - mt);
      den += (p.n - mn) ** 2;
    }
    const slope = num / den;
    return { slope, timeAt: (k) => mt + slope * (k - mn) };
  }

  function estimate(): ClockInEstimate | undefined {
    if (tempo === undefined) return undefined;
    const line = playing ? fit() : undefined;
    if (!line) return { tempo };
    return { tempo, song: { at: line.timeAt(n), beat: (songTick0 + n - songN0) / PPQN } };
  }

  /** Whether the tick at `at` goes into the line. */
  function inlier(at: number): boolean {
    if (lastAt === undefined) {
      lastAt = at;
      return true;
    }
    const dt = at - lastAt;
    lastAt = at;
    if (intervals.length >= MIN_INTERVALS) {
      const m = median(intervals);
      if (!(dt >= m * OUTLIER_LOW && dt <= m * OUTLIER_HIGH)) {
        init.onReject(
          'clock-outlier',
          `a clock tick ${dt.toFixed(2)} ms after the last, the others ${m.toFixed(2)} ms apart`,
        );
        run.push({ n, at, dt });
        if (run.length < NEW_TEMPO_RUN) return false;
        const r = median(run.map((x) => x.dt));
        const agree = run.every((x) => x.dt >= r * 0.9 && x.dt <= r * 1.1);
        if (agree) {
          intervals = run.map((x) => x.dt);
          points = run.map(({ n, at }) => ({ n, at }));
        }
        run = [];
        return false;
      }
    }
    run = [];
    intervals.push(dt);
    if (intervals.length > init.windowTicks) intervals.shift();
    return true;
  }

  function onClock(at: number): void {
    if (!bucket.take(1)) {
      // Counted per tick dropped; the log line is once per interval (Rejections).
      init.onReject('clock-flood', `more than ${init.maxTicksPerSecond} clock ticks/s; dropping`);
      return;
    }
    live = true;
    n++;
    if (cued) {
      playing = true;
      songN0 = n;
      songTick0 = cued.tick;
      init.onEvent({ kind: cued.kind, at, songBeat: songTick0 / PPQN });
      cued = undefined;
    }
    if (inlier(at)) {
      points.push({ n, at });
      if (points.length > init.windowTicks + 1) points.shift();
      const line = fit();
      if (line) {
        const bpm = 60_000 / (line.slope * PPQN);
        if (bpm >= MIN_TEMPO && bpm <= MAX_TEMPO) tempo = bpm;
        else {
          init.onReject(
            'clock-tempo',
            `the clock runs at ${bpm.toFixed(2)} bpm, outside ${MIN_TEMPO}–${MAX_TEMPO}`,
          );
          tempo = undefined;
        }
      }
    }
    armTimeout();
    init.onTick?.(estimate());
  }

  let chunkAt = 0;
  const parser = createMidiParser({
    onError: (code, detail) => init.onReject(code, detail),
    onEvent(e) {
      const at = chunkAt;
      if (e.kind === 'songPosition') {
        // MIDI 1.0: a song position pointer moves a stopped song; while playing it is ignored.
        if (!playing && !cued) {
          position = e.position;
          init.onEvent({ kind: 'position', position });
        }
        return;
      }
      if (e.kind !== 'realtime') return;
      switch (e.type) {
        case 'clock':
          return onClock(at);
        case 'start':
          position = 0;
          cued = { kind: 'start', tick: 0 };
          return;
        case 'continue':
          cued = { kind: 'continue', tick: position * 6 };
          return;
        case 'stop':
          cued = undefined;
          if (playing) {
            playing = false;
            // Where the song stopped, for a continue without a new song position.
            position = Math.ceil((songTick0 + n - songN0 + 1) / 6);
            init.onEvent({ kind: 'stop', at });
          }
          return;
      }
    },
  });

  return {
    /** Bytes from the device, received at our time `at` (ms). */
    push(bytes: Uint8Array, at: number): void {
      chunkAt = at;
      parser.push(bytes);
    },
    estimate,
    /** A clock is arriving (ticks within the timeout). */
    live: () => live,
    playing: () => playing,
    close(): void {
      if (lost !== undefined) timers.clear(lost);
      lost = undefined;
    },
  };
}

export type ClockIn = ReturnType<typeof createClockIn>;
