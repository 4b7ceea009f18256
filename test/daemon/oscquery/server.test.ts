import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { after, describe, it } from 'node:test';
import { OscQueryConfig } from '../../../daemon/config/oscquery-schema.ts';
import { DEFAULT_PARAMS, type ParamMap } from '../../../daemon/config/params-schema.ts';
import { createOscIngest } from '../../../daemon/ingest/osc-ingest.ts';
import { createRejections } from '../../../daemon/ingest/rejections.ts';
import { createSourceFilter, type SourceFilter } from '../../../daemon/ingest/source-filter.ts';
import { createRateLimiter } from '../../../daemon/ingest/token-bucket.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { type OscQueryServer, startOscQueryServer } from '../../../daemon/oscquery/server.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { createStore } from '../../../daemon/state/store.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { encodeOsc, httpGet, methods, openSocket, query } from '../../helpers/oscquery-client.ts';
import { waitFor } from '../../helpers/wait.ts';

// The OSCQuery server on real sockets, read by a client written from the proposal
// (test/helpers/oscquery-client.ts). The store, registry and ingest are the daemon's own.

const servers: OscQueryServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

type Options = {
  params?: ParamMap;
  config?: Partial<OscQueryConfig>;
  filter?: SourceFilter;
  /** osc.rateLimit */
  rate?: { ratePerSecond: number; burst: number };
};

async function start(opts: Options = {}) {
  const { log, lines } = captureLogger();
  const registry = createRegistry(opts.params ?? DEFAULT_PARAMS);
  const store = createStore({ registry, hlc: createHlc({ node: 'n1' }) });
  const inputRejections = createRejections({ log, security: securityLogger(log), intervalMs: 0 });
  const ingest = createOscIngest({
    registry,
    store,
    rejections: inputRejections,
    filter: createSourceFilter([]),
    limiter: createRateLimiter(opts.rate ?? { ratePerSecond: 25_000, burst: 10_000 }),
    limits: { maxBytes: 8192, maxDepth: 8, maxScheduled: 8, maxScheduleAheadMs: 60_000 },
  });
  const server = await startOscQueryServer({
    config: OscQueryConfig.parse({ port: 0, ...opts.config }),
    bind: '127.0.0.1',
    filter: opts.filter ?? createSourceFilter([]),
    registry,
    store,
    ingest,
    maxPacketBytes: 8192,
    name: 'stage-left',
    oscPort: 8000,
    log,
    security: securityLogger(log),
    rejectIntervalMs: 0,
  });
  servers.push(server);
  return { server, port: server.port, store, registry, ingest, inputRejections, lines };
}

