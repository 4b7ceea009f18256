import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { callDaemon } from '../../daemon/control/client.ts';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import { decodeOscPacket, encodeOscPacket, IMMEDIATE, oscMessage } from '../../protocols/osc/codec.ts';
import { createLengthPrefixDecoder, lengthPrefixEncode } from '../../protocols/osc/length-prefix.ts';
import { createSlipDecoder, slipEncode } from '../../protocols/osc/slip.ts';
import { msToTimetag } from '../../protocols/osc/timetag.ts';
import type { OscMessage } from '../../protocols/osc/types.ts';
import {
  eventually,
  makeHome,
  runCliInProcess,
  runStartRefusal,
  startDaemon,
  type TestDaemon,
} from '../helpers/daemon.ts';
import { oscSender } from '../helpers/osc-client.ts';
import { missingTool } from '../helpers/tools.ts';

// The real daemon as a child process, driven by real OSC packets over UDP and TCP, checked
// through `hana get --json` and `hana status --json`.

const run = promisify(execFile);
const noOscsend = missingTool('oscsend', 'liblo-tools');
const noOscdump = noOscsend ?? missingTool('oscdump', 'liblo-tools');
const LIMITS = { maxBytes: 65536, maxDepth: 8 };

describe('daemon over UDP and TCP', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    assert.equal(await d.stop('SIGTERM'), 0, 'clean shutdown exits 0');
  });

  it('applies UDP messages and patterns, visible through hana get --json', async () => {
    const s = await oscSender(d.udpPort);
    try {
      await s.send(oscMessage('/layer/1/opacity', [{ type: 'f', value: 0.5 }]));
      await s.send(oscMessage('/layer/*/hue', [{ type: 'i', value: 180 }]));
      assert.ok(
        await eventually(async () => (await d.values('/layer/1/opacity'))['/layer/1/opacity'] === 0.5),
      );
      assert.ok(await eventually(async () => (await d.values('/layer/4/hue'))['/layer/4/hue'] === 180));
      const hues = await d.values('//hue');
      assert.deepEqual(Object.values(hues), [180, 180, 180, 180]);
    } finally {
      s.close();
    }
  });

  it('accepts values from Debian oscsend (liblo)', {
    skip: noOscsend,
  }, async () => {
    const port = String(d.udpPort);
    await run('oscsend', ['127.0.0.1', port, '/tempo', 'f', '128.5']);
    await run('oscsend', ['127.0.0.1', port, '/scene', 'i', '7']);
    await run('oscsend', ['127.0.0.1', port, '/master/blackout', 'T']);
    await run('oscsend', ['127.0.0.1', port, '/layer/3/color', 's', '#00FF00']);
    assert.ok(
      await eventually(async () => {
        const v = await d.values('//*');
        return (
          v['/tempo'] === 128.5 &&
          v['/scene'] === 7 &&
          v['/master/blackout'] === true &&
          v['/layer/3/color'] === '#00ff00ff'
        );
      }),
    );
  });

  it('a subscriber that sends an out-of-range value is told the clamped one, so its fader snaps to it', async () => {
    const s = await oscSender(d.udpPort);
    try {
      const got: OscMessage[] = [];
      s.socket.on('message', (bytes: Buffer) => {
        const r = decodeOscPacket(bytes, LIMITS);
        if (r.ok && r.packet.kind === 'message') got.push(r.packet);
      });
      await s.send(oscMessage('/hana/subscribe'));
      assert.ok(await eventually(async () => got.some((m) => m.address === '/layer/3/hue')), 'snapshot');
      got.length = 0;
      await s.send(oscMessage('/layer/3/hue', [{ type: 'i', value: 500 }]));
      assert.ok(
        await eventually(async () =>
          got.some((m) => m.address === '/layer/3/hue' && m.args[0]?.value === 360),
        ),
        JSON.stringify(got),
      );
      assert.equal((await d.values('/layer/3/hue'))['/layer/3/hue'], 360);
      // Later tests count subscribers: leave none.
      await s.send(oscMessage('/hana/unsubscribe'));
      assert.ok(await eventually(async () => (await d.status()).feedback.subscribers === 0));
    } finally {
      s.close();
    }
  });

  it('accepts liblo over TCP (oscsend osc.tcp://, size-prefixed OSC 1.0 framing)', {
    skip: noOscsend,
  }, async () => {
    const url = `osc.tcp://127.0.0.1:${d.tcpPort}`;
    await run('oscsend', [url, '/layer/3/opacity', 'f', '0.33']);
    await run('oscsend', [url, '/layer/3/hue', 'i', '77']);
    assert.ok(
      await eventually(async () => {
        const v = await d.values('/layer/3/*');
        return Math.abs((v['/layer/3/opacity'] as number) - 0.33) < 1e-6 && v['/layer/3/hue'] === 77;
      }),
    );
  });

  it('feeds changes back to a size-prefixed TCP client in its own framing', async () => {
    const sock = connect(d.tcpPort!, '127.0.0.1');
    const received: OscMessage[] = [];
    const decoder = createLengthPrefixDecoder({
      maxFrameBytes: 8192,
      onFrame: (frame) => {
        const r = decodeOscPacket(frame, LIMITS);
        if (r.ok && r.packet.kind === 'message') received.push(r.packet);
      },
      onError: (code) => received.push(oscMessage(`/decoder-error/${code}`)),
    });
    sock.on('data', (c) => decoder.push(c));
    sock.on('error', () => {});
    try {
      await new Promise<void>((r) => sock.once('connect', () => r()));
      // A value, then the subscribe: its snapshot carries the value (a sender is not echoed).
      sock.write(
        lengthPrefixEncode(encodeOscPacket(oscMessage('/layer/4/opacity', [{ type: 'f', value: 0.75 }]))),
      );
      sock.write(lengthPrefixEncode(encodeOscPacket(oscMessage('/hana/subscribe'))));
      assert.ok(
        await eventually(async () =>
          received.some((m) => m.address === '/layer/4/opacity' && m.args[0]?.value === 0.75),
        ),
        JSON.stringify(received.map((m) => m.address)),
      );
      assert.ok(!received.some((m) => m.address.startsWith('/decoder-error')), 'every frame decoded');
    } finally {
      sock.destroy();
    }
  });

  it('speaks OSC 1.1 over TCP with SLIP framing, and feeds changes back on the connection', async () => {
    const sock = connect(d.tcpPort!, '127.0.0.1');
    const received: OscMessage[] = [];
    const decoder = createSlipDecoder({
      maxFrameBytes: 8192,
      onFrame: (frame) => {
        const r = decodeOscPacket(frame, LIMITS);
        if (r.ok && r.packet.kind === 'message') received.push(r.packet);
      },
      onError: () => {},
    });
    sock.on('data', (c) => decoder.push(c));
    try {
      await new Promise<void>((r) => sock.once('connect', () => r()));
      // Two frames in one write, one subscribe: the connection then receives feedback.
      const a = slipEncode(encodeOscPacket(oscMessage('/layer/2/opacity', [{ type: 'f', value: 0.25 }])));
      const b = slipEncode(encodeOscPacket(oscMessage('/hana/subscribe')));
      sock.write(Buffer.concat([a, b]));
      assert.ok(
        await eventually(async () => (await d.values('/layer/2/opacity'))['/layer/2/opacity'] === 0.25),
      );
      // On subscribing, the client is sent every current value (so a fresh TouchOSC page syncs).
      assert.ok(await eventually(() => received.some((m) => m.address === '/tempo')));
      received.length = 0;
      const set = await d.cli('set', '/layer/2/hue', '45');
      assert.equal(set.code, 0, set.stderr);
      assert.ok(await eventually(() => received.some((m) => m.address === '/layer/2/hue')));
      assert.deepEqual(received.find((m) => m.address === '/layer/2/hue')!.args, [{ type: 'f', value: 45 }]);
    } finally {
      sock.destroy();
    }
  });

  it('sends feedback to UDP subscribers but does not echo their own writes', async () => {
    const listener = createSocket('udp4');
    await new Promise<void>((r) => listener.bind(0, '127.0.0.1', () => r()));
    const got: OscMessage[] = [];
    listener.on('message', (m) => {
      const r = decodeOscPacket(m, LIMITS);
      if (r.ok && r.packet.kind === 'message') got.push(r.packet);
    });
    const send = (msg: OscMessage) =>
      new Promise<void>((r) => listener.send(encodeOscPacket(msg), d.udpPort, '127.0.0.1', () => r()));
    try {
      await send(oscMessage('/hana/subscribe'));
      assert.ok(await eventually(() => got.some((m) => m.address === '/master/opacity')));
      got.length = 0;
      await send(oscMessage('/layer/3/opacity', [{ type: 'f', value: 0.75 }]));
      await d.cli('set', '/layer/4/opacity', '0.5');
      assert.ok(await eventually(() => got.some((m) => m.address === '/layer/4/opacity')));
      assert.equal(got.filter((m) => m.address === '/layer/3/opacity').length, 0, 'own write not echoed');
      await send(oscMessage('/hana/unsubscribe'));
      // The TCP client of the previous test is gone too, so nobody is subscribed now.
      assert.ok(await eventually(async () => (await d.status()).feedback.subscribers === 0));
    } finally {
      listener.close();
    }
  });

  it('feeds back to Debian oscdump (liblo) subscribed with oscsend', {
    skip: noOscdump,
  }, async () => {
    const probe = createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const port = probe.address().port;
    probe.close();
    const dump = spawn('oscdump', ['-L', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    dump.stdout.on('data', (c) => {
      out += c;
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      await run('oscsend', ['127.0.0.1', String(d.udpPort), '/hana/subscribe', 'i', String(port)]);
      assert.ok(await eventually(() => out.includes('/tempo f')), `snapshot received: ${out}`);
      await d.cli('set', '/layer/3/color', '#336699');
      assert.ok(await eventually(() => out.includes('/layer/3/color s "#336699ff"')), out);
      await run('oscsend', ['127.0.0.1', String(d.udpPort), '/hana/unsubscribe', 'i', String(port)]);
      assert.ok(await eventually(async () => (await d.status()).feedback.subscribers === 0));
      assert.equal(
        (await d.status()).rejected['unknown-address'] ?? 0,
        0,
        'control messages are not rejections',
      );
    } finally {
      dump.kill('SIGKILL');
    }
  });

  it('honours a bundle time tag: waits, then applies all of it at once', async () => {
    const s = await oscSender(d.udpPort);
    // Polled over the control socket (a CLI per poll took 6-8 s on a loaded machine, longer
    // than the bundle waited), and bounded by time.
    const ask = async <T>(method: string, params: unknown = {}): Promise<T> => {
      const r = await callDaemon(controlSocketPath(d.home), method, params, { timeoutMs: 10_000 });
      if (!r.ok) throw new Error(r.error.message);
      return r.result as T;
    };
    const valueAt = async (path: string) =>
      (await ask<{ params: { value: unknown }[] }>('get', { pattern: path })).params[0]?.value;
    const within = async (check: () => Promise<boolean>, ms = 15_000) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (await check()) return true;
        await new Promise((r) => setTimeout(r, 25));
      }
      return false;
    };
    try {
      await s.send({
        kind: 'bundle',
        timetag: msToTimetag(Date.now() + 3000),
        elements: [
          oscMessage('/scene', [{ type: 'i', value: 42 }]),
          oscMessage('/layer/1/hue', [{ type: 'f', value: 10 }]),
        ],
      });
      assert.ok(await within(async () => (await ask<DaemonStatus>('status')).ingest.scheduled === 1));
      assert.notEqual(await valueAt('/scene'), 42, 'held until its time');
      assert.ok(await within(async () => (await valueAt('/scene')) === 42));
      assert.equal(await valueAt('/layer/1/hue'), 10);
      await s.send({
        kind: 'bundle',
        timetag: IMMEDIATE,
        elements: [oscMessage('/scene', [{ type: 'i', value: 43 }])],
      });
      assert.ok(await within(async () => (await valueAt('/scene')) === 43));
    } finally {
      s.close();
    }
  });

  it('survives every kind of bad input, counting each under its reason', async () => {
    const s = await oscSender(d.udpPort);
    const before = (await d.status()).rejected as Record<string, number>;
    const bad: Uint8Array[] = [
      Buffer.from('/abc'), // unterminated-string
      Buffer.from('/ab\0,x\0\0'), // bad-type-tag
      Buffer.from('/ab\0,i\0\0\0\0'), // truncated
      Buffer.from('/ab\0,\0\0\0\0\0\0\0'), // trailing-bytes
      (() => {
        const b = Buffer.from(
          encodeOscPacket({ kind: 'bundle', timetag: IMMEDIATE, elements: [oscMessage('/scene', [])] }),
        );
        b.writeInt32BE(4096, 16);
        return b;
      })(), // bad-bundle-size
      Buffer.alloc(9000, 0x2f), // oversize
      Buffer.from('xyz\0'), // bad-address
      encodeOscPacket(oscMessage('/nope', [{ type: 'f', value: 1 }])), // unknown-address
      encodeOscPacket(oscMessage('/tempo', [{ type: 's', value: 'fast' }])), // wrong-type
      encodeOscPacket(oscMessage('/tempo', [{ type: 'f', value: 5000 }])), // out-of-range (reject policy)
    ];
    try {
      for (const b of bad) await s.send(b);
      for (let i = 0; i < 50; i++) await s.send(Buffer.from('/abc'));
      const want = {
        'unterminated-string': 51,
        'bad-type-tag': 1,
        truncated: 1,
        'trailing-bytes': 1,
        'bad-bundle-size': 1,
        oversize: 1,
        'bad-address': 1,
        'unknown-address': 1,
        'wrong-type': 1,
        'out-of-range': 1,
      };
      assert.ok(
        await eventually(async () => {
          const now = (await d.status()).rejected as Record<string, number>;
          return Object.entries(want).every(([k, n]) => (now[k] ?? 0) - (before[k] ?? 0) === n);
        }),
        'every rejection counted under its reason',
      );
      const lines = d.logs.filter((l) => l.event === 'input.rejected' && l.reason === 'unterminated-string');
      assert.ok(
        lines.length <= 2,
        `51 rejections from one source log at most once per interval (got ${lines.length})`,
      );
      // Still serving.
      await s.send(oscMessage('/scene', [{ type: 'i', value: 99 }]));
      assert.ok(await eventually(async () => (await d.values('/scene'))['/scene'] === 99));
    } finally {
      s.close();
    }
  });

  it('refuses a layer blend or deck outside its values (out-of-range, counted, and the allowed ones named)', async () => {
    const s = await oscSender(d.udpPort);
    const before = (await d.status()).rejected as Record<string, number>;
    try {
      await s.send(oscMessage('/layer/1/blend', [{ type: 's', value: 'overlay' }]));
      await s.send(oscMessage('/layer/1/deck', [{ type: 's', value: 'c' }]));
      await s.send(oscMessage('/layer/1/blend', [{ type: 's', value: 'screen' }]));
      assert.ok(
        await eventually(async () => (await d.values('/layer/1/blend'))['/layer/1/blend'] === 'screen'),
        'a declared blend mode is applied',
      );
      assert.ok(
        await eventually(async () => {
          const now = (await d.status()).rejected as Record<string, number>;
          return (now['out-of-range'] ?? 0) - (before['out-of-range'] ?? 0) === 2;
        }),
        'both refusals counted under out-of-range',
      );
      assert.equal((await d.values('/layer/1/deck'))['/layer/1/deck'], 'a', 'the deck kept its value');
      // The refusal says which values are allowed (the OSC one is logged rate-limited per source).
      const set = await d.cli('set', '/layer/1/blend', 'overlay');
      assert.equal(set.code, 1);
      assert.match(set.stderr, /"overlay" is not one of normal, add, multiply, screen/);
    } finally {
      s.close();
    }
  });

  it('reports usage errors with exit 2 and daemon errors with exit 1', async () => {
    const unknown = await d.cli('set', '/nope', '1');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /not a declared parameter/);
    const usage = await d.cli('get');
    assert.equal(usage.code, 2);
    const badOpt = await runCliInProcess(['status', '--bogus']);
    assert.equal(badOpt.code, 2);
    assert.match(badOpt.stderr, /unknown option --bogus/);
    const negative = await d.cli('set', '/layer/1/hue', '-5');
    assert.equal(negative.code, 0);
    assert.match(negative.stdout, /clamped/);
  });
});

