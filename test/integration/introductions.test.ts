import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callDaemon } from '../../daemon/control/client.ts';
import { controlSocketPath } from '../../daemon/home.ts';
import type { PeerView } from '../../daemon/link/manager.ts';
import { startDaemon, type TestDaemon } from '../helpers/daemon.ts';

// Three real daemons on loopback with the embedded defaults (policy pair): A pairs with B, then
// C pairs with B. B introduces C to A and A to C, so A and C link as trusted without a code,
// and `hana trust list` on A says B introduced C.

const DEFAULTS = { policy: 'pair', newPeerRole: 'observer' };

async function call<T>(d: TestDaemon, method: string, params: unknown = {}): Promise<T> {
  const r = await callDaemon(controlSocketPath(d.home), method, params, { timeoutMs: 10_000 });
  if (!r.ok) throw new Error(`${method}: ${r.error.message}`);
  return r.result as T;
}
const peers = async (d: TestDaemon) => (await call<{ peers: PeerView[] }>(d, 'peers')).peers;
const value = async (d: TestDaemon, path: string) =>
  (await call<{ params: { path: string; value: unknown }[] }>(d, 'get', { pattern: path })).params[0]?.value;
const linked = async (d: TestDaemon, id: string) =>
  (await peers(d)).some((p) => p.id === id && p.state === 'linked');

/** Polls by time, never by count alone: busy CI machines are slow. */
async function until(check: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** `hana pair` on the holder and `hana pair <code>` on the joiner, over the control socket. */
async function pair(holder: TestDaemon, joiner: TestDaemon): Promise<void> {
  const { code } = await call<{ code: string }>(holder, 'pair.open', { role: 'performer' });
  const joined = await call<{ ok: boolean }>(joiner, 'pair.join', {
    code,
    peer: { address: '127.0.0.1', port: holder.peerPort },
  });
  assert.equal(joined.ok, true);
  assert.ok(await until(() => linked(holder, joiner.deviceId)));
}

describe('introductions between real daemons', () => {
  it('A–B paired, C pairs with B: A and C link as trusted without a code, introduced by B', async () => {
    const a = await startDaemon({ config: { name: 'ay', peers: DEFAULTS } });
    const b = await startDaemon({
      config: { name: 'bee', peers: { ...DEFAULTS, static: [`127.0.0.1:${a.peerPort}`] } },
    });
    // C dials only B: it learns where A is from B's introduction.
    const c = await startDaemon({
      config: { name: 'sea', peers: { ...DEFAULTS, static: [`127.0.0.1:${b.peerPort}`] } },
    });
    try {
      await pair(a, b);
      await pair(b, c);
      assert.ok(await until(() => linked(a, c.deviceId)), 'A links with C');
      assert.ok(await until(() => linked(c, a.deviceId)), 'C links with A');

      const list = await a.cli('trust', 'list', '--json');
      assert.equal(list.code, 0, list.stderr);
      const pins = (
        JSON.parse(list.stdout) as { peers: { id: string; state: string; introducedBy?: string }[] }
      ).peers;
      const cOnA = pins.find((p) => p.id === c.deviceId);
      assert.equal(cOnA?.state, 'trusted');
      assert.equal(cOnA?.introducedBy, b.deviceId);
      assert.equal(pins.find((p) => p.id === b.deviceId)?.introducedBy, undefined);
      const text = await a.cli('trust', 'list');
      assert.match(text.stdout, /INTRODUCED BY/);
      assert.match(text.stdout, /^sea .* bee \(/m);
      assert.ok(a.logs.some((l) => l.event === 'peer.introduced' && l.security === true));

      // C was introduced as the performer B paired it as: its writes reach A directly.
      await call(c, 'set', { path: '/layer/1/opacity', words: ['0.37'] });
      assert.ok(await until(async () => (await value(a, '/layer/1/opacity')) === 0.37));
    } finally {
      await c.stop();
      await b.stop();
      await a.stop();
    }
  });
});