describe('OSCQuery namespace over HTTP', () => {
  it('serves every declared parameter with the attributes the spec names', async () => {
    const { port, registry } = await start();
    const root = await query(port, '/');
    assert.equal(root.FULL_PATH, '/');
    const found = methods(root);
    assert.deepEqual(found.map((m) => m.path).sort(), [...registry.paths].sort());
    for (const { path, node } of found) {
      assert.equal(node.FULL_PATH, path);
      const type = node.TYPE as string;
      assert.match(type, /^[ifsTrN]$/, `${path} TYPE`);
      assert.ok([2, 3].includes(node.ACCESS as number), `${path} ACCESS`);
      // VALUE, RANGE, CLIPMODE, UNIT: one item per type tag.
      for (const key of ['VALUE', 'RANGE', 'CLIPMODE', 'UNIT']) {
        if (key in node) assert.equal((node[key] as unknown[]).length, type.length, `${path} ${key}`);
      }
      if (node.ACCESS === 3) assert.ok('VALUE' in node, `${path} readable but without VALUE`);
    }
    const hue = found.find((m) => m.path === '/layer/1/hue')!.node;
    assert.deepEqual(
      { TYPE: hue.TYPE, RANGE: hue.RANGE, CLIPMODE: hue.CLIPMODE, UNIT: hue.UNIT, VALUE: hue.VALUE },
      { TYPE: 'f', RANGE: [{ MIN: 0, MAX: 360 }], CLIPMODE: ['both'], UNIT: ['angle.degree'], VALUE: [0] },
    );
    assert.equal(hue.DESCRIPTION, 'Hue shift of layer 1.');
    const tempo = found.find((m) => m.path === '/tempo')!.node;
    assert.deepEqual(tempo.CLIPMODE, ['none'], 'a rejecting parameter does not clip');
    assert.deepEqual(found.find((m) => m.path === '/layer/1/color')!.node.VALUE, ['#FFFFFFFF']);
    assert.deepEqual(found.find((m) => m.path === '/master/blackout')!.node.VALUE, [false]);
    assert.equal(found.find((m) => m.path === '/strobe')!.node.ACCESS, 2);
  });

  it('answers a sub-tree, attribute queries, 204, 400 and 404 as the spec says', async () => {
    const { port, store, server } = await start();
    const layer = await query(port, '/layer/2');
    assert.equal(layer.FULL_PATH, '/layer/2');
    assert.deepEqual(Object.keys(layer.CONTENTS as object).sort(), [
      'blend',
      'color',
      'deck',
      'hue',
      'opacity',
    ]);
    assert.deepEqual(await query(port, '/layer/2/'), layer, 'a trailing slash is the same node');
    store.apply([{ path: '/layer/1/opacity', value: 0.25 }], 'cli');
    assert.deepEqual(await query(port, '/layer/1/opacity?VALUE'), { VALUE: [0.25] });
    assert.deepEqual(await query(port, '/layer/1/opacity?TYPE'), { TYPE: 'f' });
    assert.deepEqual(await query(port, '/tempo?RANGE'), { RANGE: [{ MIN: 20, MAX: 999 }] });
    assert.deepEqual(await query(port, '/layer?TYPE'), {}, 'a container has no TYPE');
    assert.deepEqual(await query(port, '/layer/1/opacity#frag'), await query(port, '/layer/1/opacity'));
    // The whole tree shows the new value too (its cached text was dropped).
    const again = methods(await query(port, '/')).find((m) => m.path === '/layer/1/opacity')!;
    assert.deepEqual(again.node.VALUE, [0.25]);

    assert.equal((await httpGet(port, '/strobe?VALUE')).status, 204, 'a trigger has no value to read');
    assert.equal((await httpGet(port, '/layer?VALUE')).status, 204, 'nor has a container');
    assert.equal((await httpGet(port, '/layer/9/hue')).status, 404);
    assert.equal((await httpGet(port, '/nope?VALUE')).status, 404);
    assert.equal((await httpGet(port, '/tempo?TAGS')).status, 400, 'an attribute hana does not serve');
    assert.equal((await httpGet(port, '/tempo?VALUE&TYPE')).status, 400);
    assert.equal((await httpGet(port, '/%E0%A4%A')).status, 400, 'a path that does not decode');
    const post = await httpGet(port, '/', 'POST');
    assert.equal(post.status, 405);
    const head = await httpGet(port, '/tempo', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.match((await httpGet(port, '/')).type ?? '', /^application\/json/);
    const r = server.stats().rejected;
    assert.equal(r['oscquery-not-found'], 2);
    assert.equal(r['oscquery-bad-attribute'], 2);
    assert.equal(r['oscquery-bad-method'], 1);
    assert.equal(r['oscquery-bad-request'], 1);
  });

  it('answers HOST_INFO on any path with the OSC and WebSocket ports and its extensions', async () => {
    const { port } = await start();
    const info = await query(port, '/tempo?HOST_INFO');
    assert.deepEqual(info, {
      NAME: 'stage-left',
      EXTENSIONS: {
        ACCESS: true,
        VALUE: true,
        RANGE: true,
        DESCRIPTION: true,
        CLIPMODE: true,
        UNIT: true,
        LISTEN: true,
      },
      OSC_IP: '127.0.0.1',
      OSC_PORT: 8000,
      OSC_TRANSPORT: 'UDP',
      WS_IP: '127.0.0.1',
      WS_PORT: port,
    });
  });

  it('serves 10,000 parameters and the values written since, from cache', async () => {
    const params: ParamMap = {};
    for (let i = 0; i < 10_000; i++) {
      params[`/bank/${i % 100}/p${i}`] = { type: 'float', min: 0, max: 1, outOfRange: 'clamp' };
    }
    const { port, store } = await start({ params });
    assert.equal(methods(await query(port, '/')).length, 10_000);
    store.apply([{ path: '/bank/7/p4207', value: 0.5 }], 'cli');
    const again = methods(await query(port, '/'));
    assert.deepEqual(again.find((m) => m.path === '/bank/7/p4207')!.node.VALUE, [0.5]);
    assert.deepEqual(again.find((m) => m.path === '/bank/8/p4208')!.node.VALUE, [0]);
  });
});

describe('OSCQuery WebSocket', () => {
  it('streams a LISTENed path as binary OSC, and stops after IGNORE', async () => {
    const { port, store } = await start();
    const c = await openSocket(port);
    c.listen('/layer/1/opacity');
    c.listen('/layer/1/color');
    c.listen('/master/blackout');
    // Commands and writes race on two sockets: wait until the listen is in place.
    assert.ok(
      await waitFor(async () => {
        store.apply([{ path: '/layer/1/opacity', value: Math.random() }], 'cli');
        return c.frames.length > 0;
      }, 10_000),
    );
    store.apply([{ path: '/layer/1/opacity', value: 0.5 }], 'cli');
    store.apply([{ path: '/layer/1/color', value: '#ff000080' }], 'cli');
    store.apply([{ path: '/master/blackout', value: true }], 'cli');
    store.apply([{ path: '/layer/2/opacity', value: 0.5 }], 'cli');
    assert.ok(await waitFor(() => c.frames.some((f) => f.address === '/master/blackout'), 10_000));
    const last = (address: string) => c.frames.filter((f) => f.address === address).at(-1);
    assert.deepEqual(last('/layer/1/opacity')?.args, [{ type: 'f', value: 0.5 }]);
    assert.deepEqual(last('/layer/1/color')?.args, [
      { type: 'r', value: { r: 255, g: 0, b: 0, a: 128 / 255 } },
    ]);
    assert.deepEqual(last('/master/blackout')?.args, [{ type: 'T', value: true }]);
    assert.ok(!c.frames.some((f) => f.address === '/layer/2/opacity'), 'not listened to');

    c.ignore('/layer/1/opacity');
    c.listen('/master/opacity');
    assert.ok(
      await waitFor(async () => {
        store.apply([{ path: '/master/opacity', value: Math.random() }], 'cli');
        return c.frames.some((f) => f.address === '/master/opacity');
      }, 10_000),
    );
    // The IGNORE was sent before that LISTEN on the same socket, so it is in place too.
    const before = c.frames.length;
    store.apply([{ path: '/layer/1/opacity', value: 0.125 }], 'cli');
    store.apply([{ path: '/master/opacity', value: 0.75 }], 'cli');
    assert.ok(await waitFor(() => c.frames.length > before, 10_000));
    assert.ok(!c.frames.slice(before).some((f) => f.address === '/layer/1/opacity'));
    c.close();
  });

  it('applies binary OSC sent over the socket through the ingest, with an osc:ws writer', async () => {
    const { port, store, inputRejections } = await start();
    const c = await openSocket(port);
    c.ws.send(encodeOsc('/layer/3/hue', [{ type: 'f', value: 90 }]));
    assert.ok(await waitFor(() => store.get('/layer/3/hue')?.value === 90, 10_000));
    assert.match(store.get('/layer/3/hue')!.source, /^osc:ws:127\.0\.0\.1:\d+$/);
    // The same validation as UDP: a wrong type and garbage are refused under the input reasons.
    c.ws.send(encodeOsc('/tempo', [{ type: 's', value: 'fast' }]));
    c.ws.send(Buffer.from('/no-nul'));
    assert.ok(
      await waitFor(() => {
        const r = inputRejections.counts();
        return (
          r['wrong-type'] === 1 &&
          (r['bad-address'] ?? 0) + (r.truncated ?? 0) + (r['unterminated-string'] ?? 0) === 1
        );
      }, 10_000),
    );
    c.close();
  });

  it('does not echo a client its own writes', async () => {
    const { port, store } = await start();
    const a = await openSocket(port);
    const b = await openSocket(port);
    for (const c of [a, b]) c.listen('/scene');
    assert.ok(
      await waitFor(async () => {
        store.apply([{ path: '/scene', value: Math.floor(Math.random() * 100) }], 'cli');
        return a.frames.length > 0 && b.frames.length > 0;
      }, 10_000),
    );
    const seenA = a.frames.length;
    a.ws.send(encodeOsc('/scene', [{ type: 'i', value: 101 }]));
    assert.ok(await waitFor(() => b.frames.some((f) => f.args[0]?.value === 101), 10_000));
    store.apply([{ path: '/scene', value: 102 }], 'cli');
    assert.ok(await waitFor(() => a.frames.some((f) => f.args[0]?.value === 102), 10_000));
    assert.ok(!a.frames.slice(seenA).some((f) => f.args[0]?.value === 101));
    a.close();
    b.close();
  });
});

describe('OSCQuery under bad input', () => {
  it('answers malformed HTTP with 400, counts it, and keeps answering', async () => {
    const { port, server } = await start();
    const reply = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      s.write('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.equal(server.stats().rejected['oscquery-bad-request'], 1);
    assert.equal((await httpGet(port, '/tempo?TYPE')).status, 200);
  });

  it('refuses LISTENs beyond maxListensPerClient, unknown paths and odd commands, and keeps the socket', async () => {
    const { port, server, store } = await start({ config: { maxListensPerClient: 4 } });
    const c = await openSocket(port);
    const paths = ['/layer/1/hue', '/layer/2/hue', '/layer/3/hue', '/layer/4/hue', '/tempo', '/scene'];
    for (const p of paths) c.listen(p);
    c.listen('/layer'); // a container
    c.listen('/nowhere');
    c.ws.send('{"COMMAND":"LISTEN","DATA":["/tempo"]}');
    c.ws.send('not json');
    c.ws.send('{"COMMAND":"PATH_ADDED","DATA":"/x"}');
    const r = () => server.stats().rejected;
    assert.ok(
      await waitFor(() => r()['oscquery-bad-command'] === 3 && r()['oscquery-not-found'] === 2, 10_000),
    );
    assert.equal(r()['oscquery-too-many-listens'], 2);
    assert.equal(server.stats().listens, 4);
    store.apply([{ path: '/layer/4/hue', value: 44 }], 'cli');
    assert.ok(await waitFor(() => c.frames.some((f) => f.address === '/layer/4/hue'), 10_000));
    c.close();
    assert.ok(await waitFor(() => server.stats().listens === 0, 10_000), 'a closed socket listens no more');
  });

  it('closes a socket that floods commands (1008) or sends an oversize message (1009), and keeps serving', async () => {
    const { port, server } = await start({ config: { commandsPerSecond: 10, maxListensPerClient: 50 } });
    const flood = await openSocket(port);
    for (let i = 0; i < 5_000; i++) flood.listen('/tempo');
    assert.equal((await flood.closed).code, 1008);
    assert.equal(server.stats().rejected['oscquery-flood'], 1);

    const big = await openSocket(port);
    big.ws.send(Buffer.alloc(100_000), { binary: true });
    assert.equal((await big.closed).code, 1009);
    const text = await openSocket(port);
    text.ws.send(`{"COMMAND":"LISTEN","DATA":"/${'x'.repeat(6000)}"}`);
    assert.equal((await text.closed).code, 1009);
    assert.equal(server.stats().rejected['oscquery-oversize'], 2);

    const ok = await openSocket(port);
    ok.listen('/tempo');
    assert.ok(await waitFor(() => server.stats().listens === 1, 10_000));
    assert.equal((await httpGet(port, '/tempo?TYPE')).status, 200);
    ok.close();
  });

  it('counts a flood of binary OSC against osc.rateLimit, as UDP, and keeps the socket', async () => {
    const { port, store, inputRejections } = await start({ rate: { ratePerSecond: 100, burst: 100 } });
    const c = await openSocket(port);
    const packet = encodeOsc('/layer/1/hue', [{ type: 'f', value: 1 }]);
    for (let i = 0; i < 5_000; i++) c.ws.send(packet);
    assert.ok(await waitFor(() => (inputRejections.counts().flood ?? 0) > 0, 20_000));
    // The same socket is still heard once its bucket refills.
    assert.ok(
      await waitFor(async () => {
        c.ws.send(encodeOsc('/layer/1/hue', [{ type: 'f', value: 7 }]));
        await new Promise((r) => setTimeout(r, 50));
        return store.get('/layer/1/hue')?.value === 7;
      }, 20_000),
    );
    c.close();
  });

  it('drops frames for a client that stops reading, and keeps serving the others', async () => {
    // Kilobyte strings, so a few rounds fill the kernel's socket buffers (several MiB on
    // loopback) and then the server's: with floats it took hundreds of rounds, and at load 14
    // on 2 cores more than the minute this test allows.
    const params: ParamMap = {};
    for (let i = 0; i < 2_000; i++) params[`/p/${i}`] = { type: 'string', maxLength: 2048 };
    const text = (v: number) => `${'x'.repeat(1000)}${v}`;
    const { port, server, store } = await start({ params });
    const paths = Object.keys(params);
    const stalled = await openSocket(port);
    const reader = await openSocket(port);
    for (const p of paths) stalled.listen(p);
    reader.listen('/p/0');
    assert.ok(await waitFor(() => server.stats().listens === paths.length + 1, 10_000));
    // A client whose machine froze: its socket is no longer read, so the kernel's buffers fill,
    // then the server's.
    (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    let v = 0;
    const dropped = await waitFor(async () => {
      v++;
      store.apply(
        paths.map((path) => ({ path, value: text(v) })),
        'cli',
      );
      await new Promise((r) => setImmediate(r));
      return server.stats().dropped > 0;
    }, 60_000);
    assert.ok(dropped, `nothing dropped after ${v} rounds of ${paths.length} changes`);
    assert.ok(v < 50, `it took ${v} rounds`);
    const seen = reader.frames.length;
    store.apply([{ path: '/p/0', value: 'last' }], 'cli');
    assert.ok(
      await waitFor(() => reader.frames.slice(seen).some((f) => f.args[0]?.value === 'last'), 10_000),
    );
    assert.equal((await httpGet(port, '/p/0?VALUE')).status, 200);
    stalled.ws.terminate();
    reader.close();
  });

  it('the attacker: a DNS-rebinding page (Host evil.example) reads nothing; our own names are served', async () => {
    const { port, server } = await start();
    const evil = await httpGet(port, '/layer/1/opacity?VALUE', 'GET', { Host: `evil.example:${port}` });
    assert.equal(evil.status, 421);
    assert.ok(!evil.body.includes('VALUE'), 'no value in the answer');
    assert.equal(server.stats().rejected['oscquery-bad-host'], 1);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `${hostname()}.local:${port}`]) {
      assert.equal((await httpGet(port, '/tempo?VALUE', 'GET', { Host: host })).status, 200, host);
    }
  });

  it('refuses a WebSocket from a web page (Origin) and beyond maxClients', async () => {
    const { port, server } = await start({ config: { maxClients: 1 } });
    await assert.rejects(openSocket(port, { Origin: 'http://evil.example' }), /403/);
    assert.equal(server.stats().rejected['oscquery-bad-origin'], 1);
    const same = await openSocket(port, { Origin: `http://127.0.0.1:${port}` });
    await assert.rejects(openSocket(port), /503/);
    assert.equal(server.stats().rejected['oscquery-too-many-clients'], 1);
    same.close();
  });

  it('closes every connection from an address the OSC allowlist does not admit, as a security event', async () => {
    const { port, server, lines } = await start({ filter: { allows: () => false } });
    await assert.rejects(httpGet(port, '/'));
    await assert.rejects(openSocket(port));
    assert.equal(server.stats().rejected['oscquery-not-allowed'], 2);
    const line = lines.find((l) => l.reason === 'oscquery-not-allowed');
    assert.equal(line?.event, 'oscquery.rejected');
    assert.equal(line?.security, true);
  });
});