describe('daemon under a flood', () => {
  it('keeps accepting a polite source while another floods', async () => {
    const d = await startDaemon({ config: { osc: { rateLimit: { unitsPerSecond: 500, burst: 50 } } } });
    const flooder = await oscSender(d.udpPort, '127.0.0.2');
    const polite = await oscSender(d.udpPort, '127.0.0.3');
    try {
      const packet = encodeOscPacket(oscMessage('/layer/1/hue', [{ type: 'f', value: 1 }]));
      let flooding = true;
      const flood = (async () => {
        for (let i = 0; i < 20_000 && flooding; i++) {
          flooder.socket.send(packet, d.udpPort, '127.0.0.1');
          if (i % 200 === 0) await new Promise((r) => setImmediate(r));
        }
      })();
      for (let i = 1; i <= 20; i++) {
        await polite.send(oscMessage('/layer/2/hue', [{ type: 'f', value: i }]));
        await new Promise((r) => setTimeout(r, 10));
      }
      flooding = false;
      await flood;
      assert.ok(await eventually(async () => (await d.values('/layer/2/hue'))['/layer/2/hue'] === 20));
      const status = await d.status();
      assert.ok((status.rejected.flood ?? 0) > 0, 'the flood is dropped and counted');
      assert.equal(status.rejected['not-allowed'], undefined);
      const sec = d.logs.filter((l) => l.security === true && l.reason === 'flood');
      assert.ok(sec.length >= 1 && sec.length <= 3, 'flood logged as a security event, a few lines at most');
    } finally {
      flooder.close();
      polite.close();
      await d.stop();
    }
  });
});

