import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { encodeOsc, methods, openSocket, query } from '../helpers/oscquery-client.ts';
import { missingTool } from '../helpers/tools.ts';
import { waitFor } from '../helpers/wait.ts';

// The daemon's OSCQuery server as other apps meet it: read with a client written from the
// proposal, streamed to by liblo's oscsend over UDP, shown by `hana status`.

const run = promisify(execFile);
const noOscsend = missingTool('oscsend', 'liblo-tools');

describe('daemon OSCQuery', () => {
  let d: TestDaemon;
  let port: number;
  before(async () => {
    d = await startDaemon();
    port = (await d.status()).oscquery!.port;
  });
  after(async () => {
    assert.equal(await d.stop('SIGTERM'), 0, 'clean shutdown exits 0');
  });

  it('shows the server in hana status and status --json', async () => {
    const json = await d.cli('status', '--json');
    assert.equal(json.code, 0);
    assert.equal(JSON.parse(json.stdout).oscquery.port, port);
    const text = await d.cli('status');
    assert.match(text.stdout, new RegExp(`^oscquery  http://127\\.0\\.0\\.1:${port}/ `, 'm'));
  });

  it('serves the declared parameters, their values and HOST_INFO', async () => {
    const paths = methods(await query(port, '/')).map((m) => m.path);
    const declared = JSON.parse((await d.cli('params', '--json')).stdout) as { path: string }[];
    assert.deepEqual(paths.sort(), declared.map((p) => p.path).sort());
    assert.equal((await d.cli('set', '/tempo', '128')).code, 0);
    assert.deepEqual(await query(port, '/tempo?VALUE'), { VALUE: [128] });
    const info = await query(port, '/?HOST_INFO');
    assert.equal(info.OSC_PORT, d.udpPort);
    assert.equal(info.OSC_TRANSPORT, 'UDP');
    assert.equal(info.WS_PORT, port);
    assert.equal((info.EXTENSIONS as Record<string, boolean>).LISTEN, true);
  });

  it('streams a LISTENed parameter as binary OSC after an oscsend', { skip: noOscsend }, async () => {
    const c = await openSocket(port);
    try {
      c.listen('/layer/1/opacity');
      // The LISTEN and the UDP packet race: send until a frame comes, bounded by time.
      let v = 0.3;
      const got = await waitFor(async () => {
        // A new value each time: a re-sent value changes nothing and streams nothing.
        v = v === 0.3 ? 0.33 : 0.3;
        await run('oscsend', ['127.0.0.1', String(d.udpPort), '/layer/1/opacity', 'f', String(v)]);
        return waitFor(() => c.frames.some((f) => f.address === '/layer/1/opacity'), 500);
      }, 20_000);
      assert.ok(got, 'no binary frame for /layer/1/opacity');
      const frame = c.frames.find((f) => f.address === '/layer/1/opacity')!;
      assert.equal(frame.args[0]?.type, 'f');
      const value = frame.args[0]!.value as number;
      assert.ok(
        [0.3, 0.33].some((x) => Math.abs(value - x) < 1e-6),
        `${value}`,
      );
    } finally {
      c.close();
    }
  });

  it('applies binary OSC sent over the WebSocket, as hana get shows', async () => {
    const c = await openSocket(port);
    try {
      c.ws.send(encodeOsc('/layer/2/hue', [{ type: 'f', value: 45 }]));
      assert.ok(await waitFor(async () => (await d.values('/layer/2/hue'))['/layer/2/hue'] === 45, 20_000));
    } finally {
      c.close();
    }
  });
});

describe('daemon OSCQuery port', () => {
  it('falls back to a free port with a log line when oscquery.port is taken', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const taken = (holder.address() as { port: number }).port;
    const d = await startDaemon({ config: { oscquery: { port: taken } } });
    try {
      const port = (await d.status()).oscquery!.port;
      assert.notEqual(port, taken);
      assert.ok(d.logs.some((l) => l.event === 'oscquery.port-busy' && l.port === taken));
      assert.equal((await query(port, '/tempo?TYPE')).TYPE, 'f');
    } finally {
      await d.stop();
      holder.close();
    }
  });

  it('is off with oscquery.enabled false', async () => {
    const d = await startDaemon({ config: { oscquery: { enabled: false } } });
    try {
      assert.equal((await d.status()).oscquery, null);
      assert.match((await d.cli('status')).stdout, /^oscquery {2}off$/m);
    } finally {
      await d.stop();
    }
  });
});
