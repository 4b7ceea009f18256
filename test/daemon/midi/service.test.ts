import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MidiConfig,
  type MidiConfigInput,
  type MidiMapping,
  type MidiMappingInput,
} from '../../../daemon/config/midi-schema.ts';
import { DEFAULT_PARAMS } from '../../../daemon/config/params-schema.ts';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { securityLogger } from '../../../daemon/log.ts';
import type { Timers } from '../../../daemon/midi/rate.ts';
import { createMidiService } from '../../../daemon/midi/service.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { midiLoopback } from '../../helpers/midi-loopback.ts';

// The MIDI service end to end, bytes in → parameter → feedback bytes out, through the same
// backend interface the RtMidi adapter implements, with a fake clock and timers.

const PAD = 'nanoKONTROL2 MIDI 1';

function setup(
  midi: Omit<MidiConfigInput, 'mappings'> & { mappings?: MidiMappingInput[] } = {},
  backendOk = true,
) {
  let clock = 0;
  const timers: { due: number; fn: () => void; live: boolean }[] = [];
  const fakeTimers: Timers = {
    set: (delay, fn) => {
      const t = { due: clock + delay, fn, live: true };
      timers.push(t);
      return t;
    },
    clear: (h) => {
      (h as { live: boolean }).live = false;
    },
  };
  const advance = (ms: number) => {
    const end = clock + ms;
    for (;;) {
      const next = timers.filter((t) => t.live && t.due <= end).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      clock = next.due;
      next.live = false;
      next.fn();
    }
    clock = end;
  };
  const { log, lines } = captureLogger();
  const registry = createRegistry(DEFAULT_PARAMS);
  const store = createStore({ registry, hlc: createHlc({ node: 'n', now: () => clock }) });
  const rejections = createRejections({
    log,
    security: securityLogger(log),
    intervalMs: 1000,
    now: () => clock,
  });
  const lb = midiLoopback();
  lb.plug(PAD);
  const saved: MidiMapping[][] = [];
  const config = MidiConfig.parse({ pollMs: 1000, ...midi });
  const service = createMidiService({
    config,
    backend: backendOk
      ? { ok: true, backend: lb.backend }
      : { ok: false, reason: 'no ALSA sequencer (test)' },
    registry,
    store,
    rejections,
    log,
    learned: [],
    saveLearned: async (m) => {
      saved.push([...m]);
    },
    now: () => clock,
    timers: fakeTimers,
  });
  const started = service.start();
  const value = (p: string) => store.get(p)?.value;
  return {
    service,
    started,
    store,
    lb,
    lines,
    rejections,
    advance,
    value,
    saved,
    play: (b: number[]) => lb.play(PAD, b),
  };
}

const FADER = { device: 'nano*', channel: 1, control: 'cc' as const, number: 0, path: '/layer/1/opacity' };

