import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { Config } from '../../daemon/config/schema.ts';
import { startDaemon as startInProcess } from '../../daemon/daemon.ts';
import { eventually, makeHome, runCliInProcess, startDaemon } from '../helpers/daemon.ts';
import { captureLogger } from '../helpers/log-capture.ts';
import { midiLoopback } from '../helpers/midi-loopback.ts';

// MIDI clock through the real daemon: config, the MIDI backend interface (the in-memory
// loopback at its byte boundary, since this machine has no sound support), the shared timeline,
// the control socket and the CLI. Timing itself is tested on a fake clock
// (test/daemon/midi-clock/); here only what bytes go out in which order, and who leads.

const OUT = 'TR-8S MIDI 1';
const IN = 'Digitakt MIDI 1';

const contains = (hay: number[], needle: number[]) =>
  hay.some((_, i) => needle.every((b, j) => hay[i + j] === b));

describe('MIDI clock through the daemon', { timeout: 120_000 }, () => {
  it('on this machine (no sound support) the real RtMidi path says why the clock is off', async () => {
    const d = await startDaemon({ config: { midi: { clock: { out: ['*'], in: '*' } } } });
    try {
      const s = JSON.parse((await d.cli('midi', 'clock', '--json')).stdout);
      assert.equal(s.available, false);
      assert.match(s.reason, /no ALSA sequencer|MIDI library could not start/);
      assert.match((await d.cli('status')).stdout, /^midiclock off: MIDI is off \(/m);
      assert.equal((await d.cli('set', '/tempo', '120')).code, 0);
      const play = await d.cli('midi', 'clock', 'play');
      assert.equal(play.code, 1);
      assert.match(play.stderr, /MIDI is off .* no MIDI clock can start or stop/);
      assert.equal(d.logs.filter((l) => l.event === 'midi-clock.off').length, 1);
    } finally {
      await d.stop();
    }
  });

  it('clock out follows the shared beat and hana midi clock play|stop; clock in leads the tempo, then lets go', async () => {
    const home = await makeHome();
    const lb = midiLoopback();
    lb.plug(OUT);
    lb.plug(IN);
    const { log, lines } = captureLogger();
    // Loopback only, no mDNS: this test must send nothing beyond this machine.
    const config = Config.parse({
      osc: { port: 0 },
      midi: { pollMs: 100, inputs: ['nothing'], clock: { out: ['tr-8s*'], in: 'Digitakt*' } },
      peers: { bind: '127.0.0.1', port: 0, discovery: false },
      oscquery: { port: 0, advertise: false },
    });
    const d = await startInProcess({
      home,
      config,
      configSource: 'test',
      log,
      midiBackend: { ok: true, backend: lb.backend },
    });
    const cli = (...args: string[]) => runCliInProcess([...args, '--home', home]);
    const status = async () => JSON.parse((await cli('midi', 'clock', '--json')).stdout);
    let feeding: NodeJS.Timeout | undefined;
    try {
      assert.equal((await cli('midi', 'clock', 'play')).code, 1, 'no shared beat yet');
      assert.equal((await cli('set', '/tempo', '120')).code, 0);
      assert.ok(await eventually(() => lb.sent(OUT).filter((b) => b === 0xf8).length >= 24));
      assert.ok(
        lb.sent(OUT).every((b) => b === 0xf8),
        'stopped: clocks only',
      );

      const play = await cli('midi', 'clock', 'play');
      assert.equal(play.code, 0, play.stderr);
      assert.match(play.stdout, /starting on the next bar/);
      assert.ok(await eventually(() => lb.sent(OUT).includes(0xfa)));
      assert.ok(contains(lb.sent(OUT), [0xf2, 0, 0, 0xfa, 0xf8]), 'song position, start, first clock');
      const stop = await cli('midi', 'clock', 'stop');
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(lb.sent(OUT).filter((b) => b === 0xfc).length, 1);

      const text = await cli('status');
      assert.match(
        text.stdout,
        /^midiclock out → TR-8S MIDI 1 \(stopped, \d+ clocks\); in ← Digitakt MIDI 1 \(no clock yet\)/m,
      );
      const json = JSON.parse((await cli('status', '--json')).stdout);
      assert.deepEqual(json.midiClock.out.ports, [OUT]);
      assert.equal(json.midiClock.tempoSource, 'hana');

      // A drum machine's clock at 100 bpm, each tick at its own time (not a chain of intervals).
      const period = 60_000 / (100 * 24);
      const t0 = performance.now();
      let i = 0;
      const next = () => {
        lb.play(IN, [0xf8]);
        i++;
        feeding = setTimeout(next, Math.max(0, t0 + i * period - performance.now()));
      };
      next();
      assert.ok(
        await eventually(async () => (await status()).in.state === 'following'),
        JSON.stringify(await status()),
      );
      assert.ok(
        await eventually(async () => {
          const r = JSON.parse((await cli('get', '/tempo', '--json')).stdout);
          return Math.abs(r[0].value - 100) < 3;
        }),
        'hana follows the clock in',
      );
      const s = await status();
      assert.equal(s.tempoSource, 'midi-clock');
      const refused = await cli('midi', 'clock', 'play');
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /the MIDI clock on Digitakt MIDI 1 leads start and stop/);

      clearTimeout(feeding);
      feeding = undefined;
      assert.ok(await eventually(async () => (await status()).in.state === 'lost'));
      assert.equal(lines.filter((l) => l.event === 'midi-clock.lost').length, 1);
      assert.equal((await status()).tempoSource, 'hana');
    } finally {
      if (feeding) clearTimeout(feeding);
      await d.stop();
      await rm(home, { recursive: true, force: true });
    }
  });
});
