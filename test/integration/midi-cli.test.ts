import assert from 'node:assert/strict';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { main } from '../../daemon/cli/main.ts';
import { Config } from '../../daemon/config/schema.ts';
import { startDaemon as startInProcess } from '../../daemon/daemon.ts';
import { eventually, makeHome, runCliInProcess, runStartRefusal, startDaemon } from '../helpers/daemon.ts';
import { captureLogger } from '../helpers/log-capture.ts';
import { midiLoopback } from '../helpers/midi-loopback.ts';

// `hana midi …` against real daemons: a child process on this machine (no sound support, so
// MIDI is off and must say so), and an in-process daemon with an in-memory MIDI backend so
// learn can be driven end to end from the CLI.

describe('hana midi on a machine without MIDI', () => {
  it('starts anyway, says once why MIDI is off, and lists config mappings', async () => {
    const d = await startDaemon({
      config: {
        midi: { mappings: [{ device: 'nano*', control: 'cc', number: 0, path: '/layer/1/opacity' }] },
      },
    });
    try {
      const ports = await d.cli('midi', 'ports');
      assert.equal(ports.code, 0);
      assert.match(ports.stdout, /MIDI is off: /);
      const json = JSON.parse((await d.cli('midi', 'ports', '--json')).stdout);
      assert.equal(json.available, false);
      assert.ok(typeof json.reason === 'string' && json.reason.length > 10);
      assert.equal(d.logs.filter((l) => l.event === 'midi.off').length, 1);
      const list = JSON.parse((await d.cli('midi', 'map', 'list', '--json')).stdout);
      assert.deepEqual(
        list.map((m: { id: string; path: string }) => [m.id, m.path]),
        [['config:1', '/layer/1/opacity']],
      );
      const remove = await d.cli('midi', 'map', 'remove', 'config:1');
      assert.equal(remove.code, 1);
      assert.match(remove.stderr, /comes from the config file/);
      const usage = await d.cli('midi', 'bogus');
      assert.equal(usage.code, 2);
      // OSC still works.
      assert.equal((await d.cli('set', '/layer/1/opacity', '0.25')).code, 0);
    } finally {
      await d.stop();
    }
  });

  it('refuses to start with a mapping to an undeclared parameter, naming it', async () => {
    const home = await makeHome();
    try {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(
        join(home, 'config.json'),
        JSON.stringify({
          peers: { bind: '127.0.0.1', port: 0, discovery: false },
          midi: { mappings: [{ control: 'cc', number: 1, path: '/nope' }] },
        }),
      );
      const r = await runStartRefusal(['start', '--home', home, '--osc-port', '0']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /config:1: \/nope is not a declared parameter/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('hana midi learn end to end', () => {
  it('binds the control moved after `hana midi learn`, saves it 0600, and keeps it across restarts', async () => {
    const home = await makeHome();
    const lb = midiLoopback();
    lb.plug('Launch Control XL');
    // Loopback only, no mDNS: this test must send nothing beyond this machine.
    const config = Config.parse({
      osc: { port: 0 },
      midi: { pollMs: 100 },
      peers: { bind: '127.0.0.1', port: 0, discovery: false },
      oscquery: { port: 0, advertise: false },
    });
    const start = () =>
      startInProcess({
        home,
        config,
        configSource: 'test',
        log: captureLogger().log,
        midiBackend: { ok: true, backend: lb.backend },
      });
    let d = await start();
    try {
      // In this process, through the CLI's own main(): learn is a call on the control socket that
      // waits for a move, so it needs no process of its own, and a Node start under load took
      // longer than the wait for its prompt.
      let stdout = '';
      let stderr = '';
      const exited = main(['midi', 'learn', '/layer/2/hue', '--home', home, '--timeout', '20'], {
        stdout: (c) => {
          stdout += c;
        },
        stderr: (c) => {
          stderr += c;
        },
      });
      assert.ok(await eventually(() => stderr.includes('move the control'), 200, 25), stderr);
      lb.play('Launch Control XL', [0xb8, 13, 90]);
      assert.equal(await exited, 0, stderr);
      assert.match(stdout, /learned: Launch Control XL ch 9 cc 13 → \/layer\/2\/hue \(linear\)/);
      const file = join(home, 'midi-mappings.json');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      await d.stop();
      d = await start();
      lb.play('Launch Control XL', [0xb8, 13, 127]);
      assert.ok(
        await eventually(
          async () =>
            (await runCliInProcess(['get', '/layer/2/hue', '--home', home])).stdout.trim() === '360',
        ),
      );
      const list = JSON.parse(
        (await runCliInProcess(['midi', 'map', 'list', '--json', '--home', home])).stdout,
      );
      assert.deepEqual(
        list.map((m: { id: string }) => m.id),
        ['learned:1'],
      );
    } finally {
      await d.stop();
      await rm(home, { recursive: true, force: true });
    }
  });
});