describe('MIDI service', () => {
  it('maps a fader to a parameter, attributed to the device', () => {
    const s = setup({ mappings: [FADER] });
    assert.equal(s.started.ok, true);
    s.play([0xb0, 0, 127]);
    assert.equal(s.value('/layer/1/opacity'), 1);
    assert.equal(s.store.get('/layer/1/opacity')?.source, `midi:${PAD}`);
    s.play([0xb1, 0, 0]);
    assert.equal(s.value('/layer/1/opacity'), 1, 'channel 2 is not mapped');
  });

  it('coalesces a fader storm to one write per interval, latest value last, without delaying another fader', () => {
    const s = setup({
      perControlHz: 100,
      mappings: [FADER, { ...FADER, number: 1, path: '/layer/2/opacity' }],
    });
    const writes: string[] = [];
    s.store.subscribe((cs) => writes.push(...cs.map((c) => `${c.path}=${c.value}`)));
    for (let v = 0; v <= 127; v++) s.play([0xb0, 0, v]);
    s.play([0xb0, 1, 127]);
    assert.deepEqual(writes, ['/layer/1/opacity=0', '/layer/2/opacity=1']);
    s.advance(10);
    assert.deepEqual(writes.slice(2), ['/layer/1/opacity=1']);
  });

  it('sends feedback for changes made elsewhere, never back to the device that moved it', () => {
    const s = setup({
      mappings: [FADER, { device: '*', channel: 1, control: 'cc14', number: 1, path: '/layer/1/hue' }],
    });
    s.store.apply([{ path: '/layer/1/opacity', value: 0.5 }], 'osc:udp:127.0.0.1:9');
    assert.deepEqual(s.lb.sent(PAD), [0xb0, 0, 64]);
    s.lb.clearSent();
    s.play([0xb0, 0, 10]);
    assert.deepEqual(s.lb.sent(PAD), [], 'no echo to the fader under the hand');
    s.store.apply([{ path: '/layer/1/hue', value: 180 }], 'cli');
    assert.deepEqual(s.lb.sent(PAD), [0xb0, 1, 64, 0xb0, 33, 0], '14-bit feedback sends MSB then LSB');
  });

  it('rate-limits feedback per control, sending the latest value', () => {
    const s = setup({ feedbackHz: 10, mappings: [FADER] });
    for (const v of [0.1, 0.2, 0.3, 1]) s.store.apply([{ path: '/layer/1/opacity', value: v }], 'cli');
    assert.deepEqual(s.lb.sent(PAD), [0xb0, 0, 13]);
    s.advance(100);
    assert.deepEqual(s.lb.sent(PAD), [0xb0, 0, 13, 0xb0, 0, 127]);
  });

  it('toggles on press, ignores release, and fires triggers on press only', () => {
    const s = setup({
      mappings: [
        { control: 'note', number: 36, path: '/master/blackout' },
        { control: 'cc', number: 41, path: '/strobe' },
      ],
    });
    const fired: number[] = [];
    s.store.subscribe((cs) => {
      for (const c of cs) if (c.path === '/strobe') fired.push(1);
    });
    s.play([0x90, 36, 127, 0x80, 36, 0]);
    assert.equal(s.value('/master/blackout'), true);
    s.play([0x90, 36, 100, 0x90, 36, 0]);
    assert.equal(s.value('/master/blackout'), false);
    s.play([0xb0, 41, 127, 0xb0, 41, 0, 0xb0, 41, 127]);
    assert.equal(fired.length, 2);
  });

  it('drives a parameter from a relative encoder, clamped to range', () => {
    const s = setup({
      mappings: [
        { control: 'cc', number: 16, path: '/tempo', curve: 'relative', encoding: 'twosComplement', step: 1 },
      ],
    });
    s.play([0xb0, 16, 3]);
    s.advance(10);
    s.play([0xb0, 16, 127]);
    s.advance(10);
    assert.equal(s.value('/tempo'), 122);
    for (let i = 0; i < 20; i++) s.play([0xb0, 16, 63]);
    s.advance(10);
    assert.equal(s.value('/tempo'), 999, 'accumulated steps clamp at max, pending steps included');
  });

  it('combines NRPN data into a 14-bit parameter write', () => {
    const s = setup({ mappings: [{ control: 'nrpn', number: 512, path: '/layer/2/hue' }] });
    s.play([0xb0, 99, 4, 0xb0, 98, 0, 0xb0, 6, 127, 0xb0, 38, 127]);
    s.advance(10);
    assert.equal(s.value('/layer/2/hue'), 360);
  });

  it('drops a flooding controller’s excess and counts it', () => {
    const s = setup({ eventsPerSecond: 100, mappings: [FADER] });
    for (let i = 0; i < 500; i++) s.play([0xb0, 0, i & 127]);
    assert.ok((s.rejections.counts()['midi-flood'] ?? 0) >= 400);
    // Tune request clears running status, so the next data byte belongs to nothing.
    s.play([0xf6, 0x01]);
    assert.equal(s.rejections.counts()['midi-orphan-data'], 1);
  });

  it('learns the next control that moves, preferring 14-bit when the LSB follows', async () => {
    const s = setup();
    const learning = s.service.learn('/layer/3/opacity', 5000);
    s.play([0xb0, 7, 100, 0xb0, 39, 5]);
    s.advance(200);
    const r = await learning;
    assert.equal(r.ok, true);
    assert.deepEqual(
      r.ok && {
        control: r.mapping.control,
        number: r.mapping.number,
        channel: r.mapping.channel,
        device: r.mapping.device,
      },
      {
        control: 'cc14',
        number: 7,
        channel: 1,
        device: PAD,
      },
    );
    assert.equal(s.saved.length, 1, 'saved at once');
    assert.equal(s.value('/layer/3/opacity'), 0, 'the learning gesture itself is not applied');
    s.play([0xb0, 7, 127, 0xb0, 39, 127]);
    s.advance(10);
    assert.equal(s.value('/layer/3/opacity'), 1);
    assert.deepEqual((await s.service.removeMapping('learned:1')).ok, true);
    assert.deepEqual(s.saved.at(-1), []);
    assert.equal((await s.service.removeMapping('config:1')).ok, false);
  });

  it('learns an NRPN, and times out with a clear result when nothing moves', async () => {
    const s = setup();
    const nrpn = s.service.learn('/layer/1/hue', 5000);
    s.play([0xb0, 99, 1, 0xb0, 98, 2, 0xb0, 6, 3, 0xb0, 38, 4]);
    s.advance(200);
    const r = await nrpn;
    assert.equal(r.ok && `${r.mapping.control} ${r.mapping.number}`, 'nrpn 130');
    const idle = s.service.learn('/scene', 1000);
    s.advance(1000);
    assert.deepEqual(await idle, { ok: false, code: 'timeout', error: 'no control moved within 1 s' });
    assert.equal((await s.service.learn('/layer/1/color', 10)).ok, false, 'colours cannot be MIDI-mapped');
  });

  it('opens devices plugged in later and closes unplugged ones', () => {
    const s = setup({ mappings: [{ ...FADER, device: '*' }] });
    s.lb.plug('APC MINI');
    s.advance(1000);
    assert.deepEqual(s.service.ports().open.inputs.sort(), ['APC MINI', PAD]);
    s.lb.unplug(PAD);
    s.advance(1000);
    assert.deepEqual(s.service.ports().open.inputs, ['APC MINI']);
    s.lb.play('APC MINI', [0xb0, 0, 127]);
    assert.equal(s.value('/layer/1/opacity'), 1);
  });

  it('starts with MIDI off when the backend is unavailable, and says why once', () => {
    const s = setup({ mappings: [FADER] }, false);
    assert.equal(s.started.ok, true);
    const off = s.lines.filter((l) => l.event === 'midi.off');
    assert.equal(off.length, 1);
    assert.match(String(off[0]!.msg), /MIDI is off: no ALSA sequencer/);
    assert.deepEqual(s.service.ports(), {
      available: false,
      reason: 'no ALSA sequencer (test)',
      inputs: [],
      outputs: [],
      open: { inputs: [], outputs: [] },
    });
  });

  it('refuses mappings to undeclared parameters or with a curve that does not fit', () => {
    const undeclared = setup({ mappings: [{ ...FADER, path: '/nope' }] }).started;
    assert.match(undeclared.ok ? '' : undeclared.error, /\/nope is not a declared parameter/);
    const bad = setup({ mappings: [{ ...FADER, path: '/layer/1/color' }] }).started;
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.error, /config:1: \/layer\/1\/color is a color/);
    const curve = setup({ mappings: [{ ...FADER, path: '/strobe', curve: 'linear' }] }).started;
    assert.match(curve.ok ? '' : curve.error, /curve "linear" does not fit trigger/);
  });
});