describe('daemon start-up and shutdown', () => {
  it('refuses an invalid config, naming the field, and starts nothing', async () => {
    const home = await makeHome();
    const file = join(home, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({ osc: { port: 'eight' }, params: { '/x': { type: 'float', min: 2, max: 1 } } }),
    );
    try {
      const r = await runStartRefusal(['start', '--home', home, '--config', file]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /osc\.port/);
      assert.match(r.stderr, /nothing was started/);
      assert.equal(existsSync(join(home, 'control.sock')), false);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('refuses to open OSC to the LAN without an allowlist', async () => {
    const home = await makeHome();
    try {
      const r = await runStartRefusal(['start', '--home', home, '--osc-bind', '0.0.0.0', '--osc-port', '0']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /osc\.allow/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('runs side by side with separate homes, refuses a second daemon on the same home, and stops on SIGINT', async () => {
    const a = await startDaemon();
    const b = await startDaemon();
    try {
      assert.notEqual(a.udpPort, b.udpPort);
      const second = await runStartRefusal(['start', '--home', a.home, '--osc-port', '0']);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /another hana \(pid \d+\) is running with home/);
      assert.equal((await a.status()).pid, a.proc.pid);
    } finally {
      const sock = join(b.home, 'control.sock');
      assert.equal(await b.stop('SIGINT'), 0);
      assert.equal(existsSync(sock), false, 'control socket removed on shutdown');
      await a.stop();
    }
  });

  it('tells the operator when no daemon is running', async () => {
    const home = await makeHome();
    try {
      const r = await runCliInProcess(['status', '--home', home]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no daemon is running/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
