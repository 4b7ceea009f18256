import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSessionClock } from '../../../daemon/clock/session-clock.ts';
import { beatAt } from '../../../daemon/clock/timeline.ts';
import {
  createTimelineReader,
  TEMPO_PATH,
  TIMELINE_PATH,
  timelineParam,
} from '../../../daemon/clock/timeline-register.ts';
import { startTimelineWriter } from '../../../daemon/clock/timeline-writer.ts';
import { MidiConfig, type MidiConfigInput } from '../../../daemon/config/midi-schema.ts';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { MIDI_CLOCK_SOURCE, startMidiClock } from '../../../daemon/midi-clock/service.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { midiLoopback } from '../../helpers/midi-loopback.ts';
import { prng } from '../../helpers/prng.ts';

// The MIDI clock service with the real store, timeline writer and session clock, the loopback
// MIDI backend at its byte boundary, and a fake clock: what goes out to the clock outputs, what
// a clock in does to hana's tempo and beat, and who wins the tempo.

const T0 = 1_700_000_000_000;
const OUT = 'TR-8S MIDI 1';
const IN = 'Digitakt MIDI 1';
const SELF = 'MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGG5DR-NRQW4ZK-PFSGE3T-MFWGYZI';

function setup(midi: MidiConfigInput = {}, opts: { backendOk?: boolean; link?: boolean } = {}) {
  const clock = createFakeClock(T0);
  const registry = createRegistry(DEFAULT_PARAMS, { [TIMELINE_PATH]: timelineParam });
  const store = createStore({ registry: registry.stored, hlc: createHlc({ node: SELF, now: clock.now }) });
  const session = createSessionClock({
    selfId: () => SELF,
    now: clock.now,
    timeline: createTimelineReader(store),
    tempo: () => store.get(TEMPO_PATH)!.value as number,
  });
  const { log, lines } = captureLogger();
  const writer = startTimelineWriter({ store, clock: () => session.read(), log, now: clock.now });
  const rejections = createRejections({
    log,
    security: securityLogger(log),
    intervalMs: 1000,
    now: clock.now,
  });
  const lb = midiLoopback();
  lb.plug(OUT);
  lb.plug(IN);
  let linkPlaying = false;
  const proposed: boolean[] = [];
  const mc = startMidiClock({
    config: MidiConfig.parse({ inputs: ['nothing'], ...midi }),
    backend:
      opts.backendOk === false
        ? { ok: false, reason: 'no ALSA sequencer (test)' }
        : { ok: true, backend: lb.backend },
    store,
    clock: () => session.read(),
    rejections,
    log,
    now: clock.now,
    timers: clock.timers,
    ...(opts.link && {
      link: {
        playing: () => linkPlaying,
        setPlaying: (p: boolean) => {
          proposed.push(p);
        },
      },
    }),
  });
  const flush = async () => {
    await Promise.resolve();
    await Promise.resolve();
  };
  return {
    clock,
    store,
    session,
    mc,
    lb,
    lines,
    rejections,
    proposed,
    setLinkPlaying: (p: boolean) => {
      linkPlaying = p;
    },
    flush,
    advance: (ms: number) => clock.advance(ms, flush),
    tempo: () => store.get(TEMPO_PATH)!.value as number,
    async setTempo(bpm: number, source = 'cli') {
      store.apply([{ path: TEMPO_PATH, value: bpm }], source);
      await flush();
    },
    /** A clock at `bpm` into IN for `ms`, ±`jitter` ms, with optional bytes before tick `at`. */
    async feed(bpm: number, ms: number, jitter = 0.5, before: Record<number, number[]> = {}, seed = 1) {
      const rand = prng(seed);
      const period = 60_000 / (bpm * 24);
      const start = clock.now();
      let i = 0;
      for (; (i + 1) * period <= ms; i++) {
        const at = start + (i + 1) * period + (rand() * 2 - 1) * jitter;
        await clock.advance(at - clock.now(), flush);
        lb.play(IN, [...(before[i] ?? []), 0xf8]);
        await flush();
      }
      /** The jitter-free time of tick n (1-based) of this feed. */
      return { count: i, idealAt: (n: number) => start + n * period };
    },
    close() {
      mc.close();
      writer.close();
    },
  };
}

