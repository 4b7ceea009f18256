import type { BackendResult, MidiInputPort, MidiOutputPort } from '../../protocols/midi/device.ts';
import type { ClockReading } from '../clock/session-clock.ts';
import { beatAt, rebase, retempo, type Timeline } from '../clock/timeline.ts';
import { encodeTimeline, TEMPO_PATH, TIMELINE_PATH } from '../clock/timeline-register.ts';
import { TIMELINE_SOURCE } from '../clock/timeline-writer.ts';
import type { MidiConfig } from '../config/midi-schema.ts';
import { controlError } from '../control/protocol.ts';
import type { Handlers } from '../control/server.ts';
import type { Rejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import { devicePattern } from '../midi/mapping.ts';
import { listPorts } from '../midi/ports.ts';
import type { Store } from '../state/store.ts';
import { realTimers, type Timers } from '../timers.ts';
import { type ClockInEstimate, type ClockInEvent, createClockIn } from './clock-in.ts';
import { createClockOut } from './clock-out.ts';
import { createTransport } from './transport.ts';

// MIDI clock in the daemon: opens the chosen outputs and sends them the shared beat as MIDI
// clock (clock-out.ts), and optionally follows one input's clock as the tempo source
// (clock-in.ts), writing hana's timeline and /tempo like Ableton Link does, as one batch from
// the source "midi-clock".
//
// Which tempo source wins, in this order:
// 1. MIDI clock in, while its clock ticks: it names one cable the operator chose. The Link
//    service yields to it (`leading()`): it keeps proposing hana's tempo to Link, and stops
//    pulling hana's beat to Link's. A /tempo set any other way (OSC, a fader, `hana set`, a
//    linked laptop) is put back within 1 / writesPerSecond.
// 2. Ableton Link, when on.
// 3. hana's own /tempo.
// A clock that stops ticking for `timeoutBeats` hands the tempo back, at the tempo it last had.

export const MIDI_CLOCK_SOURCE = 'midi-clock';
/** How often Link's start/stop is looked at, and ports polled at least. */
const LINK_POLL_MS = 250;

export type MidiClockInit = {
  config: MidiConfig;
  backend: BackendResult;
  store: Store;
  clock(): ClockReading;
  rejections: Rejections;
  log: Logger;
  /** Our wall clock, ms: the clock the session clock reads (its own time). */
  now?: () => number;
  timers?: Timers;
  /** Ableton Link's start/stop, when Link is on. */
  link?: { playing(): boolean; setPlaying(playing: boolean): void };
};

export type MidiClockStatus = {
  available: boolean;
  reason?: string;
  out: {
    wanted: string[];
    ports: string[];
    ticks: number;
    lateWakeups: number;
    relocations: number;
    running: boolean;
  };
  in: {
    wanted: string | null;
    port: string | null;
    state: 'off' | 'waiting' | 'following' | 'lost';
    tempo: number | null;
    playing: boolean;
  };
  transport: { playing: boolean; position: number };
  tempoSource: 'midi-clock' | 'ableton-link' | 'hana';
  /** Timelines written from the clock in. */
  writes: number;
  /** Tempo changes from elsewhere put back while the clock in led. */
  overridden: number;
};

export type TransportAction = 'play' | 'stop' | 'continue';

export function startMidiClock(init: MidiClockInit) {
  const { config, store, log, rejections } = init;
  const cc = config.clock;
  const timers = init.timers ?? realTimers;
  const now = init.now ?? (() => performance.timeOrigin + performance.now());
  const backend = config.enabled && init.backend.ok ? init.backend.backend : undefined;
  const reason = !config.enabled
    ? 'midi.enabled is false in the config'
    : init.backend.ok
      ? undefined
      : init.backend.reason;
  const wantOut = cc.out.map(devicePattern);
  const wantIn = cc.in === undefined ? undefined : devicePattern(cc.in);
  const outputs = new Map<string, MidiOutputPort>();
  let input: { name: string; port: MidiInputPort } | undefined;
  let inState: MidiClockStatus['in']['state'] = cc.in === undefined ? 'off' : 'waiting';
  let writes = 0;
  let overridden = 0;
  let lastWriteAt = Number.NEGATIVE_INFINITY;
  let pendingWrite: unknown;
  /** While the clock in's song plays: the shared beat at its song position 0. */
  let songOrigin: number | undefined;

  const beatNow = (): number | undefined => {
    const r = init.clock();
    return r.timeline ? r.beat : undefined;
  };

  const transport = createTransport({ quantum: cc.quantum });

  function send(bytes: Uint8Array): void {
    for (const [name, port] of outputs) {
      try {
        port.send(bytes);
      } catch (err) {
        log.warn({ event: 'midi-clock.send-failed', device: name, err }, `cannot send MIDI clock to ${name}`);
        port.close();
        outputs.delete(name);
      }
    }
  }

  const out = createClockOut({
    read() {
      const r = init.clock();
      return r.timeline ? { beat: r.beat, tempo: r.tempo } : undefined;
    },
    transport: () => transport.state(),
    send,
    timers,
    whileStopped: cc.whileStopped,
    onRelocate: (from, to) =>
      log.info(
        { event: 'midi-clock.relocated', fromTick: from, toTick: to },
        'the shared beat jumped: MIDI clock out moved with it (playing outputs get stop, song position, continue)',
      ),
  });
  // Nothing ticks without an output to tick to: every daemon with Link on runs this service.
  const ticking = backend !== undefined && cc.out.length > 0;
  const offTransport = transport.subscribe((s) => {
    if (ticking) out.transportChanged(s);
  });

  const leading = () => inState === 'following';

  function write(tl: Timeline): void {
    if (pendingWrite !== undefined) timers.clear(pendingWrite);
    pendingWrite = undefined;
    lastWriteAt = now();
    writes++;
    store.apply(
      [
        { path: TIMELINE_PATH, value: encodeTimeline(tl) },
        { path: TEMPO_PATH, value: tl.tempo },
      ],
      MIDI_CLOCK_SOURCE,
    );
  }

  /** The timeline that follows the clock in, or undefined when hana's already does. */
  function target(e: ClockInEstimate): Timeline | undefined {
    const r = init.clock();
    const tempo = Math.round(e.tempo * 100) / 100;
    const tempoOff = !r.timeline || Math.abs(r.timeline.tempo - e.tempo) > cc.tempoDeadbandBpm;
    if (e.song && songOrigin !== undefined) {
      const want = songOrigin + e.song.beat;
      const have = r.timeline ? beatAt(r.timeline, e.song.at + r.offsetMs) : Number.NaN;
      const offMs = (Math.abs(have - want) * 60_000) / e.tempo;
      if (!tempoOff && offMs <= cc.phaseToleranceMs) return undefined;
      return {
        tempo: r.timeline && !tempoOff ? r.timeline.tempo : tempo,
        beatOrigin: want,
        timeOrigin: e.song.at,
      };
    }
    if (!tempoOff) return undefined;
    const own = r.timeMs - r.offsetMs;
    return retempo(r.timeline ? rebase(r.timeline, r.offsetMs) : undefined, own, tempo);
  }

  /** Writes what the clock in says, at most writesPerSecond. */
  function reconcile(): void {
    if (!clockIn || inState !== 'following') return;
    const e = clockIn.estimate();
    if (!e) return;
    const tl = target(e);
    if (!tl) return;
    const wait = 1000 / cc.writesPerSecond - (now() - lastWriteAt);
    if (wait <= 0) write(tl);
    else if (pendingWrite === undefined)
      pendingWrite = timers.set(wait, () => {
        pendingWrite = undefined;
        reconcile();
      });
  }

  function onClockEvent(e: ClockInEvent): void {
    const beat = beatNow();
    switch (e.kind) {
      case 'position':
        transport.locate(e.position);
        return;
      case 'stop':
        songOrigin = undefined;
        if (beat !== undefined) transport.stop(beat);
        // The device's transport is the operator's, through a cable they chose: Link apps too.
        init.link?.setPlaying(false);
        return;
      case 'start':
      case 'continue': {
        const r = init.clock();
        const est = clockIn?.estimate();
        const tempo = est ? Math.round(est.tempo * 100) / 100 : r.tempo;
        const have = r.timeline ? beatAt(r.timeline, e.at + r.offsetMs) : e.songBeat;
        // The song's position 0 on the nearest quantum boundary: the device's bar 1 on hana's
        // bars, and hana's count moves by less than half a quantum.
        songOrigin = cc.quantum * Math.round((have - e.songBeat) / cc.quantum);
        if (inState !== 'following' && est) setIn('following');
        // Its own write, not rate-limited: a start is the one moment the phase must land.
        write({ tempo, beatOrigin: songOrigin + e.songBeat, timeOrigin: e.at });
        if (transport.state().playing) transport.stop(have);
        if (e.kind === 'continue') transport.locate(e.songBeat * 4);
        if (e.kind === 'start') transport.start(have, songOrigin);
        else transport.continue(have, songOrigin);
        init.link?.setPlaying(true);
        return;
      }
    }
  }

  function setIn(state: MidiClockStatus['in']['state']): void {
    if (state === inState) return;
    const was = inState;
    inState = state;
    const name = input?.name ?? cc.in;
    if (state === 'following')
      log.info(
        { event: 'midi-clock.following', device: name },
        `following the MIDI clock on ${name}: it sets the tempo now (over Ableton Link and /tempo)`,
      );
    else if (state === 'lost' && was === 'following')
      log.warn(
        { event: 'midi-clock.lost', device: name, tempo: init.clock().tempo },
        `the MIDI clock on ${name} stopped arriving: no longer following it; the tempo stays at ${init.clock().tempo} bpm`,
      );
  }

  const clockIn =
    cc.in === undefined
      ? undefined
      : createClockIn({
          windowTicks: cc.smoothingTicks,
          maxTicksPerSecond: cc.maxTicksPerSecond,
          timeoutBeats: cc.timeoutBeats,
          timers,
          now,
          onEvent: onClockEvent,
          onTick(e) {
            if (e && inState !== 'following') setIn('following');
            reconcile();
          },
          onReject: (code, detail) =>
            rejections.reject(`midi-${code}`, `midi:${input?.name ?? cc.in}`, detail),
          onLost() {
            songOrigin = undefined;
            setIn('lost');
          },
        });

  function openOutput(name: string): void {
    if (!backend) return;
    try {
      outputs.set(name, backend.openOutput(name));
      log.info({ event: 'midi-clock.output-open', device: name }, `MIDI clock out to ${name}`);
    } catch (err) {
      log.warn({ event: 'midi.open-failed', device: name, err }, `cannot open MIDI output ${name} for clock`);
    }
  }

  function openInput(name: string): void {
    if (!backend || !clockIn) return;
    try {
      const port = backend.openInput(name, (b) => clockIn.push(b, now()), { timing: true });
      input = { name, port };
      log.info({ event: 'midi-clock.input-open', device: name }, `listening for MIDI clock on ${name}`);
    } catch (err) {
      log.warn({ event: 'midi.open-failed', device: name, err }, `cannot open MIDI input ${name} for clock`);
    }
  }

  function poll(): void {
    if (!backend) return;
    const list = listPorts(backend, log);
    if (!list) return;
    for (const [name, port] of outputs) {
      if (!list.outputs.includes(name)) {
        port.close();
        outputs.delete(name);
        log.info({ event: 'midi-clock.output-gone', device: name }, `MIDI clock output ${name} unplugged`);
      }
    }
    for (const name of list.outputs) if (!outputs.has(name) && wantOut.some((w) => w(name))) openOutput(name);
    if (input && !list.inputs.includes(input.name)) {
      input.port.close();
      log.info(
        { event: 'midi-clock.input-gone', device: input.name },
        `MIDI clock input ${input.name} unplugged`,
      );
      input = undefined;
    }
    if (!input && wantIn) {
      const name = list.inputs.find((n) => wantIn(n));
      if (name) openInput(name);
    }
  }

  let lastLinkPlaying: boolean | undefined;
  /** Link's start/stop sync drives the transport, unless the clock in leads it. */
  function followLink(): void {
    if (!init.link || leading()) return;
    const p = init.link.playing();
    if (p === lastLinkPlaying) return;
    lastLinkPlaying = p;
    const beat = beatNow();
    if (beat === undefined || p === transport.state().playing) return;
    if (p) transport.start(beat);
    else transport.stop(beat);
  }

  // Deferred: a change arrives inside a store subscriber, and the other subscribers (the
  // timeline writer) must see it first.
  let queued = false;
  let foreign = false;
  const unsubscribe = store.subscribe(
    (changes) => {
      let timeline = false;
      for (const c of changes) {
        if (c.path !== TIMELINE_PATH && c.path !== TEMPO_PATH) continue;
        timeline = true;
        // The timeline writer's echo of a foreign /tempo is caught by that /tempo.
        if (c.source !== MIDI_CLOCK_SOURCE && c.source !== TIMELINE_SOURCE) foreign = true;
      }
      if (!timeline || queued) return;
      queued = true;
      queueMicrotask(() => {
        queued = false;
        if (ticking) out.wake();
        if (foreign && leading()) {
          overridden++;
          reconcile();
        }
        foreign = false;
      });
    },
    { paths: [TIMELINE_PATH, TEMPO_PATH] },
  );

  let pollTimer: unknown;
  let linkTimer: unknown;
  const configured = cc.out.length > 0 || cc.in !== undefined;
  if (configured && !backend) {
    log.warn(
      { event: 'midi-clock.off', reason },
      `MIDI clock is configured but MIDI is off: ${reason}. Ableton Link and /tempo work as usual.`,
    );
  } else if (backend && configured) {
    poll();
    const tick = () => {
      poll();
      pollTimer = timers.set(config.pollMs, tick);
    };
    pollTimer = timers.set(config.pollMs, tick);
    if (ticking) out.wake();
  }
  // Link's start/stop only matters where a MIDI clock is configured (4 looks a second).
  if (init.link && configured && backend) {
    const tick = () => {
      followLink();
      linkTimer = timers.set(LINK_POLL_MS, tick);
    };
    tick();
  }

  function act(action: TransportAction): { ok: true; playing: boolean } | { ok: false; error: string } {
    if (leading())
      return {
        ok: false,
        error: `the MIDI clock on ${input?.name ?? cc.in} leads start and stop: use the device’s own transport`,
      };
    const beat = beatNow();
    if (beat === undefined)
      return { ok: false, error: 'there is no shared beat yet: set a tempo first (`hana set /tempo 120`)' };
    if (action === 'stop') transport.stop(beat);
    else if (transport.state().playing) return { ok: true, playing: true };
    else if (action === 'play') transport.start(beat);
    else transport.continue(beat);
    const playing = transport.state().playing;
    init.link?.setPlaying(playing);
    lastLinkPlaying = playing;
    return { ok: true, playing };
  }

  function status(): MidiClockStatus {
    const s = transport.state();
    const beat = beatNow();
    const o = out.stats();
    return {
      available: backend !== undefined,
      ...(reason !== undefined && { reason }),
      out: {
        wanted: cc.out,
        ports: [...outputs.keys()],
        ticks: o.ticks,
        lateWakeups: o.lateWakeups,
        relocations: o.relocations,
        running: o.running,
      },
      in: {
        wanted: cc.in ?? null,
        port: input?.name ?? null,
        state: inState,
        tempo: clockIn?.estimate()?.tempo ?? null,
        playing: clockIn?.playing() ?? false,
      },
      transport: {
        playing: s.playing,
        position: s.playing ? Math.floor(transport.positionAt(beat ?? s.resumeBeat) ?? 0) : s.position,
      },
      tempoSource: leading() ? 'midi-clock' : init.link ? 'ableton-link' : 'hana',
      writes,
      overridden,
    };
  }

  const handlers: Handlers = {
    'midiClock.status': () => status(),
    'midiClock.transport'(params) {
      const action = (params as { action?: unknown } | undefined)?.action;
      if (action !== 'play' && action !== 'stop' && action !== 'continue')
        throw controlError(
          'bad-params',
          'midiClock.transport takes { action: "play" | "stop" | "continue" }.',
        );
      if (!backend)
        throw controlError(
          'midi-off',
          `MIDI is off (${reason}), so no MIDI clock can start or stop: see docs/midi.md (troubleshooting).`,
        );
      const r = act(action);
      if (!r.ok) throw controlError('midi-clock-refused', `${r.error}.`);
      return { playing: r.playing, status: status() };
    },
  };

  return {
    /** True while the clock in sets the tempo: the Link service then yields to it. */
    leading,
    act,
    transport,
    status,
    handlers,
    close(): void {
      if (pollTimer !== undefined) timers.clear(pollTimer);
      if (linkTimer !== undefined) timers.clear(linkTimer);
      if (pendingWrite !== undefined) timers.clear(pendingWrite);
      unsubscribe();
      offTransport();
      out.close();
      clockIn?.close();
      input?.port.close();
      for (const o of outputs.values()) o.close();
      outputs.clear();
    },
  };
}

export type MidiClock = ReturnType<typeof startMidiClock>;
