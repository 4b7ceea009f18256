import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callDaemon } from '../../daemon/control/client.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import type { PeerView } from '../../daemon/link/manager.ts';
import { shortId } from '../../trust-store/device-id.ts';
import { startDaemon, type TestDaemon } from '../helpers/daemon.ts';

// Two (and three) real daemons on loopback with the embedded trust defaults: strangers link
// but stay pending and change nothing, until `hana pair` and `hana pair <code>` pair them.

const DEFAULTS = { policy: 'pair', newPeerRole: 'observer' };

async function call<T>(d: TestDaemon, method: string, params: unknown = {}): Promise<T> {
  const r = await callDaemon(controlSocketPath(d.home), method, params, { timeoutMs: 10_000 });
  if (!r.ok) throw new Error(`${method}: ${r.error.message}`);
  return r.result as T;
}
const peers = async (d: TestDaemon) => (await call<{ peers: PeerView[] }>(d, 'peers')).peers;
const value = async (d: TestDaemon, path: string) =>
  (await call<{ params: { path: string; value: unknown }[] }>(d, 'get', { pattern: path })).params[0]?.value;

/** Polls by time, never by count alone: busy CI machines are slow. */
async function until(check: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('pairing with embedded defaults', () => {
  it('strangers stay pending and change nothing; a code pairs them, once', async () => {
    const a = await startDaemon({ config: { name: 'ay', peers: DEFAULTS } });
    const b = await startDaemon({
      config: { name: 'bee', peers: { ...DEFAULTS, static: [`127.0.0.1:${a.peerPort}`] } },
    });
    let c: TestDaemon | undefined;
    try {
      assert.ok(
        await until(async () => (await peers(a)).some((p) => p.id === b.deviceId && p.state === 'pending')),
      );
      assert.ok(
        await until(async () => (await peers(b)).some((p) => p.id === a.deviceId && p.state === 'pending')),
      );
      // A stranger's write never reaches the other laptop.
      assert.equal((await b.cli('set', '/layer/1/opacity', '0.31')).code, 0);
      await new Promise((r) => setTimeout(r, 500));
      assert.notEqual(await value(a, '/layer/1/opacity'), 0.31);
      assert.deepEqual(
        (await call<{ peers: unknown[] }>(a, 'trust.list')).peers,
        [],
        'no stranger in peers.json',
      );

      const open = await a.cli('pair', '--role', 'performer', '--expires', '2m', '--json');
      assert.equal(open.code, 0, open.stderr);
      const { code, expires } = JSON.parse(open.stdout) as { code: string; expires: string };
      assert.match(code, /^[a-z]+-[a-z]+-[a-z]+$/);
      assert.ok(Date.parse(expires) > Date.now());
      const join = await b.cli(
        'pair',
        code.toUpperCase().replace(/-/g, ' '),
        '--peer',
        `127.0.0.1:${a.peerPort}`,
      );
      assert.equal(join.code, 0, join.stderr);
      assert.match(join.stdout, /paired with ay .*: linked; it treats this laptop as performer/);
      assert.ok(
        await until(async () => (await peers(a)).some((p) => p.id === b.deviceId && p.state === 'linked')),
      );

      assert.equal((await b.cli('set', '/layer/1/opacity', '0.42')).code, 0);
      assert.ok(
        await until(async () => (await value(a, '/layer/1/opacity')) === 0.42),
        'paired: writes flow',
      );

      // The code worked once: a third laptop cannot reuse it.
      c = await startDaemon({
        config: { name: 'sea', peers: { ...DEFAULTS, static: [`127.0.0.1:${a.peerPort}`] } },
      });
      const reuse = await c.cli('pair', code, '--peer', `127.0.0.1:${a.peerPort}`);
      assert.equal(reuse.code, 1);
      assert.match(
        reuse.stderr,
        /^hana: the other laptop has no open pairing code: run `hana pair` there again\n$/,
      );
      // The operator can still allow it by the short ID `hana peers` shows.
      const allow = await a.cli('trust', 'allow', shortId(c.deviceId), '--role', 'observer');
      assert.equal(allow.code, 0, allow.stderr);
      assert.ok(
        await until(async () => (await peers(a)).some((p) => p.id === c!.deviceId && p.role === 'observer')),
      );
    } finally {
      await c?.stop();
      await b.stop();
      await a.stop();
    }
  });

  it('a wrong code is refused with one sentence, and three burn it on the laptop that showed it', async () => {
    const a = await startDaemon({ config: { name: 'ay', peers: DEFAULTS } });
    const b = await startDaemon({
      config: { name: 'bee', peers: { ...DEFAULTS, static: [`127.0.0.1:${a.peerPort}`] } },
    });
    try {
      const { code } = JSON.parse((await a.cli('pair', '--json')).stdout) as { code: string };
      const wrong = code === 'amber-amber-amber' ? 'delta-delta-delta' : 'amber-amber-amber';
      const peer = ['--peer', `127.0.0.1:${a.peerPort}`];
      const first = await b.cli('pair', wrong, ...peer);
      assert.equal(first.code, 1);
      assert.equal(first.stderr, 'hana: wrong pairing code: check it against the code on the other screen\n');
      await b.cli('pair', wrong, ...peer);
      const third = await b.cli('pair', wrong, ...peer);
      assert.match(third.stderr, /burned after three wrong tries/);
      const right = await b.cli('pair', code, ...peer);
      assert.equal(right.code, 1, 'a burned code stays burned');
      assert.ok(a.logs.some((l) => l.event === 'pair.burned' && l.security === true));
      const typo = await b.cli('pair', 'amber-delta', ...peer);
      assert.equal(typo.code, 1);
      assert.match(typo.stderr, /has 2 words; a pairing code has 3/);
      assert.equal((await a.status()).peers.pairing.state, 'burned');
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