describe('MIDI clock service', { timeout: 30_000 }, () => {
  it('sends the shared beat to the chosen outputs as 24 clocks a beat, and start on the bar', async () => {
    const t = setup({ clock: { out: ['tr-8s*'] } });
    await t.advance(1000);
    assert.deepEqual(t.lb.sent(OUT), [], 'no shared beat yet: nothing sent');
    await t.setTempo(120);
    await t.advance(2000);
    assert.equal(t.lb.sent(OUT).length, 4 * 24);
    assert.ok(t.lb.sent(OUT).every((b) => b === 0xf8));
    const r = t.mc.act('play');
    assert.deepEqual(r, { ok: true, playing: true });
    await t.advance(2000);
    const b = t.lb.sent(OUT);
    const i = b.indexOf(0xfa);
    assert.deepEqual(b.slice(i - 3, i + 2), [0xf2, 0, 0, 0xfa, 0xf8]);
    assert.equal(i - 3, 191, 'ticks 1–191 before, FA with tick 192: beat 8, the next bar');
    assert.equal(t.mc.status().out.running, true);
    t.mc.act('stop');
    assert.equal(t.lb.sent(OUT).at(-1), 0xfc);
    t.close();
  });

  it('follows a jittered clock in: /tempo within the deadband, rate-limited, and it wins', async () => {
    const t = setup({ clock: { in: 'digitakt*' } }, { link: true });
    await t.setTempo(120);
    await t.feed(131.5, 3000, 1);
    const s = t.mc.status();
    assert.equal(s.in.state, 'following');
    assert.equal(s.in.port, IN);
    assert.equal(s.tempoSource, 'midi-clock');
    assert.equal(t.mc.leading(), true);
    assert.ok(Math.abs(t.tempo() - 131.5) <= 0.1, `/tempo ${t.tempo()}`);
    assert.equal(t.store.get(TEMPO_PATH)!.source, MIDI_CLOCK_SOURCE);
    assert.ok(s.writes <= 3 * 4 + 1, `${s.writes} timeline writes in 3 s`);
    // A fader or a peer sets /tempo: the clock in puts its own back within a write interval.
    await t.setTempo(90, 'osc:127.0.0.1');
    await t.feed(131.5, 300, 1, {}, 2);
    assert.ok(Math.abs(t.tempo() - 131.5) <= 0.1, `/tempo ${t.tempo()} after an override`);
    assert.ok(t.mc.status().overridden >= 1);
    // The transport is the clock's: hana's own play is refused while it leads.
    assert.equal(t.mc.act('play').ok, false);
    t.close();
  });

  it('a clock in that starts puts its bar 1 on a bar of the shared beat, keeps hana on its beat, and the outputs start with it', async () => {
    const t = setup({ clock: { in: 'digitakt*', out: ['TR-8S*'] } }, { link: true });
    await t.setTempo(120);
    await t.advance(1234);
    await t.feed(128, 1000, 0.3, {}, 3);
    t.lb.clearSent();
    const song = await t.feed(128, 4000, 0.3, { 0: [0xfa] }, 4);
    assert.ok(
      t.lines.some((l) => l.event === 'midi-clock.following'),
      'following was logged',
    );
    // The song began at the first tick after FA; the outputs got song position 0, start, clock.
    const out = t.lb.sent(OUT);
    const i = out.indexOf(0xfa);
    assert.deepEqual(out.slice(i - 3, i + 2), [0xf2, 0, 0, 0xfa, 0xf8]);
    assert.equal(t.mc.status().transport.playing, true);
    const s = t.mc.transport.state();
    assert.ok(s.playing && s.originBeat % 4 === 0, `song origin on a bar: ${JSON.stringify(s)}`);
    // Tempo and phase: at the (jitter-free) time of the last tick, hana's beat is the song's.
    assert.ok(Math.abs(t.tempo() - 128) <= 0.05, `/tempo ${t.tempo()}`);
    const r = t.session.read();
    const want = s.originBeat + (song.count - 1) / 24;
    const offMs = ((beatAt(r.timeline!, song.idealAt(song.count)) - want) * 60_000) / 128;
    assert.ok(Math.abs(offMs) <= 3.5, `hana's beat ${offMs.toFixed(2)} ms from the clock's`);
    assert.deepEqual(t.proposed, [true], 'Link apps were asked to start too');
    // Stop from the clock: the outputs stop at once.
    t.lb.play(IN, [0xfc]);
    await t.flush();
    assert.equal(t.lb.sent(OUT).at(-1), 0xfc);
    assert.equal(t.mc.status().transport.playing, false);
    assert.deepEqual(t.proposed, [true, false]);
    t.close();
  });

  it('a clock that stops is let go once, the tempo stays, and Link leads again', async () => {
    const t = setup({ clock: { in: 'digitakt*' } }, { link: true });
    await t.setTempo(120);
    await t.feed(100, 2000);
    assert.equal(t.mc.status().tempoSource, 'midi-clock');
    await t.advance(1300); // over 2 beats at 100 bpm
    const s = t.mc.status();
    assert.equal(s.in.state, 'lost');
    assert.equal(s.tempoSource, 'ableton-link');
    assert.ok(Math.abs(t.tempo() - 100) <= 0.1);
    await t.advance(10_000);
    assert.equal(t.lines.filter((l) => l.event === 'midi-clock.lost').length, 1);
    // Link's start/stop drives the transport again.
    t.setLinkPlaying(true);
    await t.advance(300);
    assert.equal(t.mc.status().transport.playing, true);
    t.close();
  });

  it('sets no timer per tick when no output is configured (every daemon with Link on runs it)', async () => {
    const t = setup({}, { link: true });
    await t.setTempo(120);
    t.setLinkPlaying(true);
    await t.advance(1000);
    assert.equal(t.mc.status().out.ticks, 0);
    assert.equal(t.clock.pending(), 0, 'no tick, port poll or Link poll timer');
    t.close();
  });

  it('refuses bad clock input by reason, on the input counter', async () => {
    const t = setup({ clock: { in: 'digitakt*' } });
    await t.setTempo(120);
    t.lb.play(IN, Array(5000).fill(0xf8));
    t.lb.play(IN, [0x42, 0xf4]);
    const c = t.rejections.counts();
    assert.ok((c['midi-clock-flood'] ?? 0) > 4000);
    assert.equal(c['midi-orphan-data'], 1);
    assert.equal(c['midi-undefined-status'], 1);
    t.close();
  });

  it('with MIDI off, says why and refuses to start a clock', async () => {
    const t = setup({ clock: { out: ['*'] } }, { backendOk: false });
    const s = t.mc.status();
    assert.equal(s.available, false);
    assert.equal(s.reason, 'no ALSA sequencer (test)');
    assert.ok(t.lines.some((l) => l.event === 'midi-clock.off'));
    assert.throws(
      () => t.mc.handlers['midiClock.transport']!({ action: 'play' }, {} as never),
      /MIDI is off/,
    );
    t.close();
  });
});
