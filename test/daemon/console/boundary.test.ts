import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { waitFor } from '../../helpers/wait.ts';

// The console's trust boundary, attacked the ways a web page or a local process could: without
// the token, with the token only in a Referer, under a forged Host, from another Origin or none,
// with an oversize frame and with messages of the wrong shape. Each gets its defined answer, a
// counter in `hana status --json` (console.rejected) and a log line, a security event where the
// page itself would never do it.

type Rejected = Record<string, number>;

describe('the console boundary, against a real daemon', () => {
  let d: TestDaemon;
  let url: URL;
  let token: string;
  const rejected = async (): Promise<Rejected> => ((await d.status()).console?.rejected ?? {}) as Rejected;

  before(async () => {
    d = await startDaemon();
    const r = await d.cli('ui', '--json');
    assert.equal(r.code, 0, r.stderr);
    url = new URL((JSON.parse(r.stdout) as { url: string }).url);
    token = url.searchParams.get('token')!;
    assert.match(token, /^[A-Za-z0-9_-]{22}$/);
  });
  after(async () => {
    await d?.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(new URL(path, url.origin), { headers, redirect: 'manual' });

  /** A raw WebSocket handshake; resolves with the HTTP status it was refused with, or 101. */
  const handshake = (path: string, headers: Record<string, string>) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(new URL(path, url.origin.replace('http', 'ws')), { headers });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.close();
      });
      ws.on('error', () => resolve(0));
    });

  const open = async (): Promise<WebSocket> => {
    const ws = new WebSocket(`${url.origin.replace('http', 'ws')}/ws?token=${token}`, { origin: url.origin });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return ws;
  };
  const answer = (ws: WebSocket, text: string | Buffer) =>
    new Promise<{ id: number | null; ok: boolean; error?: { code: string } }>((resolve) => {
      const onMessage = (data: WebSocket.RawData) => {
        const m = JSON.parse(data.toString()) as { type?: string };
        if (m.type) return; // a pushed change, not the answer
        ws.off('message', onMessage);
        resolve(m as never);
      };
      ws.on('message', onMessage);
      ws.send(text);
    });

  it('serves the page with the token, and refuses it without one (403, console-bad-token)', async () => {
    const ok = await get(`/?token=${token}`);
    assert.equal(ok.status, 200);
    const csp = ok.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(ok.headers.get('referrer-policy'), 'no-referrer');
    assert.equal((await get('/')).status, 403);
    assert.equal((await get('/?token=AAAAAAAAAAAAAAAAAAAAAA')).status, 403);
    assert.equal((await rejected())['console-bad-token'], 2);
  });

  it('takes no token from a Referer (403, console-referer-token, a security event)', async () => {
    const r = await get('/', { Referer: `${url.origin}/?token=${token}` });
    assert.equal(r.status, 403);
    assert.equal((await rejected())['console-referer-token'], 1);
    assert.equal(
      await handshake('/ws', { Origin: url.origin, Referer: `${url.origin}/?token=${token}` }),
      403,
      'nor for the WebSocket',
    );
    assert.equal((await rejected())['console-referer-token'], 2);
    assert.ok(
      d.logs.some(
        (l) => l.event === 'console.rejected' && l.reason === 'console-referer-token' && l.security === true,
      ),
    );
  });

  it('refuses a forged Host before anything else (421, console-bad-host)', async () => {
    // fetch() will not send a Host of our choosing; a DNS-rebinding page's browser does.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${url.origin}/?token=${token}`,
        { headers: { Host: `evil.example:${url.port}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 421);
    assert.equal(
      await handshake(`/ws?token=${token}`, {
        Host: `evil.example:${url.port}`,
        Origin: 'http://evil.example',
      }),
      421,
    );
    assert.equal((await rejected())['console-bad-host'], 2);
  });

  it('refuses a WebSocket from another Origin or none (403, console-bad-origin)', async () => {
    assert.equal(await handshake(`/ws?token=${token}`, { Origin: 'http://evil.example' }), 403);
    assert.equal(await handshake(`/ws?token=${token}`, {}), 403);
    assert.equal((await rejected())['console-bad-origin'], 2);
    assert.equal(
      await handshake(`/ws?token=${token}`, { Origin: url.origin }),
      101,
      'its own Origin is let in',
    );
  });

  it('refuses other methods (405, console-bad-method)', async () => {
    const r = await fetch(`${url.origin}/?token=${token}`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 405);
    assert.equal((await rejected())['console-bad-method'], 1);
  });

  it('answers messages of the wrong shape with bad-message, unknown methods with unknown-method', async () => {
    const ws = await open();
    try {
      const cases: Array<[string | Buffer, string]> = [
        ['not json', 'bad-message'],
        ['{"id":"x","method":"status"}', 'bad-message'],
        ['{"id":1,"method":"status","extra":true}', 'bad-message'],
        ['[1,2,3]', 'bad-message'],
        [Buffer.from([1, 2, 3]), 'bad-message'],
        ['{"id":2,"method":"trust.rotate"}', 'unknown-method'],
        ['{"id":3,"method":"__proto__"}', 'unknown-method'],
        ['{"id":4,"method":"set","params":{"path":5}}', 'bad-params'],
      ];
      for (const [text, code] of cases) {
        const a = await answer(ws, text);
        assert.equal(a.ok, false, String(text));
        assert.equal(a.error?.code, code, String(text));
      }
      const good = await answer(ws, '{"id":5,"method":"get","params":{"pattern":"/layer/1/opacity"}}');
      assert.equal(good.ok, true, 'the socket still answers after refusals');
      const r = await rejected();
      assert.equal(r['console-bad-message'], 6);
      assert.equal(r['console-unknown-method'], 2);
    } finally {
      ws.close();
    }
  });

  it('closes the socket on a frame over 64 KiB (1009, console-oversize)', async () => {
    const ws = await open();
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('x'.repeat(64 * 1024 + 1));
    assert.equal(await closed, 1009);
    assert.ok(await waitFor(async () => (await rejected())['console-oversize'] === 1, 10_000));
    const s = await d.status();
    assert.ok(s.console!.rejectedTotal >= 15);
  });

  it('writes through the validated path as writer ui, and pushes changes from anywhere', async () => {
    const ws = await open();
    try {
      const pushed: Array<{ path: string; value: unknown; source: string }> = [];
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString()) as { type?: string; changes?: typeof pushed };
        if (m.type === 'changes') pushed.push(...m.changes!);
      });
      const set = await answer(
        ws,
        '{"id":1,"method":"set","params":{"path":"/layer/1/opacity","words":["-3"]}}',
      );
      assert.equal(set.ok, true);
      assert.equal(
        (await d.values('/layer/1/opacity'))['/layer/1/opacity'],
        0,
        'clamped to the range like OSC',
      );
      const wrong = await answer(
        ws,
        '{"id":2,"method":"set","params":{"path":"/layer/1/opacity","words":["x"]}}',
      );
      assert.equal(wrong.error?.code, 'wrong-type');
      assert.equal((await d.cli('set', '/layer/1/opacity', '0.25')).code, 0);
      assert.ok(
        await waitFor(() =>
          pushed.some((c) => c.path === '/layer/1/opacity' && c.value === 0.25 && c.source === 'cli'),
        ),
        'a CLI write is pushed to the page',
      );
      const audit = (await d.cli('audit', '--writer', 'ui', '--json')).stdout;
      assert.match(audit, /\/layer\/1\/opacity/, 'the console write is audited as ui');
    } finally {
      ws.close();
    }
  });

  // Last: it replaces the token every other test here uses.
  it('hana ui --new-token revokes a seen token: open pages are closed (4001) and the old address is refused', async () => {
    const ws = await open();
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const r = await d.cli('ui', '--new-token', '--json');
    assert.equal(r.code, 0, r.stderr);
    const fresh = new URL((JSON.parse(r.stdout) as { url: string }).url);
    const newToken = fresh.searchParams.get('token')!;
    assert.notEqual(newToken, token);
    assert.equal(await closed, 4001, 'the open page is told its token was replaced');
    assert.equal((await get(`/?token=${token}`)).status, 403, 'the old address is dead');
    assert.equal((await get(`/?token=${newToken}`)).status, 200);
    assert.equal(
      await handshake(`/ws?token=${token}`, { Origin: url.origin }),
      403,
      'and so is its WebSocket',
    );
    assert.equal(
      JSON.parse((await d.cli('ui', '--json')).stdout).url,
      fresh.href,
      'hana ui prints the new one',
    );
    assert.ok(d.logs.some((l) => l.event === 'console.token-rotated' && l.security === true));
    token = newToken;
  });
});
