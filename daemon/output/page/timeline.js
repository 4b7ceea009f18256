// The page's playout by the shared timeline. Every frame carries the session time it was made
// for (`time`, seconds, the same on every linked laptop). The page estimates the offset from its
// own clock to the session's, and shows at each moment the newest frame whose time has come,
// a short fixed delay behind: so two pages on two laptops show the frame of the same beat at the
// same moment, whatever jitter each WebSocket adds, instead of whatever frame arrived last.
//
// The offset is the largest (session time − arrival time) seen over the last WINDOW_MS: the frame
// that arrived fastest carries the least delay, so it is the best estimate of the clocks'
// difference (the same reasoning as Ableton Link's and NTP's minimum-delay filters). The window
// is long (8 s) so the best sample stays in it through a busy patch: with 2 s, a loaded machine
// (several Chromium tests at once) had stretches with no fast frame and p99 went over a frame;
// two clocks drifting apart by 50 ppm move 0.4 ms in that time. The delay is a constant 40 ms
// (2.4 frames at 60 fps), the same on every page: it first followed the frame interval measured
// from the stream, and two pages measuring a busy daemon's uneven cadence differently (18 vs
// 40 ms) disagreed by up to 2.4 frames. A frame up to 40 ms late is still shown at its moment.

const WINDOW_MS = 8000;
const MAX_FRAMES = 8;
/** A frame this much older than the estimate means the session clock went back: start again. */
const RESET_S = 0.5;
const DELAY_S = 0.04;

const finite = (v) => typeof v === 'number' && Number.isFinite(v);

export function createTimeline() {
  /** { at (ms, local), skew (s) } */
  let samples = [];
  /** Frames with a finite time, oldest first. */
  let frames = [];
  let offset = null;

  const reset = () => {
    samples = [];
    frames = [];
    offset = null;
  };

  const delay = () => DELAY_S;

  return {
    reset,
    /** Takes a frame that arrived at `nowMs` (performance.now()); false if it has no time. */
    add(frame, nowMs) {
      if (!finite(frame?.time)) return false;
      const skew = frame.time - nowMs / 1000;
      if (offset !== null && skew < offset - RESET_S) reset();
      samples.push({ at: nowMs, skew });
      while (samples.length > 0 && samples[0].at < nowMs - WINDOW_MS) samples.shift();
      offset = samples.reduce((m, s) => Math.max(m, s.skew), Number.NEGATIVE_INFINITY);
      let i = frames.length;
      while (i > 0 && frames[i - 1].time > frame.time) i--;
      frames.splice(i, 0, frame);
      if (frames.length > MAX_FRAMES) frames.shift();
      return true;
    },
    /** The session time the page shows at `nowMs`, or null before any frame. */
    sessionAt(nowMs) {
      return offset === null ? null : nowMs / 1000 + offset - delay();
    },
    /** The frame to show at `nowMs`: the newest whose time has come (else the oldest held). */
    pick(nowMs) {
      if (frames.length === 0) return null;
      const target = nowMs / 1000 + offset - delay();
      for (let k = frames.length - 1; k >= 0; k--) if (frames[k].time <= target) return frames[k];
      return frames[0];
    },
    /** The beat shown at `nowMs`: the shown frame's beat carried on at its tempo. */
    beatAt(nowMs) {
      const f = this.pick(nowMs);
      if (f === null || !finite(f.beat) || !finite(f.tempo)) return null;
      return f.beat + (this.sessionAt(nowMs) - f.time) * (f.tempo / 60);
    },
    stats: () => ({ offset, delay: delay(), held: frames.length }),
  };
}
